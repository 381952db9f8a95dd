/**
 * What the runtime records of every call, in plain numbers a scrape reads later: per tool, the
 * calls answered by outcome, a fixed-bucket latency histogram and the handlers running. A call
 * costs a few array increments here; nothing on the call path touches a metrics library.
 *
 * Labels stay bounded by construction: an outcome is `ok` or one of the documented error codes,
 * and a tool is one the plugin declared or `UNKNOWN_TOOL`, never a name a caller sent.
 */
import { type ErrorCode, ErrorCodes } from '../errors/errors.js';

/** What a caller got: a value (`ok`) or a typed error, by its code. */
export type CallOutcome = 'ok' | ErrorCode;

/** Every outcome, in the order the counters keep them: `ok` first, then each error code. */
export const CALL_OUTCOMES: readonly CallOutcome[] = ['ok', ...Object.values(ErrorCodes)];

const OK = 0;
const outcomeIndex = new Map<string, number>(CALL_OUTCOMES.map((o, i) => [o, i]));
const INTERNAL = outcomeIndex.get(ErrorCodes.INTERNAL)!;

/** The counter index of an outcome; `undefined` is a value. A code we do not know is INTERNAL. */
export function outcomeOf(code: string | undefined): number {
  return code === undefined ? OK : (outcomeIndex.get(code) ?? INTERNAL);
}

/**
 * Upper bounds (ms, inclusive) of the latency buckets; one more bucket counts what is above the
 * last. From 25 µs (a no-op call on an idle host takes ~40 µs) to 30 s (the default deadline).
 */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000,
  30_000,
];
const BOUNDS = Float64Array.from(LATENCY_BOUNDS_MS);

/** The tool label of calls to a tool the plugin does not declare. */
export const UNKNOWN_TOOL = '_unknown';

/** One tool's figures, read-only: a copy taken when asked for. */
export interface ToolCallStats {
  tool: string;
  /** Handlers of this tool running now (a call that timed out counts until its handler returns). */
  inFlight: number;
  /** Calls answered, by outcome; outcomes never seen are absent. */
  outcomes: Partial<Record<CallOutcome, number>>;
  latency: LatencyStats;
}

/** A latency histogram: how long callers waited for their answer, queue wait included. */
export interface LatencyStats {
  count: number;
  sumMs: number;
  /** Calls per bucket (not cumulative): `buckets[i]` ≤ `LATENCY_BOUNDS_MS[i]`, the last above. */
  buckets: number[];
}

/** One tool's counters: a call adds to them in a few array writes. */
export class ToolCalls {
  inFlight = 0;
  sumMs = 0;
  readonly outcomes = new Float64Array(CALL_OUTCOMES.length);
  readonly buckets = new Float64Array(BOUNDS.length + 1);

  add(outcome: number, ms: number): void {
    this.outcomes[outcome]! += 1;
    this.sumMs += ms;
    // Most calls land in the first few buckets: a scan from the bottom beats a bisection.
    let i = 0;
    while (i < BOUNDS.length && ms > BOUNDS[i]!) i++;
    this.buckets[i]! += 1;
  }

  stats(tool: string): ToolCallStats {
    const outcomes: Partial<Record<CallOutcome, number>> = {};
    let count = 0;
    for (let i = 0; i < this.outcomes.length; i++) {
      const n = this.outcomes[i]!;
      count += n;
      if (n > 0) outcomes[CALL_OUTCOMES[i]!] = n;
    }
    return {
      tool,
      inFlight: this.inFlight,
      outcomes,
      latency: { count, sumMs: this.sumMs, buckets: Array.from(this.buckets) },
    };
  }
}

/**
 * A plugin's figures per tool since it was loaded, across its generations, so they only grow
 * (Prometheus counters must). It keeps the tools of the version serving and of the one it
 * replaced, plus `UNKNOWN_TOOL`: a tool that two swaps in a row left out is dropped.
 */
export class CallRecord {
  readonly #tools = new Map<string, ToolCalls>([[UNKNOWN_TOOL, new ToolCalls()]]);

  tool(name: string): ToolCalls {
    let calls = this.#tools.get(name);
    if (calls === undefined) {
      calls = new ToolCalls();
      this.#tools.set(name, calls);
    }
    return calls;
  }

  /** A call that never reached a generation (refused by the hold queue, or the slot closing). */
  refused(tool: string, code: string | undefined, ms: number): void {
    (this.#tools.get(tool) ?? this.tool(UNKNOWN_TOOL)).add(outcomeOf(code), ms);
  }

  /** Drops every tool but `keep` and `UNKNOWN_TOOL`. */
  keepOnly(keep: ReadonlySet<string>): void {
    for (const name of this.#tools.keys())
      if (name !== UNKNOWN_TOOL && !keep.has(name)) this.#tools.delete(name);
  }

  stats(): ToolCallStats[] {
    return [...this.#tools].map(([tool, calls]) => calls.stats(tool));
  }
}

/**
 * The latency below which a share `q` of the calls fell, interpolated inside its bucket as
 * Prometheus's `histogram_quantile` does; `undefined` without calls. Above the last bound it
 * answers that bound: the histogram cannot say more.
 */
export function quantileMs(latency: LatencyStats, q: number): number | undefined {
  if (latency.count === 0) return undefined;
  const rank = q * latency.count;
  let seen = 0;
  for (let i = 0; i < latency.buckets.length; i++) {
    const n = latency.buckets[i]!;
    if (seen + n >= rank && n > 0) {
      if (i >= BOUNDS.length) return BOUNDS[BOUNDS.length - 1];
      const lower = i === 0 ? 0 : BOUNDS[i - 1]!;
      return lower + (BOUNDS[i]! - lower) * ((rank - seen) / n);
    }
    seen += n;
  }
  return BOUNDS[BOUNDS.length - 1];
}

/** One histogram of every tool's calls: what a plugin-wide percentile is read from. */
export function mergedLatency(tools: readonly ToolCallStats[]): LatencyStats {
  const buckets = new Array<number>(BOUNDS.length + 1).fill(0);
  let count = 0;
  let sumMs = 0;
  for (const t of tools) {
    count += t.latency.count;
    sumMs += t.latency.sumMs;
    for (let i = 0; i < buckets.length; i++) buckets[i]! += t.latency.buckets[i] ?? 0;
  }
  return { count, sumMs, buckets };
}
