/** A closed-loop load driver: `concurrency` lanes, each awaiting one call at a time. */
import { Samples, type Summary } from './stats.js';

export interface DriveOptions {
  concurrency: number;
  /** Upper bound on calls started, across all lanes. */
  maxCalls: number;
  /** Upper bound on wall time; lanes stop starting calls after it. */
  maxMs: number;
}

export interface DriveResult {
  calls: number;
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
  callsPerSec: number;
  /** Per-call latency in µs. */
  latency: Summary;
  /** Main-thread event-loop busy time per call (µs): the host thread's CPU cost of a call. */
  mainBusyUs: number;
}

/** Accumulates several drives (e.g. interleaved rounds) into one result. */
export class Tally {
  readonly samples = new Samples(1_000_000);
  errors = 0;
  firstError: string | undefined;
  elapsedMs = 0;
  busyMs = 0;

  result(): DriveResult {
    const calls = this.samples.count;
    return {
      calls,
      errors: this.errors,
      firstError: this.firstError,
      elapsedMs: this.elapsedMs,
      callsPerSec: (calls / this.elapsedMs) * 1000,
      latency: this.samples.summary(),
      mainBusyUs: (this.busyMs * 1000) / Math.max(1, calls),
    };
  }
}

export async function drive(
  fn: () => unknown,
  { concurrency, maxCalls, maxMs }: DriveOptions,
  tally = new Tally(),
): Promise<DriveResult> {
  const { samples } = tally;
  let started = 0;
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const deadline = t0 + maxMs;
  const lane = async (): Promise<void> => {
    while (started < maxCalls) {
      const t = performance.now();
      if (t >= deadline) return;
      started++;
      try {
        await fn();
      } catch (err) {
        tally.errors++;
        tally.firstError ??= err instanceof Error ? err.message : String(err);
      }
      samples.add((performance.now() - t) * 1000);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  tally.elapsedMs += performance.now() - t0;
  tally.busyMs += performance.eventLoopUtilization(elu0).active;
  return tally.result();
}
