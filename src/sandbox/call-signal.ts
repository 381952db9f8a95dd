/**
 * The abort signal of a call the host makes for a plugin (`ctx.call`): the part of
 * `AbortSignal` the runtime reads (`aborted`, `reason`, the `abort` listeners), without an
 * EventTarget. A real `AbortSignal` costs several microseconds to make, as much as the rest of
 * the call's work on the host's thread, and such a call needs one every time.
 */
export class CallSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: (() => void)[] | undefined;

  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (this.aborted) return;
    this.#listeners ??= [];
    this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const list = this.#listeners;
    if (list === undefined) return;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  /** Aborts once; every listener runs once, in the order added (as `{ once: true }`). */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const list = this.#listeners;
    this.#listeners = undefined;
    if (list !== undefined) for (const listener of list) listener();
  }

  /** Seen as what the runtime takes: it reads only the members above. */
  get asSignal(): AbortSignal {
    return this as unknown as AbortSignal;
  }
}
