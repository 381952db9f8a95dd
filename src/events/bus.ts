/**
 * A typed event bus. Delivery is synchronous and a throwing listener never stops delivery to
 * the others (its error goes to the `onListenerError` hook), so no subscriber can break a reload.
 */
export type Listener<T> = (event: T) => void;

/** A listener of every event: its name, then its payload. */
export type AnyListener<Events extends object> = <K extends keyof Events>(
  event: K,
  payload: Events[K],
) => void;

export class EventBus<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();
  readonly #any = new Set<AnyListener<Events>>();
  readonly #onListenerError: (err: unknown, event: keyof Events) => void;

  constructor(onListenerError: (err: unknown, event: keyof Events) => void) {
    this.#onListenerError = onListenerError;
  }

  /** Subscribes; returns the function that unsubscribes. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /**
   * Subscribes to every event (a front door's stream, say); returns the function that
   * unsubscribes. Called before the event's own listeners, so a listener that emits another
   * event from inside its callback cannot reorder the two as every-event listeners see them.
   */
  onAny(listener: AnyListener<Events>): () => void {
    this.#any.add(listener);
    return () => {
      this.#any.delete(listener);
    };
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (e) => {
      off();
      listener(e);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    // The cheap path, taken by most emits: nobody listens to everything.
    if (this.#any.size > 0) {
      for (const listener of [...this.#any]) {
        try {
          listener(event, payload);
        } catch (err) {
          this.#onListenerError(err, event);
        }
      }
    }
    const set = this.#listeners.get(event);
    if (set === undefined || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (err) {
        this.#onListenerError(err, event);
      }
    }
  }
}
