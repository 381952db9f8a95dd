/**
 * A clock that moves only when the test says so: timeout tests advance time instead of waiting
 * for it. `whenArmed` lets a test wait until the code under test has armed the timer it is about
 * to make fire, so no test guesses how long an async step takes.
 */
import type { Clock, Timer } from '../../src/util/clock.js';

interface Entry {
  at: number;
  ms: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

interface Watcher {
  match: (ms: number) => boolean;
  resolve: () => void;
}

export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: Entry[] = [];
  #watchers: Watcher[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const entry: Entry = { at: this.#now + Math.max(0, ms), ms, seq: this.#seq++, fn, live: true };
    this.#timers.push(entry);
    const ready = this.#watchers.filter((w) => w.match(ms));
    this.#watchers = this.#watchers.filter((w) => !w.match(ms));
    for (const w of ready) w.resolve();
    return {
      clear: () => {
        entry.live = false;
      },
    };
  }

  /** Delays of the timers armed and not yet fired or cleared. */
  get armed(): number[] {
    return this.#timers.filter((t) => t.live).map((t) => t.ms);
  }

  /**
   * Resolves once a timer of `ms` (any delay when omitted) is armed: one already armed counts.
   */
  whenArmed(ms?: number | ((ms: number) => boolean)): Promise<void> {
    const match =
      ms === undefined ? () => true : typeof ms === 'function' ? ms : (d: number) => d === ms;
    if (this.#timers.some((t) => t.live && match(t.ms))) return Promise.resolve();
    return new Promise((resolve) => this.#watchers.push({ match, resolve }));
  }

  /** Moves time forward, firing every timer that falls due, in order (and those they arm). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers
        .filter((t) => t.live && t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      due.live = false;
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = target;
    this.#timers = this.#timers.filter((t) => t.live);
  }

  /** Waits until a timer of `ms` is armed, then advances past it. */
  async fire(ms: number): Promise<void> {
    await this.whenArmed(ms);
    this.advance(ms);
  }
}
