/** (a) No-op call cost: molt host vs a direct `await f()` vs a raw worker_threads round trip. */
import { createHost } from '../src/index.js';
import { pluginPair } from './artifacts.js';
import { type DriveResult, drive, Tally } from './drive.js';
import { RawEcho } from './raw-worker.js';
import { check, heading, note, num, ratio, table } from './report.js';
import { settleGc } from './stats.js';

export interface CallsResult {
  direct: Measured;
  raw: Measured;
  host: Measured;
  overheadP50Us: number;
  overheadP99Us: number;
}

export interface Measured {
  one: DriveResult;
  many: DriveResult;
}

const WARMUP = { concurrency: 8, maxCalls: 100_000, maxMs: 1_000 };
/**
 * The three subjects are measured in interleaved rounds, so a neighbour's burst of CPU on this
 * shared 2-core machine lands on all of them alike rather than on whichever ran at that moment.
 */
const ROUNDS = 6;
const ONE = { concurrency: 1, maxCalls: 40_000, maxMs: 400 };
const MANY = { concurrency: 64, maxCalls: 400_000, maxMs: 400 };

export type Subject = () => unknown;

export interface Rounds {
  rounds: number;
  /** Wall time of each window, 1 and 64 in flight. */
  windowMs: number;
  /** Every other round runs the subjects in reverse order, so none always follows another. */
  alternate: boolean;
}

/** Warms each subject up, then drives them in interleaved rounds, 1 and 64 in flight. */
export async function measure(
  subjects: Subject[],
  { rounds, windowMs, alternate }: Rounds = { rounds: ROUNDS, windowMs: 400, alternate: false },
): Promise<Measured[]> {
  for (const fn of subjects) await drive(fn, WARMUP);
  const tallies = subjects.map(() => ({ one: new Tally(), many: new Tally() }));
  const one = { ...ONE, maxCalls: (ONE.maxCalls * windowMs) / ONE.maxMs, maxMs: windowMs };
  const many = { ...MANY, maxCalls: (MANY.maxCalls * windowMs) / MANY.maxMs, maxMs: windowMs };
  const order = [...subjects.keys()];
  for (let r = 0; r < rounds; r++) {
    for (const i of alternate && r % 2 === 1 ? [...order].reverse() : order) {
      await settleGc(1);
      await drive(subjects[i]!, one, tallies[i]!.one);
      await drive(subjects[i]!, many, tallies[i]!.many);
    }
  }
  return tallies.map(({ one, many }) => {
    const m = { one: one.result(), many: many.result() };
    for (const r of [m.one, m.many])
      if (r.errors > 0) throw new Error(`calls failed during the bench: ${r.firstError}`);
    return m;
  });
}

export async function benchCalls(): Promise<CallsResult> {
  heading('(a) no-op tool call: molt host vs direct `await f()` vs raw worker round trip');
  const f = (): number => 1;
  const raw = new RawEcho();
  await raw.ready;
  const host = await createHost({ standby: 0 });
  const [dir] = await pluginPair('calls');
  let direct: Measured;
  let rawM: Measured;
  let hostM: Measured;
  try {
    await host.load(dir);
    [direct, rawM, hostM] = (await measure([
      f,
      () => raw.call(),
      () => host.call('calls', 'noop'),
    ])) as [Measured, Measured, Measured];
  } finally {
    await raw.close();
    await host.close();
  }
  const overheadP50Us = hostM.one.latency.p50 - rawM.one.latency.p50;
  const overheadP99Us = hostM.one.latency.p99 - rawM.one.latency.p99;
  const row = (label: string, pick: (m: Measured) => number, digits = 2): string[] => [
    label,
    num(pick(hostM), digits),
    num(pick(direct), digits),
    ratio(pick(hostM), pick(direct)),
    num(pick(rawM), digits),
    ratio(pick(hostM), pick(rawM)),
  ];
  table(
    ['metric', 'molt host', 'direct', 'host/direct', 'raw worker', 'host/raw'],
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
  console.log();
  table(
    ['target', 'value', 'goal', 'verdict'],
    [
      [
        'host overhead p50 (host - raw), 1 in flight',
        `${num(overheadP50Us, 2)} µs`,
        '<= 15 µs',
        check('call overhead p50 <= 15 µs', `${num(overheadP50Us, 2)} µs`, overheadP50Us <= 15),
      ],
      [
        'host overhead p99 (host - raw), 1 in flight',
        `${num(overheadP99Us, 2)} µs`,
        '<= 40 µs',
        check('call overhead p99 <= 40 µs', `${num(overheadP99Us, 2)} µs`, overheadP99Us <= 40),
      ],
      [
        'host calls/s, 64 in flight',
        num(hostM.many.callsPerSec, 0),
        '>= 200,000',
        check(
          'calls/s at 64 in flight >= 200k',
          num(hostM.many.callsPerSec, 0),
          hostM.many.callsPerSec >= 200_000,
        ),
      ],
    ],
  );
  note(
    `samples: ${hostM.one.calls} host calls at 1 in flight, ${hostM.many.calls} at 64; raw floor uses molt's message shapes`,
  );
  return { direct, raw: rawM, host: hostM, overheadP50Us, overheadP99Us };
}
