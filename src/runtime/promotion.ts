/**
 * The judge of a trial: a new generation's figures during probation against the baseline of
 * the generation it replaced. Pure arithmetic over the call record's counters (call-record.ts),
 * so the slot decides from numbers it already keeps and a test can check every rule alone.
 */
import { ErrorCodes } from '../errors/errors.js';
import type { ToolInfo } from '../sandbox/protocol.js';
import { type CallOutcome, mergedLatency, quantileMs, type ToolCallStats } from './call-record.js';

/** When a trial counts as a regression (host option `probation`, or a manifest's). */
export interface ProbationRules {
  /** An error rate at or under this never trips, whatever the baseline. */
  maxErrorRate: number;
  /** Over `maxErrorRate`, it trips once it exceeds the baseline's rate by more than this. */
  maxErrorRateIncrease: number;
  /** The trial's p99 over this many times the baseline's trips (both need `minCalls` calls). */
  maxP99Ratio: number;
  /** Fewer judged calls than this decide nothing. */
  minCalls: number;
}

export const DEFAULT_PROBATION_RULES: Readonly<ProbationRules> = {
  maxErrorRate: 0.05,
  maxErrorRateIncrease: 0.02,
  maxP99Ratio: 3,
  minCalls: 50,
};

/**
 * A manifest's rules over the host's: each the stricter of the two (lower ceilings and ratio,
 * and fewer calls before judging), so an untrusted artifact can only make its trial stricter.
 */
export function tightened(
  host: ProbationRules,
  own: Partial<ProbationRules> | undefined,
): ProbationRules {
  if (own === undefined) return host;
  const min = (a: number, b: number | undefined) => (b === undefined ? a : Math.min(a, b));
  return {
    maxErrorRate: min(host.maxErrorRate, own.maxErrorRate),
    maxErrorRateIncrease: min(host.maxErrorRateIncrease, own.maxErrorRateIncrease),
    maxP99Ratio: min(host.maxP99Ratio, own.maxP99Ratio),
    minCalls: min(host.minCalls, own.minCalls),
  };
}

/**
 * Latencies under this never trip the p99 rule: a 40 µs call that takes 200 µs under load is
 * noise, not a regression, and the histogram's low buckets are too coarse to say more.
 */
export const P99_FLOOR_MS = 5;

/** Outcomes that are the version's fault; the rest (bad input, unknown tool, …) are the caller's. */
export const VERSION_FAULTS: ReadonlySet<string> = new Set<CallOutcome>([
  ErrorCodes.PLUGIN_ERROR,
  ErrorCodes.CALL_TIMEOUT,
  ErrorCodes.PLUGIN_CRASHED,
  ErrorCodes.INVALID_OUTPUT,
  ErrorCodes.MEMORY_LIMIT,
]);

/** What a generation's calls add up to: only `ok` and the version's own errors are judged. */
export interface PromotionFigures {
  calls: number;
  errors: number;
  errorRate: number;
  /** Of every answered call (the histogram does not split by outcome); absent without calls. */
  p99Ms: number | undefined;
}

export function figuresOf(stats: readonly ToolCallStats[]): PromotionFigures {
  let calls = 0;
  let errors = 0;
  for (const t of stats) {
    for (const [outcome, n] of Object.entries(t.outcomes) as [CallOutcome, number][]) {
      if (outcome === 'ok') calls += n;
      else if (VERSION_FAULTS.has(outcome)) {
        calls += n;
        errors += n;
      }
    }
  }
  return {
    calls,
    errors,
    errorRate: calls === 0 ? 0 : errors / calls,
    p99Ms: quantileMs(mergedLatency(stats), 0.99),
  };
}

export type Verdict =
  | { decision: 'undecided'; why: string }
  | { decision: 'healthy' }
  | { decision: 'regression'; tripped: ('errorRate' | 'p99')[]; why: string };

export function judge(
  trial: PromotionFigures,
  baseline: PromotionFigures,
  rules: ProbationRules,
): Verdict {
  if (trial.calls < rules.minCalls) {
    return {
      decision: 'undecided',
      why: `${trial.calls} of ${rules.minCalls} calls needed to judge`,
    };
  }
  const tripped: ('errorRate' | 'p99')[] = [];
  const reasons: string[] = [];
  // A baseline too small to trust counts as error-free: only the absolute ceiling applies.
  const baseRate = baseline.calls >= rules.minCalls ? baseline.errorRate : 0;
  if (
    trial.errorRate > rules.maxErrorRate &&
    trial.errorRate - baseRate > rules.maxErrorRateIncrease
  ) {
    tripped.push('errorRate');
    reasons.push(
      `error rate ${pct(trial.errorRate)} against ${pct(baseRate)} before (at most ${pct(rules.maxErrorRate)}, or +${pct(rules.maxErrorRateIncrease)})`,
    );
  }
  const p99 = trial.p99Ms;
  const baseP99 = baseline.calls >= rules.minCalls ? baseline.p99Ms : undefined;
  if (p99 !== undefined && baseP99 !== undefined && p99 >= P99_FLOOR_MS) {
    if (p99 > rules.maxP99Ratio * Math.max(baseP99, P99_FLOOR_MS / rules.maxP99Ratio)) {
      tripped.push('p99');
      reasons.push(
        `p99 ${round(p99)} ms against ${round(baseP99)} ms before (at most ${rules.maxP99Ratio}×)`,
      );
    }
  }
  if (tripped.length === 0) return { decision: 'healthy' };
  return { decision: 'regression', tripped, why: reasons.join('; ') };
}

const pct = (r: number): string => `${round(r * 100)}%`;
const round = (n: number): number => Math.round(n * 100) / 100;

/**
 * The tools both generations mark safe to repeat (MCP's `readOnlyHint` or `idempotentHint`): a
 * canary retries a failed call of one on the current version, a shadow mirrors calls of them.
 */
export function repeatableTools(
  a: { info: { tools: readonly ToolInfo[] } },
  b: { info: { tools: readonly ToolInfo[] } },
): Set<string> {
  const marked = (tools: readonly ToolInfo[]) =>
    tools
      .filter((t) => t.annotations?.readOnlyHint === true || t.annotations?.idempotentHint === true)
      .map((t) => t.name);
  const inB = new Set(marked(b.info.tools));
  return new Set(marked(a.info.tools).filter((t) => inB.has(t)));
}
