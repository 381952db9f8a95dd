/**
 * (f) State checkpoints: what they cost a stateful plugin's calls/s (64 in flight, checkpoints
 * every 5 s and every 500 ms beside checkpoints off, interleaved rounds, with a data folder so
 * the atomic disk write is included), and how long one checkpoint of a 1 MB and a 10 MB state
 * takes, kept in memory only and written to disk.
 */
import { createHost, type Host } from '../src/index.js';
import type { Clock, Timer } from '../src/util/clock.js';
import { scratchDir, writeArtifact } from './artifacts.js';
import { drive, Tally } from './drive.js';
import { heading, note, num, ratio, table } from './report.js';
import { type Summary, settleGc, summarize } from './stats.js';

const env = process.env;
/** Interleaved rounds of the calls/s part, the order rotated by one each round. */
const ROUNDS = Number(env.MOLT_BENCH_CKPT_ROUNDS ?? 4);
/** Each subject's window per round: 4 rounds × 3 s = 12 s each, two 5 s checkpoints or more. */
const WINDOW_MS = Number(env.MOLT_BENCH_CKPT_WINDOW_MS ?? 3_000);
const MANY = { concurrency: 64, maxCalls: 3_000_000, maxMs: WINDOW_MS };
const WARMUP = { concurrency: 64, maxCalls: 100_000, maxMs: 1_000 };
/** Checkpoints timed per state size and storage. */
const TIMED = Number(env.MOLT_BENCH_CKPT_TIMED ?? 7);
/**
 * Interval of the timed checkpoints: an odd value, so the clock below can tell the checkpoint
 * timer from molt's other timers by its delay.
 */
const TIMED_EVERY_MS = 251;
/** Longest wait for one timed checkpoint before giving up on it. */
const TIMED_WAIT_MS = 15_000;
/** Cap on the whole timed part, per state size and storage. */
const TIMED_BUDGET_MS = 60_000;

const NAME = 'ckcounter';

/** A counter: each call changes the state, so every interval has a checkpoint to take. */
const COUNTER = `
let count = 0;
export default {
  tools: { inc: { handler: () => ++count } },
  snapshot: () => ({ count }),
  restore: (s) => { count = s.count; },
};
`;

/** Holds an array of 1 KiB strings, `fill` sets how many; `touch` makes the state dirty. */
const BLOB = `
let rows = [];
let touched = 0;
export default {
  tools: {
    fill: {
      handler: ({ kb }) => {
        rows = Array.from({ length: kb }, (_, i) => String(i).padStart(8, '0') + 'x'.repeat(1014));
        return rows.length;
      },
    },
    touch: { handler: () => ++touched },
  },
  snapshot: () => ({ touched, rows }),
  restore: (s) => { touched = s.touched; rows = s.rows; },
};
`;

interface Subject {
  label: string;
  checkpointMs: number;
  host: Host;
  tally: Tally;
  /** Checkpoints seen while this subject's own window ran, and in all. */
  inWindow: number;
  total: number;
  running: boolean;
}

export interface CheckpointCostRow {
  label: string;
  checkpointMs: number;
  callsPerSec: number;
  p50Us: number;
  p99Us: number;
  checkpointsInWindow: number;
  checkpointsTotal: number;
  measuredMs: number;
}

export interface CheckpointTimeRow {
  label: string;
  stateMB: number;
  disk: boolean;
  bytes: number;
  /** `ms` of state.checkpointed: snapshot op + serialize (+ atomic write). */
  eventMs: Summary;
  /** Wall time from the checkpoint timer firing to the event reaching a listener. */
  wallMs: Summary;
  /** Checkpoints waited for in vain (TIMED_WAIT_MS). */
  timedOut: number;
}

export interface CheckpointsResult {
  cost: CheckpointCostRow[];
  time: CheckpointTimeRow[];
}

async function benchCost(): Promise<CheckpointCostRow[]> {
  const artifact = await writeArtifact(NAME, '1.0.0', COUNTER);
  const specs: [string, number][] = [
    ['off (checkpointMs 0)', 0],
    ['off, 2nd host (A/A control)', 0],
    ['every 5 s', 5_000],
    ['every 500 ms', 500],
  ];
  const subjects: Subject[] = [];
  try {
    for (const [label, checkpointMs] of specs) {
      const host = await createHost({
        standby: 0,
        checkpointMs,
        dataDir: await scratchDir('ckpt-data'),
      });
      const s: Subject = {
        label,
        checkpointMs,
        host,
        tally: new Tally(),
        inWindow: 0,
        total: 0,
        running: false,
      };
      host.on('state.checkpointed', () => {
        s.total++;
        if (s.running) s.inWindow++;
      });
      subjects.push(s);
      await host.load(artifact);
    }
    for (const s of subjects) await drive(() => s.host.call(NAME, 'inc', {}), WARMUP);
    for (const s of subjects) {
      s.inWindow = 0;
      s.total = 0;
    }
    // Each round starts one subject later, so over ROUNDS = 4 each runs once in each position.
    const n = subjects.length;
    for (let r = 0; r < ROUNDS; r++) {
      const order = [...subjects.slice(r % n), ...subjects.slice(0, r % n)];
      for (const s of order) {
        await settleGc(1);
        s.running = true;
        await drive(() => s.host.call(NAME, 'inc', {}), MANY, s.tally);
        s.running = false;
      }
    }
  } finally {
    for (const s of subjects) await s.host.close();
  }
  return subjects.map((s) => {
    const r = s.tally.result();
    if (r.errors > 0) throw new Error(`calls failed during the bench: ${r.firstError}`);
    return {
      label: s.label,
      checkpointMs: s.checkpointMs,
      callsPerSec: r.callsPerSec,
      p50Us: r.latency.p50,
      p99Us: r.latency.p99,
      checkpointsInWindow: s.inWindow,
      checkpointsTotal: s.total,
      measuredMs: r.elapsedMs,
    };
  });
}

/**
 * The system clock, noting when each timer of `ms` fires: the checkpoint timer, so the wall
 * time from its firing to the state.checkpointed event can be measured.
 */
function watchingClock(ms: number, fired: number[]): Clock {
  return {
    now: () => performance.now(),
    setTimeout(fn, delay): Timer {
      const handle = setTimeout(() => {
        if (delay === ms) fired.push(performance.now());
        fn();
      }, delay);
      handle.unref();
      return { clear: () => clearTimeout(handle) };
    },
  };
}

async function timeOne(stateMB: number, disk: boolean): Promise<CheckpointTimeRow> {
  const name = `ckblob${stateMB}${disk ? 'd' : 'm'}`;
  const fired: number[] = [];
  const host = await createHost({
    standby: 0,
    checkpointMs: TIMED_EVERY_MS,
    maxResultMb: 64,
    clock: watchingClock(TIMED_EVERY_MS, fired),
    ...(disk ? { dataDir: await scratchDir('ckpt-time') } : {}),
  });
  const eventMs: number[] = [];
  const wallMs: number[] = [];
  let bytes = 0;
  let timedOut = 0;
  try {
    await host.load(await writeArtifact(name, '1.0.0', BLOB));
    await host.call(name, 'fill', { kb: stateMB * 1024 });
    const budget = performance.now() + TIMED_BUDGET_MS;
    // The first checkpoint after the fill is a warm-up, not counted.
    for (let i = 0; i <= TIMED && performance.now() < budget; i++) {
      await host.call(name, 'touch', {});
      const seen = await new Promise<{ ms: number; bytes: number; at: number } | undefined>(
        (resolve) => {
          const timer = setTimeout(() => {
            off();
            resolve(undefined);
          }, TIMED_WAIT_MS);
          const off = host.on('state.checkpointed', (e) => {
            if (e.name !== name) return;
            clearTimeout(timer);
            off();
            resolve({ ms: e.ms, bytes: e.bytes, at: performance.now() });
          });
        },
      );
      if (seen === undefined) {
        timedOut++;
        continue;
      }
      const firedAt = fired.at(-1);
      if (i === 0) continue;
      eventMs.push(seen.ms);
      if (firedAt !== undefined) wallMs.push(seen.at - firedAt);
      bytes = seen.bytes;
      await settleGc(1);
    }
  } finally {
    await host.close();
  }
  return {
    label: `${stateMB} MB state, ${disk ? 'dataDir (disk)' : 'memory only'}`,
    stateMB,
    disk,
    bytes,
    eventMs: summarize(eventMs),
    wallMs: summarize(wallMs),
    timedOut,
  };
}

export async function benchCheckpoints(): Promise<CheckpointsResult> {
  heading('(f) state checkpoints: calls/s with checkpoints on vs off, time of one checkpoint');
  const cost = await benchCost();
  const off = cost[0]!;
  table(
    [
      'counter plugin, 64 in flight, dataDir',
      'calls/s',
      'vs off',
      'p50 µs',
      'vs off',
      'p99 µs',
      'vs off',
      'checkpoints (in own windows / all)',
    ],
    cost.map((c) => [
      c.label,
      num(c.callsPerSec, 0),
      ratio(c.callsPerSec, off.callsPerSec),
      num(c.p50Us, 1),
      ratio(c.p50Us, off.p50Us),
      num(c.p99Us, 1),
      ratio(c.p99Us, off.p99Us),
      `${c.checkpointsInWindow} / ${c.checkpointsTotal}`,
    ]),
  );
  note(
    `${ROUNDS} interleaved rounds of ${WINDOW_MS} ms per subject (order rotated each round), ${num(off.measuredMs / 1000, 1)} s measured each; checkpoint timers run in wall time, so some fire in another subject's window; 'all' includes the last checkpoint written at close`,
  );
  const time: CheckpointTimeRow[] = [];
  for (const mb of [1, 10]) for (const disk of [false, true]) time.push(await timeOne(mb, disk));
  console.log();
  const base = (r: CheckpointTimeRow): CheckpointTimeRow =>
    time.find((t) => t.stateMB === r.stateMB && !t.disk)!;
  table(
    [
      'one checkpoint',
      'bytes',
      'n',
      'event ms p50',
      'max',
      'wall ms p50',
      'max',
      'p50 vs memory only',
    ],
    time.map((t) => [
      t.label,
      num(t.bytes, 0),
      String(t.eventMs.n),
      num(t.eventMs.p50, 1),
      num(t.eventMs.max, 1),
      num(t.wallMs.p50, 1),
      num(t.wallMs.max, 1),
      t.disk ? ratio(t.eventMs.p50, base(t).eventMs.p50) : '-',
    ]),
  );
  note(
    `event ms: the ms of state.checkpointed (snapshot op + serialize, + atomic write with dataDir); wall ms: from the checkpoint timer firing to the event; first checkpoint after the fill not counted${time.some((t) => t.timedOut > 0) ? `; ${time.reduce((a, t) => a + t.timedOut, 0)} checkpoint(s) timed out` : ''}`,
  );
  return { cost, time };
}
