/**
 * Where calls wait while a slot cannot route them (first load, state handover, crash
 * recovery): bounded, in order, each waiter with its one deadline and its abort signal. Waiting
 * calls are not rejected unless the bound, their deadline or their signal says so.
 */
import { type ErrorCode, ErrorCodes, MoltError } from '../errors/errors.js';
import type { Clock } from '../util/clock.js';

interface Waiter {
  run(): void;
  fail(err: MoltError): void;
}

export class CallQueue {
  #waiters: Waiter[] = [];
  readonly #max: () => number;
  readonly #clock: Clock;

  constructor(max: () => number, clock: Clock) {
    this.#max = max;
    this.#clock = clock;
  }

  get length(): number {
    return this.#waiters.length;
  }

  /**
   * Queues `run` until `release()`; settles like `run()` would, or with a typed error. The call
   * times out at `deadline` (the clock's time), which it keeps after it leaves the queue.
   */
  wait<T>(
    run: () => Promise<T>,
    deadline: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    if (this.#waiters.length >= this.#max()) {
      return Promise.reject(
        new MoltError(
          ErrorCodes.QUEUE_FULL,
          `too many calls waiting (${this.#max()}) while the plugin is held`,
        ),
      );
    }
    if (signal?.aborted) {
      return Promise.reject(
        new MoltError(ErrorCodes.CANCELLED, 'call cancelled while waiting', {
          cause: signal.reason,
        }),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const cleanup = (): void => {
        timer.clear();
        signal?.removeEventListener('abort', onAbort);
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
      };
      const waiter: Waiter = {
        run: () => {
          cleanup();
          run().then(resolve, reject);
        },
        fail: (err) => {
          cleanup();
          reject(err);
        },
      };
      const timer = this.#clock.setTimeout(
        () =>
          waiter.fail(
            new MoltError(ErrorCodes.CALL_TIMEOUT, `call waited ${timeoutMs} ms for the plugin`),
          ),
        deadline - this.#clock.now(),
      );
      const onAbort = (): void =>
        waiter.fail(
          new MoltError(ErrorCodes.CANCELLED, 'call cancelled while waiting', {
            cause: signal?.reason,
          }),
        );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Lets every waiting call proceed, in arrival order. */
  release(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.run();
  }

  failAll(code: ErrorCode, message: string): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.fail(new MoltError(code, message));
  }
}
