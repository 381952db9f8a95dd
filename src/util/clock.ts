/**
 * Time as the host sees it. Every timeout molt keeps (call, init, drain, probation, backoff,
 * session TTL, debounce) reads and arms time through a `Clock`, so tests can replace it with a
 * manual one and advance time instead of waiting for it.
 */

/** An armed timer; `clear()` is safe to call more than once and after it fired. */
export interface Timer {
  clear(): void;
}

export interface Clock {
  /** Milliseconds on a monotonic scale (only differences mean anything). */
  now(): number;
  /** Runs `fn` once, `ms` from now. Never keeps the process alive on its own. */
  setTimeout(fn: () => void, ms: number): Timer;
}

/**
 * The longest delay Node's timers accept; longer ones fire after 1 ms with a warning. Every
 * configurable duration is range-checked below it, and this clamps what slips through.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, Math.min(MAX_TIMER_MS, Math.max(0, ms)));
    handle.unref();
    return { clear: () => clearTimeout(handle) };
  },
};
