/**
 * Child process: the raw drift baseline. Creates a plain `new Worker` (an ES module that says
 * 'ready'), waits for it, ends it, N times; prints RSS every `every` cycles.
 * Args: N every capMs [variant JSON], variant = WorkerVariant.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SHARE_ENV, Worker, type WorkerOptions } from 'node:worker_threads';
import { cleanup, scratchDir } from './artifacts.js';
import { emit, emitSample, WARMUP_OPS } from './child.js';
import { settleGc, sleep } from './stats.js';

export interface WorkerVariant {
  stdio?: boolean;
  resourceLimits?: boolean;
  execArgvEmpty?: boolean;
  /** 'share' = SHARE_ENV, 'copy' = an explicit copy of process.env. */
  env?: 'share' | 'copy';
  /** End by process.exit() inside the worker instead of worker.terminate(). */
  selfExit?: boolean;
}

const SOURCE = `import { parentPort } from 'node:worker_threads';
parentPort.on('message', (m) => { if (m === 'exit') process.exit(0); });
parentPort.postMessage('ready');
`;

const [total = 2000, every = 100, capMs = 120_000] = process.argv.slice(2, 5).map(Number);
const variant = JSON.parse(process.argv[5] ?? '{}') as WorkerVariant;

const options: WorkerOptions = {};
if (variant.stdio) Object.assign(options, { stdout: true, stderr: true });
if (variant.resourceLimits) options.resourceLimits = { maxOldGenerationSizeMb: 64 };
if (variant.execArgvEmpty) options.execArgv = [];
if (variant.env === 'share') options.env = SHARE_ENV;
if (variant.env === 'copy') options.env = { ...process.env };

const dir = await scratchDir('worker');
const entry = pathToFileURL(join(dir, 'entry.mjs'));
await writeFile(entry, SOURCE);

async function cycle(): Promise<void> {
  const w = new Worker(entry, options);
  if (variant.stdio) {
    w.stdout.resume();
    w.stderr.resume();
  }
  await new Promise((resolve) => w.once('message', resolve));
  const exited = new Promise((resolve) => w.once('exit', resolve));
  if (variant.selfExit) w.postMessage('exit');
  else void w.terminate();
  await exited;
}

let done = 0;
try {
  await settleGc();
  emitSample(0, performance.now(), 'start');
  for (let i = 0; i < WARMUP_OPS; i++) await cycle();
  const t0 = performance.now();
  const sample = async (n: number): Promise<void> => {
    await sleep(50);
    await settleGc();
    emitSample(n, t0);
  };
  await sample(0);
  const deadline = t0 + capMs;
  while (done < total && performance.now() < deadline) {
    await cycle();
    done++;
    if (done % every === 0) await sample(done);
  }
  if (done % every !== 0) await sample(done);
} finally {
  await cleanup();
}
emit({ kind: 'done', done });
