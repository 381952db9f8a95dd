/**
 * The newest event frames, with their ids, bounded by count and by characters: the one copy of
 * each frame that replay and every subscriber's queue read from. A subscriber is a cursor into
 * this log, so its queue costs no memory of its own and an append costs the same whatever the
 * number of subscribers.
 */
export class EventLog {
  readonly #capacity: number;
  readonly #maxChars: number;
  readonly #frames: string[];
  /** Characters appended up to and including the frame in that slot: sizes of any id range. */
  readonly #endAt: number[];
  /** Id of the oldest frame held; `#last + 1` when empty. */
  #first = 1;
  #last = 0;
  /** Characters appended in all, and held now. */
  #appended = 0;
  #chars = 0;

  constructor(capacity: number, maxChars: number) {
    this.#capacity = capacity;
    this.#maxChars = maxChars;
    this.#frames = new Array<string>(capacity);
    this.#endAt = new Array<number>(capacity).fill(0);
  }

  /** Id of the oldest frame held (`last + 1` when the log holds none). */
  get first(): number {
    return this.#first;
  }

  /** Id of the newest frame appended (0 before the first). */
  get last(): number {
    return this.#last;
  }

  /** Characters held. */
  get chars(): number {
    return this.#chars;
  }

  /** Appends the frame of event `last + 1`, evicting the oldest past either bound. */
  append(frame: string): void {
    const id = ++this.#last;
    const slot = id % this.#capacity;
    if (id - this.#first >= this.#capacity) this.#evict();
    this.#frames[slot] = frame;
    this.#appended += frame.length;
    this.#endAt[slot] = this.#appended;
    this.#chars += frame.length;
    // The newest frame always stays (no frame is longer than the bound: see EventStream).
    while (this.#chars > this.#maxChars && this.#first < this.#last) this.#evict();
  }

  /** The frame of `id`, which must be held (`first <= id <= last`). */
  frame(id: number): string {
    return this.#frames[id % this.#capacity] as string;
  }

  /** Characters of the frames from `id` (held, or `last + 1`) to the newest. */
  charsFrom(id: number): number {
    if (id > this.#last) return 0;
    const slot = id % this.#capacity;
    return this.#appended - (this.#endAt[slot] as number) + (this.#frames[slot] as string).length;
  }

  #evict(): void {
    const slot = this.#first % this.#capacity;
    this.#chars -= (this.#frames[slot] as string).length;
    this.#frames[slot] = '';
    this.#first++;
  }
}
