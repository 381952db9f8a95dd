/** Percentiles, slopes and the small numeric helpers every bench file shares. */

/** A bounded latency recorder: keeps at most `capacity` samples (µs), then counts only. */
/**
 * Latency samples, at most `capacity` kept: past it, a uniform reservoir sample (Algorithm R),
 * so a long run's percentiles describe the whole run, not only its first calls.
 */
export class Samples {
  readonly #values: Float64Array;
  #n = 0;
  count = 0;

  constructor(capacity: number) {
    this.#values = new Float64Array(capacity);
  }

  add(us: number): void {
    this.count++;
    if (this.#n < this.#values.length) {
      this.#values[this.#n++] = us;
      return;
    }
    const at = Math.floor(Math.random() * this.count);
    if (at < this.#values.length) this.#values[at] = us;
  }

  summary(): Summary {
    return summarize(this.#values.subarray(0, this.#n));
  }
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: Float64Array | number[]): Summary {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { n: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted[n - 1]!,
    mean: sum / n,
  };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** Least-squares slope of y over x (e.g. KB of RSS per reload). */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const nowUs = (): number => performance.now() * 1000;

/** Collects garbage a few times (needs --expose-gc; a no-op without it). */
export async function settleGc(rounds = 3): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < rounds; i++) {
    gc?.();
    await sleep(20);
  }
}
