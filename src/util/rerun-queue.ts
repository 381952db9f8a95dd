/**
 * Runs `work(key)` at most once at a time per key. A request that arrives during a run makes it
 * run once more afterwards, however many arrive: a burst collapses into at most two runs, the
 * last of which sees the newest state.
 */
export class RerunQueue<K> {
  readonly #work: (key: K) => Promise<void>;
  readonly #running = new Map<K, Promise<void>>();
  readonly #again = new Set<K>();

  constructor(work: (key: K) => Promise<void>) {
    this.#work = work;
  }

  get size(): number {
    return this.#running.size;
  }

  /** Resolves when the run that covers this request has finished. */
  request(key: K): Promise<void> {
    const running = this.#running.get(key);
    if (running !== undefined) {
      this.#again.add(key);
      return running;
    }
    const run = (async () => {
      do {
        this.#again.delete(key);
        await this.#work(key);
      } while (this.#again.has(key));
    })().finally(() => this.#running.delete(key));
    this.#running.set(key, run);
    return run;
  }

  /** Every run under way. */
  pending(): Promise<void>[] {
    return [...this.#running.values()];
  }
}
