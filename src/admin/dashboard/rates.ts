/**
 * calls/s and error rate from successive readings of a plugin's cumulative counters. Readings
 * come from the 1 s poll and from every event-driven refresh; a rate is only computed over a
 * window of at least `windowMs`, so a refresh 20 ms after the poll does not turn two calls
 * into 100 calls/s.
 */

export interface Reading {
  /** Milliseconds on a monotonic clock (`performance.now()` in the page). */
  at: number;
  calls: number;
  errors: number;
}

export interface Rates {
  callsPerSec: number | undefined;
  /** Errors per call over the window; undefined when there was no call. */
  errorRate: number | undefined;
}

const NONE: Rates = { callsPerSec: undefined, errorRate: undefined };

export class RateMeter {
  readonly #windowMs: number;
  readonly #base = new Map<string, Reading>();
  readonly #last = new Map<string, Rates>();

  constructor(windowMs = 1000) {
    this.#windowMs = windowMs;
  }

  /** Records a reading of plugin `name` and returns its current rates. */
  observe(name: string, r: Reading): Rates {
    const base = this.#base.get(name);
    // Counters only go down when the plugin was unloaded and loaded again: start over.
    if (base === undefined || r.calls < base.calls || r.errors < base.errors || r.at < base.at) {
      this.#base.set(name, r);
      this.#last.set(name, NONE);
      return NONE;
    }
    const elapsed = r.at - base.at;
    if (elapsed < this.#windowMs) return this.#last.get(name) ?? NONE;
    const calls = r.calls - base.calls;
    const rates: Rates = {
      callsPerSec: (calls * 1000) / elapsed,
      errorRate: calls === 0 ? undefined : Math.min(1, (r.errors - base.errors) / calls),
    };
    this.#base.set(name, r);
    this.#last.set(name, rates);
    return rates;
  }

  forget(name: string): void {
    this.#base.delete(name);
    this.#last.delete(name);
  }
}
