/**
 * Child process: RSS per reload while `callers` lanes call a no-op tool continuously.
 *
 * Args: one JSON object (LoadVariant). Prints JSON lines: {kind:'start'} before warm-up,
 * {kind:'sample'} at 0 and every `every` reloads (callers paused and drained, gc settled),
 * and {kind:'done'}. Every loop is bounded by a count and by `capMs`.
 *
 * mode 'molt': host.reload alternating two artifacts (like mem-molt.ts).
 * mode 'bare': the same caller load on a molt host, but each "reload" is a bare
 *   `new Worker` + terminate() instead: is per-cycle growth molt's or Node's?
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { createHost } from '../src/index.js';
import { defaultSandboxFactory } from '../src/sandbox/pool.js';
import { cleanup, scratchDir, writeArtifact } from './artifacts.js';
import { emit } from './child.js';
import { settleGc, sleep } from './stats.js';

export interface LoadVariant {
  /** 'none': no reload at all, each op is a sleep of `gapMs` (default 100): the load alone. */
  mode?: 'molt' | 'bare' | 'none';
  callers?: number;
  reloads?: number;
  every?: number;
  warmup?: number;
  capMs?: number;
  standby?: number;
  probationMs?: number;
  /** Bare mode: Worker options as molt uses them (stdout/stderr true, execArgv []). */
  bareMoltOptions?: boolean;
  /** Pause between reloads (ms), e.g. to let the caller load dominate. */
  gapMs?: number;
  /** Sandboxes' young generation cap (resourceLimits.maxYoungGenerationSizeMb). */
  youngMb?: number;
  /** v8.setFlagsFromString at start-up, e.g. '--semi-space-growth-factor=1'. */
  v8Flags?: string;
  /** After the last sample: stop the callers, then sample every 2 s (no forced gc) this long. */
  cooldownMs?: number;
  /** Hard cap on calls made, across the whole run. */
  maxCalls?: number;
}

const v = JSON.parse(process.argv[2] ?? '{}') as LoadVariant;
const mode = v.mode ?? 'molt';
const CALLERS = v.callers ?? 64;
const RELOADS = v.reloads ?? 2000;
const EVERY = v.every ?? 250;
const WARMUP = v.warmup ?? 100;
const CAP_MS = v.capMs ?? 200_000;
const MAX_CALLS = v.maxCalls ?? 200_000_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

// --- sandbox accounting: how many sandboxes are still reachable -------------------
let sandboxesMade = 0;
let sandboxesCollected = 0;
const registry = new FinalizationRegistry<number>(() => {
  sandboxesCollected++;
});

function procKB(file: string, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Anonymous memory by kind, from /proc/self/smaps: glibc's non-main malloc arenas (heaps
 * reserved 64 MB-aligned, HEAP_MAX_SIZE), the main arena ([heap], brk), and everything else
 * anonymous (V8 pages of every isolate, thread stacks, mmap'd large chunks).
 */
function anonByKind(): {
  arenaCount: number;
  arenaRss: number;
  brkRss: number;
  otherAnonRss: number;
} {
  const out = { arenaCount: 0, arenaRss: 0, brkRss: 0, otherAnonRss: 0 };
  try {
    const text = readFileSync('/proc/self/smaps', 'utf8');
    for (const b of text.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
      const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)[ \t]*(.*)$/m.exec(b);
      if (!head) continue;
      const path = (head[5] ?? '').trim();
      const rssM = /^Rss:\s+(\d+) kB/m.exec(b);
      const rss = rssM ? Number(rssM[1]) : 0;
      if (path === '[heap]') out.brkRss += rss;
      else if (path !== '') continue;
      else if (head[3] === 'rw-p' && parseInt(head[1]!, 16) % (64 * 1024 * 1024) === 0) {
        out.arenaCount++;
        out.arenaRss += rss;
      } else out.otherAnonRss += rss;
    }
  } catch {
    // not Linux
  }
  return out;
}

function sample(kind: string, n: number, t0: number, extra: Record<string, unknown> = {}): void {
  const m = process.memoryUsage();
  const spaces: Record<string, [number, number]> = {};
  for (const s of v8.getHeapSpaceStatistics()) {
    spaces[s.space_name.replace('_space', '')] = [
      Math.round(s.space_size / 1024),
      Math.round(s.space_used_size / 1024),
    ];
  }
  const anonKinds = anonByKind();
  emit({
    kind,
    n,
    rss: Math.round(m.rss / 1024),
    heap: Math.round(m.heapUsed / 1024),
    heapTotal: Math.round(m.heapTotal / 1024),
    external: Math.round(m.external / 1024),
    arrayBuffers: Math.round(m.arrayBuffers / 1024),
    anon: procKB('/proc/self/smaps_rollup', 'Anonymous'),
    rssAnon: procKB('/proc/self/status', 'RssAnon'),
    rssFile: procKB('/proc/self/status', 'RssFile'),
    ...anonKinds,
    spaces,
    sandboxesAlive: sandboxesMade - sandboxesCollected,
    ms: Math.round(performance.now() - t0),
    ...extra,
  });
}

// --- the caller load: `CALLERS` lanes, pausable so samples are taken with nothing in flight ---
let paused = false;
let stopped = false;
let resume: (() => void) | undefined;
let resumed: Promise<void> = Promise.resolve();
let inFlight = 0;
let calls = 0;
let callErrors = 0;
let firstError: string | undefined;
let drainedWaiter: (() => void) | undefined;

function pause(): Promise<void> {
  paused = true;
  resumed = new Promise((r) => {
    resume = r;
  });
  if (inFlight === 0) return Promise.resolve();
  return new Promise((r) => {
    drainedWaiter = r;
  });
}
function unpause(): void {
  paused = false;
  resume?.();
}

if (v.v8Flags) v8.setFlagsFromString(v.v8Flags);
const host = await createHost({
  probationMs: v.probationMs ?? 0,
  standby: v.standby ?? 1,
  sandboxFactory: (spec, hooks) => {
    const sb = defaultSandboxFactory(
      v.youngMb === undefined
        ? spec
        : {
            ...spec,
            resourceLimits: { ...spec.resourceLimits, maxYoungGenerationSizeMb: v.youngMb },
          },
      hooks,
    );
    sandboxesMade++;
    registry.register(sb, 0);
    return sb;
  },
});

async function lane(deadline: number): Promise<void> {
  while (!stopped && calls < MAX_CALLS && performance.now() < deadline) {
    if (paused) {
      await resumed;
      continue;
    }
    inFlight++;
    calls++;
    try {
      await host.call('mem', 'noop');
    } catch (err) {
      callErrors++;
      firstError ??= err instanceof Error ? err.message : String(err);
    }
    if (--inFlight === 0 && paused && drainedWaiter !== undefined) {
      const w = drainedWaiter;
      drainedWaiter = undefined;
      w();
    }
  }
}

/** The bench plugin plus a `heap` tool: the sandbox's own V8 heap spaces (KB committed). */
function pluginSource(tag: string): string {
  return `import v8 from 'node:v8';
export default {
  tools: {
    noop: { handler: () => 1 },
    version: { handler: () => ${JSON.stringify(tag)} },
    heap: {
      handler: () => {
        const out = {};
        for (const s of v8.getHeapSpaceStatistics())
          out[s.space_name.replace('_space', '')] = Math.round(s.space_size / 1024);
        out.total = Math.round(v8.getHeapStatistics().total_heap_size / 1024);
        return out;
      },
    },
  },
};
`;
}

// --- the bare-worker cycle -------------------------------------------------------------------
const SOURCE = `import { parentPort } from 'node:worker_threads';
parentPort.postMessage('ready');
parentPort.on('message', () => {});
`;
let bareEntry: URL | undefined;
const bareOptions: WorkerOptions = v.bareMoltOptions
  ? { stdout: true, stderr: true, execArgv: [] }
  : {};
async function bareCycle(): Promise<void> {
  const w = new Worker(bareEntry!, bareOptions);
  if (v.bareMoltOptions) {
    w.stdout.resume();
    w.stderr.resume();
  }
  await new Promise((r) => w.once('message', r));
  const exited = new Promise((r) => w.once('exit', r));
  void w.terminate();
  await exited;
}

let done = 0;
let reloadErrors = 0;
const started = performance.now();
const hardDeadline = started + CAP_MS;
try {
  const a = await writeArtifact('mem', '1.0.0', pluginSource('v1'));
  const b = await writeArtifact('mem', '1.0.1', pluginSource('v2'));
  if (mode === 'bare') {
    const dir = await scratchDir('bare');
    bareEntry = pathToFileURL(join(dir, 'entry.mjs'));
    await writeFile(bareEntry, SOURCE);
  }
  await host.load(a);
  await settleGc();
  sample('start', 0, started);
  const lanes = Array.from({ length: CALLERS }, () => lane(hardDeadline));
  const op = async (i: number): Promise<void> => {
    if (mode === 'none') await sleep(v.gapMs ?? 100);
    else if (mode === 'bare') await bareCycle();
    else await host.reload('mem', i % 2 === 0 ? b : a);
  };
  for (let i = 0; i < WARMUP && performance.now() < hardDeadline; i++) await op(i);
  const t0 = performance.now();
  let callsAtLast = calls;
  let tLast = t0;
  const take = async (n: number): Promise<void> => {
    const callsNow = calls;
    const tNow = performance.now();
    // As a user would see it: callers running, no forced gc.
    const workerHeapLive = await host.call('mem', 'heap').catch(() => undefined);
    sample('live', n, t0, { worker: workerHeapLive });
    await pause();
    await sleep(150); // the last retired generation's worker finishes ending
    await settleGc();
    const workerHeap = await host.call('mem', 'heap').catch(() => undefined);
    sample('sample', n, t0, {
      worker: workerHeap,
      calls: callsNow - callsAtLast,
      callsPerSec: Math.round(((callsNow - callsAtLast) / (tNow - tLast)) * 1000),
    });
    callsAtLast = calls;
    tLast = performance.now();
    unpause();
  };
  await take(0);
  while (done < RELOADS && performance.now() < hardDeadline) {
    try {
      await op(done);
    } catch {
      reloadErrors++;
    }
    done++;
    if (v.gapMs && mode !== 'none') await sleep(v.gapMs);
    if (done % EVERY === 0 || done === RELOADS) await take(done);
  }
  if (done % EVERY !== 0 && done !== RELOADS) await take(done);
  stopped = true;
  unpause();
  await Promise.all(lanes);
  // Is the load's ramp given back once the load stops? (V8's memory reducer shrinks new space.)
  const tc = performance.now();
  for (let t = 2000; t <= (v.cooldownMs ?? 0); t += 2000) {
    await sleep(Math.max(0, tc + t - performance.now()));
    sample('cool', t, tc);
  }
} finally {
  stopped = true;
  unpause();
  await host.close();
  await cleanup();
}
emit({
  kind: 'done',
  done,
  reloadErrors,
  calls,
  callErrors,
  firstError,
  sandboxesMade,
  ms: Math.round(performance.now() - started),
});
