/**
 * A rate budget for what a plugin can make the host carry (log lines, progress notes, output
 * bytes): a token bucket refilled at `perSecond`, holding at most `burst`. What does not fit is
 * dropped and counted, never queued: a flood costs the flooder, not the host. The caller passes
 * the time, so one class serves inside the sandbox (its own clock) and in the host (the
 * injected one).
 */
export class Budget {
  readonly #perSecond: number;
  readonly #burst: number;
  #tokens: number;
  #at: number | undefined;
  /** Dropped since the last `takeDropped()`. */
  #dropped = 0;

  constructor(perSecond: number, burst: number) {
    this.#perSecond = perSecond;
    this.#burst = burst;
    this.#tokens = burst;
  }

  /** Takes `cost` if it fits now; otherwise counts it as dropped and returns false. */
  take(now: number, cost = 1): boolean {
    if (this.#at === undefined) this.#at = now;
    else if (now > this.#at) {
      this.#tokens = Math.min(
        this.#burst,
        this.#tokens + ((now - this.#at) * this.#perSecond) / 1000,
      );
      this.#at = now;
    }
    if (this.#tokens >= cost) {
      this.#tokens -= cost;
      return true;
    }
    this.#dropped += cost;
    return false;
  }

  /** The drop count so far, reset: what a drop report says. */
  takeDropped(): number {
    const n = this.#dropped;
    this.#dropped = 0;
    return n;
  }
}

/** What a sandbox may send per generation; the numbers are documented in the README. */
export const BUDGETS = {
  /** `ctx.log` lines a second (a burst of twice that). */
  logsPerSecond: 1_000,
  /** `ctx.resourceUpdated` notes a second, over all calls of a generation. */
  updatesPerSecond: 100,
  /** `ctx.progress` notes a second, over all calls of a generation. */
  progressPerSecond: 1_000,
  /** stdout + stderr bytes a second, each (a burst of 1 MiB). */
  outputBytesPerSecond: 256 * 1024,
  outputBurstBytes: 1024 * 1024,
  /** Log data larger than this is replaced by a note (texts are cut at protocol's MAX_TEXT). */
  logDataBytes: 16 * 1024,
} as const;
