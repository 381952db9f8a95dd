/**
 * Event-stream subscribers for bench (g): real SSE clients over loopback HTTP, in the bench's
 * own process. A reader only counts bytes (the cheapest client that keeps up); a verifier parses
 * every frame and checks the ids; a slow one reads 1 KB every 100 ms; a stalled one never reads.
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createParser } from 'eventsource-parser';

export interface Tail {
  /** Events parsed, gaps among them, and what the gaps say was dropped. */
  events: number;
  gaps: number;
  dropped: number;
  /** Highest id seen (a gap's id is its last missed one). */
  lastId: number;
  /** Every id followed the one before it, or the gap that covered those between. */
  inOrder: boolean;
  bytes: number;
}

export interface Subscriber {
  readonly tail: Tail;
  /** Resolves when `lastId` reaches `id`, or after `maxMs` (check `tail.lastId`). */
  until(id: number, maxMs: number): Promise<void>;
  close(): void;
}

/** Parses frames into `tail`, checking that ids run on without a hole a gap does not name. */
function tracker(tail: Tail, parse: boolean): { feed(text: string): void; waiters: Waiter[] } {
  const waiters: Waiter[] = [];
  const parser = createParser({
    onEvent: (e) => {
      const id = Number(e.id);
      if (e.event === 'gap') {
        const gap = JSON.parse(e.data) as { dropped: number; from: number };
        tail.gaps++;
        tail.dropped += gap.dropped;
        if (tail.lastId !== 0 && gap.from !== tail.lastId + 1) tail.inOrder = false;
      } else {
        tail.events++;
        if (tail.lastId !== 0 && id !== tail.lastId + 1) tail.inOrder = false;
      }
      tail.lastId = id;
      for (const w of waiters.splice(0)) {
        if (tail.lastId >= w.id) w.resolve();
        else waiters.push(w);
      }
    },
  });
  return {
    waiters,
    feed(text) {
      tail.bytes += text.length;
      if (parse) parser.feed(text);
    },
  };
}

interface Waiter {
  id: number;
  resolve: () => void;
}

function waitFor(tail: Tail, waiters: Waiter[], id: number, maxMs: number): Promise<void> {
  if (tail.lastId >= id) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, maxMs);
    waiters.push({
      id,
      resolve: () => {
        clearTimeout(timer);
        resolve();
      },
    });
  });
}

const emptyTail = (): Tail => ({
  events: 0,
  gaps: 0,
  dropped: 0,
  lastId: 0,
  inOrder: true,
  bytes: 0,
});

/** A client that reads as fast as it can; `verify` parses each frame (from id 1 on). */
export function reader(url: string, verify: boolean): Promise<Subscriber> {
  const tail = emptyTail();
  const { feed, waiters } = tracker(tail, verify);
  return new Promise((resolve, reject) => {
    const req = request(verify ? `${url}?lastEventId=0` : url, { agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', feed);
      res.on('error', () => {});
      resolve({
        tail,
        until: (id, maxMs) => waitFor(tail, waiters, id, maxMs),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export interface RawSubscriber extends Subscriber {
  /** From now on, read everything as it comes. */
  readAll(): void;
}

/**
 * A raw HTTP/1.0 client (so the body is not chunked) that reads `bytes` every `everyMs`, or
 * nothing at all with `bytes` 0, until `readAll()`.
 */
export function rawReader(
  port: number,
  path: string,
  bytes: number,
  everyMs: number,
): Promise<RawSubscriber> {
  const tail = emptyTail();
  const { feed, waiters } = tracker(tail, true);
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    socket.pause();
    socket.on('error', () => {});
    let head = '';
    let inBody = false;
    const take = (text: string): void => {
      if (inBody) {
        feed(text);
        return;
      }
      head += text;
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      inBody = true;
      feed(head.slice(end + 4));
    };
    let ticker: NodeJS.Timeout | undefined;
    socket.once('connect', () => {
      socket.setEncoding('utf8');
      socket.write(`GET ${path} HTTP/1.0\r\nhost: 127.0.0.1\r\n\r\n`);
      if (bytes > 0) {
        ticker = setInterval(() => {
          const chunk = socket.read(bytes) as string | null;
          if (chunk !== null) take(chunk);
        }, everyMs);
      }
      resolve({
        tail,
        until: (id, maxMs) => waitFor(tail, waiters, id, maxMs),
        readAll: () => {
          clearInterval(ticker);
          for (let chunk = socket.read() as string | null; chunk !== null; chunk = socket.read()) {
            take(chunk);
          }
          socket.on('data', take);
          socket.resume();
        },
        close: () => {
          clearInterval(ticker);
          socket.destroy();
        },
      });
    });
    socket.once('error', reject);
  });
}
