/** (c) 64-in-flight call load while the plugin reloads every 100 ms, next to the same load without. */
import { createHost } from '../src/index.js';
import { pluginPair } from './artifacts.js';
import { type DriveResult, drive } from './drive.js';
import { check, heading, note, num, ratio, table } from './report.js';
import { settleGc, sleep } from './stats.js';

export interface ChurnResult {
  steady: DriveResult;
  churn: DriveResult;
  reloads: number;
  reloadErrors: number;
  p99Ratio: number;
}

const LOAD = { concurrency: 64, maxCalls: 5_000_000, maxMs: 5_000 };
const EVERY_MS = 100;

export async function benchChurn(): Promise<ChurnResult> {
  heading(
    `(c) ${LOAD.concurrency} in flight for ${LOAD.maxMs / 1000} s: reload every ${EVERY_MS} ms vs no reloads (host defaults)`,
  );
  const host = await createHost();
  const name = 'churn';
  const [a, b] = await pluginPair(name);
  let reloads = 0;
  let reloadErrors = 0;
  let steady: DriveResult;
  let churn: DriveResult;
  try {
    await host.load(a);
    const call = (): Promise<unknown> => host.call(name, 'noop');
    await drive(call, { concurrency: 64, maxCalls: 200_000, maxMs: 1_500 });
    await settleGc();
    steady = await drive(call, LOAD);
    await settleGc();
    let running = true;
    const reloader = (async () => {
      const deadline = performance.now() + LOAD.maxMs + 1_000;
      for (let next = performance.now(); running && performance.now() < deadline; ) {
        next += EVERY_MS;
        try {
          await host.reload(name, reloads % 2 === 0 ? b : a);
          reloads++;
        } catch {
          reloadErrors++;
        }
        await sleep(Math.max(0, next - performance.now()));
      }
    })();
    churn = await drive(call, LOAD);
    running = false;
    await reloader;
  } finally {
    await host.close();
  }
  const p99Ratio = churn.latency.p99 / steady.latency.p99;
  const row = (label: string, pick: (r: DriveResult) => number, digits = 1): string[] => [
    label,
    num(pick(churn), digits),
    num(pick(steady), digits),
    ratio(pick(churn), pick(steady)),
  ];
  table(
    ['metric', 'with reloads', 'steady', 'churn/steady'],
    [
      row('calls/s', (r) => r.callsPerSec, 0),
      row('latency p50 (µs)', (r) => r.latency.p50),
      row('latency p99 (µs)', (r) => r.latency.p99),
      row('latency max (µs)', (r) => r.latency.max),
      row('calls', (r) => r.calls, 0),
      row('call errors', (r) => r.errors, 0),
    ],
  );
  note(`reloads completed during the churn run: ${reloads}, reload errors: ${reloadErrors}`);
  if (churn.firstError !== undefined) note(`first call error: ${churn.firstError}`);
  console.log();
  const errors = churn.errors + steady.errors;
  table(
    ['target', 'value', 'goal', 'verdict'],
    [
      [
        'call errors under churn',
        String(errors),
        '0',
        check('0 call errors under churn', String(errors), errors === 0 && reloadErrors === 0),
      ],
      [
        'p99 churn / steady',
        `${num(p99Ratio, 2)}x`,
        '<= 1.5x',
        check('churn p99 <= 1.5x steady p99', `${num(p99Ratio, 2)}x`, p99Ratio <= 1.5),
      ],
    ],
  );
  return { steady, churn, reloads, reloadErrors, p99Ratio };
}
