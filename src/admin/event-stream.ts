/**
 * `GET /v1/events`: every host event as Server-Sent Events, to any number of subscribers, none
 * of which can stall the host (G8).
 *
 * The host's emit only serializes the event once and appends it to a bounded log (EventLog); it
 * never touches a socket and costs the same with 0 or 100 subscribers. Each subscriber is a
 * cursor into that log. A flush, on a later turn and off the emit path (at most one every
 * `flushMs`: a socket write costs the host ~20 µs, so a flood is written in batches), writes
 * each one what it has not had yet, until its socket pushes back (`write()` returns false); it then waits for
 * 'drain'. A subscriber more than `buffer` events behind has overflowed: with `drop-oldest` it
 * skips to the newest `buffer` and is sent a `gap` event saying which ids it missed; with
 * `disconnect` its response is destroyed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { type Clock, systemClock, type Timer } from '../util/clock.js';
import { eventFrame, gapFrame, PING } from './event-frames.js';
import { EventLog } from './event-log.js';

/** Anything that reports every event it emits, synchronously (a `Host`, an `EventBus`). */
export interface AnyEventSource {
  onAny(listener: (event: string, payload: unknown) => void): () => void;
}

export type OverflowPolicy = 'drop-oldest' | 'disconnect';

export interface EventStreamOptions {
  /** Events a subscriber may be behind before it overflows (`--event-buffer`). */
  buffer?: number;
  /** What an overflow does to the subscriber (`--event-overflow`). */
  policy?: OverflowPolicy;
  /** How many of the newest events a reconnecting subscriber can get back (`Last-Event-ID`). */
  replay?: number;
  /** Subscribers at once; one more is answered 503 TOO_MANY_SUBSCRIBERS. */
  maxSubscribers?: number;
  /** Longest event, in characters of JSON; a longer payload is replaced by a marker. */
  maxEventChars?: number;
  /** Characters of frames held for replay and for subscribers behind, all together. */
  maxChars?: number;
  /** Least time between two flushes: under a flood, one write per subscriber per `flushMs`. */
  flushMs?: number;
  /** How often an idle stream gets a `: ping` comment (0: never). */
  heartbeatMs?: number;
  /** Arms the flush and heartbeat timers (tests pass a manual clock). */
  clock?: Clock;
}

interface Resolved {
  buffer: number;
  policy: OverflowPolicy;
  replay: number;
  maxSubscribers: number;
  maxEventChars: number;
  maxChars: number;
  flushMs: number;
  heartbeatMs: number;
}

/** What one subscriber holds: exposed so tests and metrics can check the bounds. */
export interface SubscriberQueue {
  /** Events it is behind (never more than `buffer` after a flush). */
  queued: number;
  /** Characters of those events (they live in the shared log, not in the subscriber). */
  chars: number;
  /** Its socket pushed back and it waits for 'drain'. */
  waiting: boolean;
  /** Events it lost to overflow. */
  dropped: number;
}

const RANGES = {
  buffer: [1, 1_000_000],
  replay: [0, 1_000_000],
  maxSubscribers: [1, 100_000],
  maxEventChars: [1_024, 64 * 1024 * 1024],
  maxChars: [1_024, 1024 * 1024 * 1024],
  flushMs: [0, 10_000],
  heartbeatMs: [0, 3_600_000],
} as const satisfies Record<string, readonly [number, number]>;

const DEFAULTS: Resolved = {
  buffer: 1_000,
  policy: 'drop-oldest',
  replay: 1_000,
  maxSubscribers: 100,
  maxEventChars: 64 * 1024,
  maxChars: 16 * 1024 * 1024,
  flushMs: 50,
  heartbeatMs: 15_000,
};

/** A write of at most about this many characters, so a socket's buffer holds one at most. */
const CHUNK_CHARS = 64 * 1024;
/** Longest `Last-Event-ID` read: 16 digits hold every safe integer. */
const MAX_ID_DIGITS = 16;

class Subscriber {
  /** Id of the next event to write. */
  cursor: number;
  /** Ids missed and not yet reported with a `gap` frame. */
  gap: { from: number; to: number } | undefined;
  waiting = false;
  dropped = 0;

  constructor(
    readonly res: ServerResponse,
    cursor: number,
  ) {
    this.cursor = cursor;
  }

  /** Ids `from`…`to` will not be written: the next write starts with a `gap` frame. */
  skip(from: number, to: number): void {
    // Ids are skipped in order and only from the cursor on, so a pending gap just grows.
    if (this.gap === undefined) this.gap = { from, to };
    else this.gap.to = to;
    this.cursor = to + 1;
  }
}

export class EventStream {
  readonly #options: Resolved;
  readonly #clock: Clock;
  readonly #log: EventLog;
  readonly #subscribers = new Set<Subscriber>();
  readonly #unsubscribe: () => void;
  #flushScheduled = false;
  #flushedAt = Number.NEGATIVE_INFINITY;
  #heartbeat: Timer | undefined;
  #dropped = 0;
  #closed = false;

  constructor(source: AnyEventSource, options: EventStreamOptions = {}) {
    this.#options = resolve(options);
    this.#clock = options.clock ?? systemClock;
    const { buffer, replay, maxChars } = this.#options;
    this.#log = new EventLog(Math.max(buffer, replay, 1), maxChars);
    this.#unsubscribe = source.onAny((event, payload) => this.#append(event, payload));
  }

  /** Subscribers connected now. */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Events dropped over all subscribers since the stream started (gaps, disconnects). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Id of the newest event (0 before the first). */
  get lastId(): number {
    return this.#log.last;
  }

  /** Characters of frames held by the shared log: every subscriber's queue lives in it. */
  get heldChars(): number {
    return this.#log.chars;
  }

  /** Each subscriber's queue, as of now. */
  queues(): SubscriberQueue[] {
    const last = this.#log.last;
    return [...this.#subscribers].map((s) => ({
      queued: Math.max(0, last - s.cursor + 1),
      chars: s.cursor < this.#log.first ? this.#log.chars : this.#log.charsFrom(s.cursor),
      waiting: s.waiting,
      dropped: s.dropped,
    }));
  }

  /**
   * Answers `GET /v1/events` (the caller has checked who asks): a `text/event-stream` of every
   * event from now on, after those past `Last-Event-ID` (or `?lastEventId=`) that the log still
   * holds, with a `gap` first for those it no longer does. Never throws.
   */
  serve(req: IncomingMessage, res: ServerResponse): void {
    try {
      if (this.#closed) {
        refuse(res, 503, ErrorCodes.HOST_CLOSED, 'the event stream is closed');
        return;
      }
      if (this.#subscribers.size >= this.#options.maxSubscribers) {
        refuse(
          res,
          503,
          ErrorCodes.TOO_MANY_SUBSCRIBERS,
          `the event stream already has ${this.#options.maxSubscribers} subscribers`,
        );
        return;
      }
      const after = lastEventId(req);
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        // nginx buffers responses unless told not to: events would arrive in lumps.
        'x-accel-buffering': 'no',
      });
      res.flushHeaders();
      const sub = this.#subscribe(res, after);
      res.on('close', () => this.#remove(sub));
      // A reset connection emits 'error' and then 'close', which removes the subscriber.
      res.on('error', () => {});
      req.on('error', () => {});
      if (sub.gap !== undefined || sub.cursor <= this.#log.last) this.#flush(sub);
    } catch (err) {
      if (res.headersSent) res.destroy();
      else if (err instanceof MoltError) refuse(res, 400, err.code, err.message);
      else refuse(res, 500, ErrorCodes.INTERNAL, String(err));
    }
  }

  /** Ends every stream and stops listening to the host. Safe to call more than once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#heartbeat?.clear();
    for (const sub of this.#subscribers) {
      // A stalled client would never read the end of its response: it is cut instead.
      if (sub.waiting) sub.res.destroy();
      else sub.res.end();
    }
    this.#subscribers.clear();
  }

  #append(event: string, payload: unknown): void {
    this.#log.append(eventFrame(this.#log.last + 1, event, payload, this.#options.maxEventChars));
    if (this.#subscribers.size > 0) this.#scheduleFlush();
  }

  #subscribe(res: ServerResponse, after: number | undefined): Subscriber {
    const log = this.#log;
    const live = log.last + 1;
    const sub = new Subscriber(res, live);
    if (after !== undefined) {
      // An id past the newest comes from an earlier run of the host (ids restart at 1): all
      // of this run's events are news to it.
      const from = after >= log.last ? (after === log.last ? live : 1) : after + 1;
      const oldest = Math.max(
        log.first,
        live - Math.min(this.#options.replay, this.#options.buffer),
      );
      // Missed while it was away, not dropped: `dropped` counts only overflows.
      sub.cursor = from;
      if (from < oldest) sub.skip(from, oldest - 1);
    }
    this.#subscribers.add(sub);
    if (this.#heartbeat === undefined && this.#options.heartbeatMs > 0) this.#armHeartbeat();
    return sub;
  }

  #remove(sub: Subscriber): void {
    this.#subscribers.delete(sub);
  }

  /**
   * Flushes on the next turn, or, within `flushMs` of the last flush, when that much has passed:
   * a lone event goes out at once, a flood in at most one write per subscriber per `flushMs`.
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    const run = (): void => {
      this.#flushScheduled = false;
      if (this.#closed) return;
      this.#flushedAt = this.#clock.now();
      for (const sub of this.#subscribers) this.#flush(sub);
    };
    const wait = this.#flushedAt + this.#options.flushMs - this.#clock.now();
    if (wait <= 0 || this.#options.flushMs === 0) setImmediate(run);
    else this.#clock.setTimeout(run, wait);
  }

  /** Applies the overflow policy, then writes what `sub` has not had yet, until it pushes back. */
  #flush(sub: Subscriber): void {
    const log = this.#log;
    const oldest = Math.max(log.first, log.last + 1 - this.#options.buffer);
    if (sub.cursor < oldest) {
      const missed = oldest - sub.cursor;
      sub.dropped += missed;
      this.#dropped += missed;
      if (this.#options.policy === 'disconnect') {
        this.#remove(sub);
        sub.res.destroy();
        return;
      }
      sub.skip(sub.cursor, oldest - 1);
    }
    for (;;) {
      if (sub.waiting || sub.res.destroyed || sub.res.writableEnded) return;
      let chunk = '';
      if (sub.gap !== undefined) {
        chunk = gapFrame(sub.gap.from, sub.gap.to);
        sub.gap = undefined;
      }
      while (sub.cursor <= log.last && chunk.length < CHUNK_CHARS) {
        chunk += log.frame(sub.cursor++);
      }
      if (chunk === '') return;
      this.#write(sub, chunk);
    }
  }

  /** Writes to `sub`'s socket; when it pushes back, `sub` waits for 'drain' before the next. */
  #write(sub: Subscriber, text: string): void {
    if (sub.res.write(text)) return;
    sub.waiting = true;
    sub.res.once('drain', () => {
      sub.waiting = false;
      if (!this.#closed && this.#subscribers.has(sub)) this.#flush(sub);
    });
  }

  #armHeartbeat(): void {
    this.#heartbeat = this.#clock.setTimeout(() => {
      this.#heartbeat = undefined;
      if (this.#closed || this.#subscribers.size === 0) return;
      for (const sub of this.#subscribers) {
        if (!sub.waiting && !sub.res.destroyed && !sub.res.writableEnded) this.#write(sub, PING);
      }
      this.#armHeartbeat();
    }, this.#options.heartbeatMs);
  }
}

/** Answers with `{ error: { code, message } }`, as every molt HTTP door does. */
function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The `Last-Event-ID` header, else the `lastEventId` query parameter; undefined when neither. */
function lastEventId(req: IncomingMessage): number | undefined {
  const header = req.headers['last-event-id'];
  let text = typeof header === 'string' && header !== '' ? header : undefined;
  if (text === undefined) {
    const query = (req.url ?? '').indexOf('?');
    if (query >= 0) {
      const param = new URLSearchParams((req.url ?? '').slice(query + 1)).get('lastEventId');
      if (param !== null && param !== '') text = param;
    }
  }
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (trimmed.length > MAX_ID_DIGITS || !/^\d+$/.test(trimmed)) {
    throw new MoltError(
      ErrorCodes.INVALID_REQUEST,
      `Last-Event-ID must be an event id (digits), not ${JSON.stringify(text.slice(0, 40))}`,
    );
  }
  return Number(trimmed);
}

function resolve(o: EventStreamOptions): Resolved {
  const out: Resolved = { ...DEFAULTS };
  for (const key of Object.keys(RANGES) as (keyof typeof RANGES)[]) {
    const value = o[key];
    if (value === undefined) continue;
    const [min, max] = RANGES[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new MoltError(
        ErrorCodes.OPTIONS_INVALID,
        `${key} must be an integer from ${min} to ${max}, not ${String(value)}`,
        { details: { option: key, value, min, max } },
      );
    }
    out[key] = value;
  }
  if (o.policy !== undefined) {
    if (o.policy !== 'drop-oldest' && o.policy !== 'disconnect') {
      throw new MoltError(
        ErrorCodes.OPTIONS_INVALID,
        `policy must be "drop-oldest" or "disconnect", not ${JSON.stringify(o.policy)}`,
        { details: { option: 'policy', value: o.policy } },
      );
    }
    out.policy = o.policy;
  }
  if (out.maxChars < out.maxEventChars) {
    throw new MoltError(
      ErrorCodes.OPTIONS_INVALID,
      `maxChars (${out.maxChars}) must be at least maxEventChars (${out.maxEventChars})`,
      { details: { option: 'maxChars', value: out.maxChars } },
    );
  }
  return out;
}
