/**
 * (c) 64-in-flight call load while the plugin reloads every 100 ms (and every 500 ms), next to
 * the same load without reloads. Steady and churn windows alternate, so a drift in the machine's
 * load lands on both sides of the ratio alike.
 */
import { createHost, type Host } from '../src/index.js';
import { pluginPair } from './artifacts.js';
import { type DriveResult, drive, Tally } from './drive.js';
import { check, heading, note, num, ratio, table } from './report.js';
import { settleGc, sleep } from './stats.js';

export interface ChurnResult {
  steady: DriveResult;
  churn: DriveResult;
  slow: DriveResult;
  reloads: number;
  reloadErrors: number;
  p99Ratio: number;
  slowP99Ratio: number;
}

const CONCURRENCY = 64;
const ROUNDS = 4;
const WINDOW_MS = 1_250;
const WINDOW = { concurrency: CONCURRENCY, maxCalls: 2_000_000, maxMs: WINDOW_MS };
const EVERY_MS = 100;
const SLOW_EVERY_MS = 500;

interface Reloader {
  stop(): Promise<void>;
}

/**
 * Reloads `name` every `everyMs`, alternating two artifacts, until stopped (or for `maxMs`).
 */
export function reloadEvery(
  host: Host,
  name: string,
  dirs: [string, string],
  everyMs: number,
  count: { reloads: number; errors: number },
  maxMs = WINDOW_MS + 1_000,
): Reloader {
  let running = true;
  const done = (async () => {
    const deadline = performance.now() + maxMs;
    for (let next = performance.now(); running && performance.now() < deadline; ) {
      next += everyMs;
      try {
        await host.reload(name, dirs[count.reloads % 2 === 0 ? 1 : 0]);
        count.reloads++;
      } catch {
        count.errors++;
      }
      await sleep(Math.max(0, next - performance.now()));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
    },
  };
}

export async function benchChurn(): Promise<ChurnResult> {
  heading(
    `(c) ${CONCURRENCY} in flight, ${ROUNDS} rounds of ${WINDOW_MS} ms windows: reload every ${EVERY_MS} ms (and ${SLOW_EVERY_MS} ms) vs no reloads, interleaved (host defaults)`,
  );
  const host = await createHost();
  const name = 'churn';
  const dirs = await pluginPair(name);
  const count = { reloads: 0, errors: 0 };
  const tallies = { steady: new Tally(), churn: new Tally(), slow: new Tally() };
  try {
    await host.load(dirs[0]);
    const call = (): Promise<unknown> => host.call(name, 'noop');
    await drive(call, { concurrency: CONCURRENCY, maxCalls: 200_000, maxMs: 1_500 });
    for (let round = 0; round < ROUNDS; round++) {
      await settleGc();
      await drive(call, WINDOW, tallies.steady);
      for (const [tally, every] of [
        [tallies.churn, EVERY_MS],
        [tallies.slow, SLOW_EVERY_MS],
      ] as const) {
        await settleGc();
        const reloader = reloadEvery(host, name, dirs, every, count);
        await drive(call, WINDOW, tally);
        await reloader.stop();
      }
    }
  } finally {
    await host.close();
  }
  const steady = tallies.steady.result();
  const churn = tallies.churn.result();
  const slow = tallies.slow.result();
  const p99Ratio = churn.latency.p99 / steady.latency.p99;
  const slowP99Ratio = slow.latency.p99 / steady.latency.p99;
  const row = (label: string, pick: (r: DriveResult) => number, digits = 1): string[] => [
    label,
    num(pick(churn), digits),
    ratio(pick(churn), pick(steady)),
    num(pick(slow), digits),
    ratio(pick(slow), pick(steady)),
    num(pick(steady), digits),
  ];
  table(
    [
      'metric',
      `reload/${EVERY_MS} ms`,
      'vs steady',
      `reload/${SLOW_EVERY_MS} ms`,
      'vs steady',
      'steady',
    ],
    [
      row('calls/s', (r) => r.callsPerSec, 0),
      row('latency p50 (µs)', (r) => r.latency.p50),
      row('latency p99 (µs)', (r) => r.latency.p99),
      row('latency max (µs)', (r) => r.latency.max),
      row('calls', (r) => r.calls, 0),
      row('call errors', (r) => r.errors, 0),
    ],
  );
  note(`reloads completed: ${count.reloads}, reload errors: ${count.errors}`);
  note(
    'each reload starts a sandbox (Node boots a worker in ~60 ms of CPU) and ends one: on 2 cores that work competes with the two busy threads',
  );
  if (churn.firstError !== undefined) note(`first call error: ${churn.firstError}`);
  console.log();
  const errors = churn.errors + slow.errors + steady.errors;
  table(
    ['target', 'value', 'goal', 'verdict'],
    [
      [
        'call errors under churn',
        String(errors),
        '0',
        check('0 call errors under churn', String(errors), errors === 0 && count.errors === 0),
      ],
      [
        `p99 churn / steady, reload every ${EVERY_MS} ms`,
        `${num(p99Ratio, 2)}x`,
        '<= 1.5x',
        check('churn p99 <= 1.5x steady p99', `${num(p99Ratio, 2)}x`, p99Ratio <= 1.5),
      ],
    ],
  );
  note(`p99 ratio with a reload every ${SLOW_EVERY_MS} ms: ${num(slowP99Ratio, 2)}x`);
  return {
    steady,
    churn,
    slow,
    reloads: count.reloads,
    reloadErrors: count.errors,
    p99Ratio,
    slowP99Ratio,
  };
}
