/**
 * Child process: idle memory per sandbox. Starts `count` sandboxes, lets them idle, then prints
 * one {kind:'idle'} line: this process's RSS before and after (the host's side of the cost) and
 * each descendant process's memory from /proc (a process sandbox's own cost). Arg: JSON IdleSpec.
 *
 * Before the zero point one sandbox of the kind is started and kept (the warm-up), so one-time
 * costs (the first worker's code pages, the host's own modules) stay out of the per-sandbox
 * figure.
 */
import { Worker } from 'node:worker_threads';
import { createHost } from '../src/index.js';
import { cleanup, pluginPair } from './artifacts.js';
import { emit } from './child.js';
import { descendants, memoryOf } from './proc-tree.js';
import { RawProcessEcho } from './raw-process.js';
import { settleGc, sleep } from './stats.js';

export interface IdleSpec {
  /** molt sandboxes of that isolation, or bare baselines: a Worker, a child with molt's framing. */
  kind: 'worker' | 'process' | 'bare-worker' | 'bare-process';
  count: number;
  /** molt only: the host's standby option. */
  standby?: number;
  /** How long the sandboxes idle before they are measured. */
  idleMs: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as IdleSpec;
const closers: (() => Promise<unknown>)[] = [];

const rssKB = async (): Promise<number> => {
  await settleGc();
  return Math.round(process.memoryUsage().rss / 1024);
};

async function startMolt(): Promise<(i: number) => Promise<void>> {
  const isolation = spec.kind === 'process' ? 'process' : 'worker';
  const host = await createHost({ isolation, standby: spec.standby ?? 0, probationMs: 0 });
  closers.push(() => host.close());
  return async (i) => {
    const [dir] = await pluginPair(`idle${i}`);
    await host.load(dir);
    await host.call(`idle${i}`, 'noop');
  };
}

const BARE_WORKER = `const { parentPort } = require('node:worker_threads');
parentPort.on('message', () => {});
parentPort.postMessage('ready');`;

async function startOne(): Promise<(i: number) => Promise<void>> {
  if (spec.kind === 'worker' || spec.kind === 'process') return startMolt();
  if (spec.kind === 'bare-worker') {
    return async () => {
      const w = new Worker(BARE_WORKER, { eval: true });
      await new Promise((resolve) => w.once('message', resolve));
      closers.push(() => w.terminate());
    };
  }
  return async () => {
    const echo = new RawProcessEcho('framed');
    closers.push(() => echo.close());
    await echo.ready;
    await echo.call();
  };
}

try {
  const start = await startOne();
  await start(0); // the warm-up sandbox
  await sleep(spec.idleMs);
  const before = await rssKB();
  const kidsBefore = descendants().length;
  for (let i = 1; i <= spec.count; i++) await start(i);
  await sleep(spec.idleMs);
  const after = await rssKB();
  const kids = descendants()
    .map((pid) => memoryOf(pid))
    .filter((m) => m !== undefined);
  emit({
    kind: 'idle',
    spec,
    hostRssBefore: before,
    hostRssAfter: after,
    processesBefore: kidsBefore,
    processes: kids,
  });
} finally {
  await Promise.all(closers.map((c) => c()));
  await cleanup();
}
process.exit(0);
