/**
 * Per-key debounce: `touch(key)` (re)starts that key's quiet period; once it passes with no new
 * touch, `fire(key)` runs. After `close()` nothing fires any more, and `close()` waits for the
 * callbacks already running, so an owner that closes never acts afterwards.
 */
import { type Clock, systemClock, type Timer } from './clock.js';

export class KeyedDebounce<K> {
  readonly #fire: (key: K) => void | Promise<void>;
  readonly #ms: number;
  readonly #clock: Clock;
  readonly #timers = new Map<K, Timer>();
  readonly #running = new Set<Promise<void>>();
  #closed = false;

  constructor(fire: (key: K) => void | Promise<void>, ms: number, clock: Clock = systemClock) {
    this.#fire = fire;
    this.#ms = ms;
    this.#clock = clock;
  }

  /** Keys waiting for their quiet period to end. */
  get size(): number {
    return this.#timers.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  touch(key: K): void {
    if (this.#closed) return;
    this.#timers.get(key)?.clear();
    this.#timers.set(
      key,
      this.#clock.setTimeout(() => {
        this.#timers.delete(key);
        if (this.#closed) return;
        let out: void | Promise<void>;
        try {
          out = this.#fire(key);
        } catch {
          return;
        }
        if (out === undefined) return;
        const run = out.catch(() => {});
        this.#running.add(run);
        void run.finally(() => this.#running.delete(run));
      }, this.#ms),
    );
  }

  /** Callbacks under way. */
  running(): Promise<void>[] {
    return [...this.#running];
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers.values()) t.clear();
    this.#timers.clear();
    await Promise.allSettled([...this.#running]);
  }
}
