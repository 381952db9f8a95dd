/**
 * (l) What a canary costs a call: the same no-op tool through a host serving one generation,
 * and through a host whose canary (10% to the candidate, never decided) runs, measured in
 * interleaved rounds as (a) measures. Without a canary the hot path reads one more field than
 * before canaries; with one it picks per call and counts the candidate's answers.
 */
import { createHost } from '../src/index.js';
import { pluginPair } from './artifacts.js';
import { type Measured, measure } from './calls.js';
import { heading, note, num, ratio, table } from './report.js';

export interface CanaryResult {
  plain: Measured;
  canary: Measured;
  /** Calls the candidate answered out of every call made through the canary host. */
  candidateShare: number;
}

export async function benchCanary(): Promise<CanaryResult> {
  heading('(l) no-op tool call with no canary vs during a 10% canary');
  const plainHost = await createHost({ standby: 0 });
  const canaryHost = await createHost({ standby: 0 });
  const [v1, v2] = await pluginPair('canary');
  let plain: Measured;
  let canary: Measured;
  let candidateShare = 0;
  try {
    await plainHost.load(v1);
    await canaryHost.load(v1);
    const started = new Promise<void>((resolve) => {
      const off = canaryHost.on('promotion.started', () => {
        off();
        resolve();
      });
    });
    const reload = canaryHost
      .reload('canary', v2, {
        canary: { weight: 0.1, minCalls: 1_000_000, timeoutMs: 3_600_000 },
      })
      .catch(() => undefined);
    await started;
    [plain, canary] = (await measure([
      () => plainHost.call('canary', 'noop'),
      () => canaryHost.call('canary', 'noop'),
    ])) as [Measured, Measured];
    const status = canaryHost.plugin('canary')?.canary;
    if (status !== undefined) {
      candidateShare = status.trial.calls / (status.trial.calls + status.baseline.calls);
    }
    await canaryHost.abort('canary');
    await reload;
  } finally {
    await plainHost.close();
    await canaryHost.close();
  }
  const row = (label: string, pick: (m: Measured) => number, digits = 2): string[] => [
    label,
    num(pick(plain), digits),
    num(pick(canary), digits),
    ratio(pick(canary), pick(plain)),
  ];
  table(
    ['metric', 'no canary', '10% canary', 'canary/none'],
    [
      row('latency p50, 1 in flight (µs)', (m) => m.one.latency.p50),
      row('latency p99, 1 in flight (µs)', (m) => m.one.latency.p99),
      row('calls/s, 1 in flight', (m) => m.one.callsPerSec, 0),
      row('calls/s, 64 in flight', (m) => m.many.callsPerSec, 0),
      row('main-thread busy µs/call, 64 in flight', (m) => m.many.mainBusyUs),
    ],
  );
  note(`share of the canary host's calls the candidate answered: ${num(candidateShare * 100, 3)}%`);
  return { plain, canary, candidateShare };
}
