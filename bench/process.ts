/**
 * (e) The process sandbox beside the worker sandbox, in one run: a no-op call (1 and 64 in
 * flight) next to the raw round trips of each transport, a reload with and without a warm
 * standby, and idle memory per sandbox next to a bare child process and a bare Worker.
 */
import { createHost } from '../src/index.js';
import { pluginPair } from './artifacts.js';
import { type Measured, measure } from './calls.js';
import { runChild } from './child.js';
import type { IdleSpec } from './mem-idle.js';
import { hasProc, type ProcMemory } from './proc-tree.js';
import { RawProcessEcho } from './raw-process.js';
import { RawEcho } from './raw-worker.js';
import { type ReloadRun, runReloads, GAP_MS as WORKER_GAP_MS } from './reload.js';
import { check, heading, note, num, ratio, table } from './report.js';

const env = process.env;
const RELOADS = Number(env.MOLT_BENCH_PROCESS_RELOADS ?? 100);
/**
 * Quiet time before each paced reload with standby: a process standby is spawned once the new
 * generation has loaded, and Node needs ~40–80 ms of CPU to boot it, more on a busy machine.
 */
const GAP_MS = Number(env.MOLT_BENCH_PROCESS_GAP_MS ?? 250);
const COLD_GAP_MS = 20;
/**
 * Five subjects, two of them in other processes: more, shorter rounds than (a), every other one
 * in reverse order, so a neighbour's burst of CPU on a shared machine spreads over all of them.
 */
const ROUNDS = { rounds: 12, windowMs: 200, alternate: true };
const IDLE_COUNT = 8;
const IDLE_MS = 1_500;

export interface ProcessCalls {
  processHost: Measured;
  rawFramed: Measured;
  rawIpc: Measured;
  workerHost: Measured;
  rawWorker: Measured;
  overheadP50Us: number;
  overheadP99Us: number;
}

export interface IdleRun {
  spec: IdleSpec;
  /** Host-side RSS growth per sandbox (KB). */
  hostPerSandboxKB: number;
  /** Sandboxes' own processes, averaged (KB); NaN for workers or without /proc. */
  ownRssKB: number;
  ownPssKB: number;
  ownAnonKB: number;
  processes: number;
  error: string | undefined;
}

export interface ProcessResult {
  calls: ProcessCalls;
  reload: { warm: ReloadRun; cold: ReloadRun; worker: ReloadRun };
  idle: Record<IdleSpec['kind'] | 'process-standby', IdleRun>;
}

async function benchCalls(): Promise<ProcessCalls> {
  const rawWorker = new RawEcho();
  const rawFramed = new RawProcessEcho('framed');
  const rawIpc = new RawProcessEcho('ipc');
  const workerHost = await createHost({ standby: 0 });
  const processHost = await createHost({ standby: 0, isolation: 'process' });
  const [wDir] = await pluginPair('wcalls');
  const [pDir] = await pluginPair('pcalls');
  try {
    await Promise.all([rawWorker.ready, rawFramed.ready, rawIpc.ready]);
    await workerHost.load(wDir);
    await processHost.load(pDir);
    const [p, f, i, w, r] = (await measure(
      [
        () => processHost.call('pcalls', 'noop'),
        () => rawFramed.call(),
        () => rawIpc.call(),
        () => workerHost.call('wcalls', 'noop'),
        () => rawWorker.call(),
      ],
      ROUNDS,
    )) as [Measured, Measured, Measured, Measured, Measured];
    return {
      processHost: p,
      rawFramed: f,
      rawIpc: i,
      workerHost: w,
      rawWorker: r,
      overheadP50Us: p.one.latency.p50 - f.one.latency.p50,
      overheadP99Us: p.one.latency.p99 - f.one.latency.p99,
    };
  } finally {
    await Promise.all([
      rawWorker.close(),
      rawFramed.close(),
      rawIpc.close(),
      workerHost.close(),
      processHost.close(),
    ]);
  }
}

async function idle(spec: IdleSpec): Promise<IdleRun> {
  const r = await runChild({
    script: 'mem-idle.js',
    args: [JSON.stringify(spec)],
    execArgv: ['--expose-gc'],
    timeoutMs: 60_000,
  });
  const line = r.extra.find((x) => x.kind === 'idle') as
    | { hostRssBefore: number; hostRssAfter: number; processes: ProcMemory[] }
    | undefined;
  if (line === undefined) {
    const why = r.timedOut ? 'timed out' : `exit ${r.exitCode ?? r.signal}`;
    return {
      spec,
      hostPerSandboxKB: Number.NaN,
      ownRssKB: Number.NaN,
      ownPssKB: Number.NaN,
      ownAnonKB: Number.NaN,
      processes: 0,
      error: `${why}: ${r.stderrTail.slice(-300)}`,
    };
  }
  const kids = line.processes;
  const mean = (pick: (m: ProcMemory) => number): number =>
    kids.length === 0 ? Number.NaN : kids.reduce((s, m) => s + pick(m), 0) / kids.length;
  return {
    spec,
    hostPerSandboxKB: (line.hostRssAfter - line.hostRssBefore) / spec.count,
    ownRssKB: mean((m) => m.rss),
    ownPssKB: mean((m) => m.pss),
    ownAnonKB: mean((m) => m.anon),
    processes: kids.length,
    error: undefined,
  };
}

export async function benchProcess(): Promise<ProcessResult> {
  heading('(e) process sandbox vs worker sandbox, each beside its raw round trip');
  const calls = await benchCalls();
  const { processHost: p, rawFramed: f, rawIpc: i, workerHost: w, rawWorker: r } = calls;
  const row = (label: string, pick: (m: Measured) => number, digits = 2): string[] => [
    label,
    num(pick(p), digits),
    num(pick(f), digits),
    ratio(pick(p), pick(f)),
    num(pick(i), digits),
    num(pick(w), digits),
    num(pick(r), digits),
    ratio(pick(w), pick(r)),
    ratio(pick(p), pick(w)),
  ];
  table(
    [
      'metric',
      'process host',
      'raw framed',
      'proc/raw',
      'raw IPC adv.',
      'worker host',
      'raw worker',
      'worker/raw',
      'proc/worker',
    ],
    [
      row('latency p50, 1 in flight (µs)', (m) => m.one.latency.p50),
      row('latency p99, 1 in flight (µs)', (m) => m.one.latency.p99),
      row('calls/s, 1 in flight', (m) => m.one.callsPerSec, 0),
      row('calls/s, 64 in flight', (m) => m.many.callsPerSec, 0),
      row('latency p50, 64 in flight (µs)', (m) => m.many.latency.p50),
      row('latency p99, 64 in flight (µs)', (m) => m.many.latency.p99),
      row('main-thread busy µs/call, 64 in flight', (m) => m.many.mainBusyUs),
    ],
  );
  note(
    'raw framed: a bare child answering over an fd-3 pipe with molt framing (frames.ts), one frame per call; raw IPC adv.: the same over Node IPC, serialization "advanced"',
  );
  note(`samples: ${p.one.calls} process-host calls at 1 in flight, ${p.many.calls} at 64`);

  heading(`(e) process sandbox reload, ${RELOADS} reloads of a small plugin, probationMs: 0`);
  const warm = await runReloads(1, GAP_MS, RELOADS, 'process');
  const cold = await runReloads(0, COLD_GAP_MS, RELOADS, 'process');
  const worker = await runReloads(1, WORKER_GAP_MS, RELOADS, 'worker');
  const cols = (x: ReloadRun): string[] => [
    num(x.latencyMs.p50, 2),
    num(x.latencyMs.p99, 2),
    num(x.latencyMs.max, 2),
    String(x.reloads),
    String(x.errors + x.wrongVersion),
    `${num(x.loopDelayMs.p99, 1)} / ${num(x.loopDelayMs.max, 1)}`,
  ];
  table(
    ['configuration', 'p50 ms', 'p99 ms', 'max ms', 'n', 'errors', 'loop delay p99/max ms'],
    [
      [`process, standby: 1, ${GAP_MS} ms apart`, ...cols(warm)],
      [`process, standby: 0 (baseline), ${COLD_GAP_MS} ms apart`, ...cols(cold)],
      [`worker, standby: 1, ${WORKER_GAP_MS} ms apart`, ...cols(worker)],
      [
        'process standby 1 / standby 0',
        ratio(warm.latencyMs.p50, cold.latencyMs.p50),
        ratio(warm.latencyMs.p99, cold.latencyMs.p99),
        '',
        '',
        '',
        '',
      ],
      [
        'process / worker, standby 1',
        ratio(warm.latencyMs.p50, worker.latencyMs.p50),
        ratio(warm.latencyMs.p99, worker.latencyMs.p99),
        '',
        '',
        '',
        '',
      ],
    ],
  );
  const stepKeys = ['validate', 'start', 'load', 'init', 'swap', 'total'];
  const steps = (x: ReloadRun, label: string): string =>
    `${label}: ${stepKeys.map((k) => `${k} ${num(x.steps[k], 2)}`).join(', ')}`;
  note(
    `step p50s (ms): ${steps(warm, 'process s1')} | ${steps(cold, 'process s0')} | ${steps(worker, 'worker s1')}`,
  );
  note(
    "\"total\" is the host's own reload time; what the steps leave of it runs between them. Loop delay: the host's event-loop delay over the reloads, what any call on the host waits behind a reload's synchronous work",
  );

  heading(`(e) idle memory per sandbox: ${IDLE_COUNT} sandboxes after a warm-up one`);
  const base = { count: IDLE_COUNT, idleMs: IDLE_MS };
  const [ps, bp, ws, bw, pd] = await Promise.all([
    idle({ kind: 'process', ...base }),
    idle({ kind: 'bare-process', ...base }),
    idle({ kind: 'worker', ...base }),
    idle({ kind: 'bare-worker', ...base }),
    idle({ kind: 'process', standby: 1, ...base }),
  ]);
  const kb = (x: number): string => (Number.isFinite(x) ? `${num(x / 1024, 1)} MB` : '-');
  // A ratio of two growths within the host's own RSS noise (either at or below 0) means nothing.
  const growth = (a: number, b: number): string => (a > 0 && b > 0 ? ratio(a, b) : '-');
  const cells = (pick: (x: IdleRun) => number, format = kb): string[] => [
    format(pick(ps)),
    format(pick(bp)),
    growth(pick(ps), pick(bp)),
    format(pick(ws)),
    format(pick(bw)),
    growth(pick(ws), pick(bw)),
  ];
  const total = (x: IdleRun): number =>
    x.hostPerSandboxKB + (Number.isFinite(x.ownRssKB) ? x.ownRssKB : 0);
  table(
    ['metric', 'process', 'bare child', 'proc/bare', 'worker', 'bare Worker', 'worker/bare'],
    [
      ["sandbox's own process: VmRSS", ...cells((x) => x.ownRssKB)],
      ["sandbox's own process: Pss (shared pages split)", ...cells((x) => x.ownPssKB)],
      ["sandbox's own process: RssAnon (private)", ...cells((x) => x.ownAnonKB)],
      ['host RSS growth per sandbox', ...cells((x) => x.hostPerSandboxKB)],
      ['RSS per sandbox: host growth + own VmRSS', ...cells(total)],
    ],
  );
  if (Math.abs(ps.hostPerSandboxKB) < 1024)
    note(
      "a process sandbox's host-side growth is within the host's own RSS noise (GC, allocator): its pipes, buffers and channel cost under 1 MB",
    );
  const perPlugin = pd.processes / (IDLE_COUNT + 1);
  note(
    `at the defaults (standby: 1) a process plugin keeps ${num(perPlugin, 1)} processes (its own and its standby): ${kb(perPlugin * pd.ownRssKB)} VmRSS, ${kb(perPlugin * pd.ownPssKB)} Pss per plugin`,
  );
  note(
    hasProc()
      ? 'own-process figures: every descendant of a bench child whose host runs nothing else, from /proc/<pid>/status and smaps_rollup; a worker has no process of its own'
      : 'no /proc here: a process sandbox is measured by the host side only',
  );
  for (const x of [ps, bp, ws, bw, pd])
    if (x.error !== undefined) note(`${x.spec.kind} idle run failed: ${x.error}`);

  console.log();
  const ok = warm.errors + warm.wrongVersion === 0;
  table(
    ['target', 'value', 'goal', 'verdict'],
    [
      [
        'process overhead p50 (host - raw framed), 1 in flight',
        `${num(calls.overheadP50Us, 2)} µs`,
        '<= 50 µs',
        check(
          'process call overhead p50 <= 50 µs',
          `${num(calls.overheadP50Us, 2)} µs`,
          calls.overheadP50Us <= 50,
        ),
      ],
      [
        'process host calls/s, 64 in flight',
        num(p.many.callsPerSec, 0),
        '>= 100,000',
        check(
          'process calls/s at 64 in flight >= 100k',
          num(p.many.callsPerSec, 0),
          p.many.callsPerSec >= 100_000,
        ),
      ],
      [
        'process reload p50 (standby 1, paced)',
        `${num(warm.latencyMs.p50, 2)} ms`,
        '<= 30 ms',
        check(
          'process reload p50 <= 30 ms',
          `${num(warm.latencyMs.p50, 2)} ms`,
          ok && warm.latencyMs.p50 <= 30,
        ),
      ],
    ],
  );
  note(`process overhead p99 (host - raw framed): ${num(calls.overheadP99Us, 2)} µs (no target)`);
  return {
    calls,
    reload: { warm, cold, worker },
    idle: {
      process: ps,
      'bare-process': bp,
      worker: ws,
      'bare-worker': bw,
      'process-standby': pd,
    },
  };
}
