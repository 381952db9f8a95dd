/**
 * Server-Sent Events clients for tests: one that reads as fast as it can (parsed by
 * eventsource-parser, an implementation of the spec's parsing rules independent of molt's
 * writer), and a raw socket that sends its GET and then does not read until told to.
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface SseClient {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly events: EventSourceMessage[];
  readonly comments: string[];
  /** The body as text (an error answer's JSON). */
  readonly body: () => string;
  /** Resolves once `done(events)` holds; rejects if the stream ends first. */
  until(done: (events: EventSourceMessage[]) => boolean): Promise<void>;
  /** Resolves when the server ends or cuts the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

interface Waiter {
  done: (events: EventSourceMessage[]) => boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Collects events and comments from text fed to it; `until` waits on them. */
class Collector {
  readonly events: EventSourceMessage[] = [];
  readonly comments: string[] = [];
  text = '';
  #waiters: Waiter[] = [];
  #ended = false;
  readonly #parser = createParser({
    onEvent: (e) => {
      this.events.push(e);
      this.#check();
    },
    onComment: (c) => {
      this.comments.push(c.trim());
      this.#check();
    },
  });

  feed(chunk: string): void {
    // Kept for error answers (small JSON); a long stream is only parsed.
    if (this.text.length < 65_536) this.text += chunk.slice(0, 65_536 - this.text.length);
    this.#parser.feed(chunk);
  }

  end(): void {
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) {
      if (w.done(this.events)) w.resolve();
      else w.reject(new Error(`the stream ended after ${this.events.length} events`));
    }
  }

  until(done: (events: EventSourceMessage[]) => boolean): Promise<void> {
    if (done(this.events)) return Promise.resolve();
    if (this.#ended) return Promise.reject(new Error('the stream has ended'));
    return new Promise((resolve, reject) => this.#waiters.push({ done, resolve, reject }));
  }

  #check(): void {
    const ready = this.#waiters.filter((w) => w.done(this.events));
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }
}

/** A GET that reads the whole stream as it comes; resolves once the answer's head arrived. */
export function sseConnect(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolveClient, reject) => {
    const req = request(url, { headers }, (res) => {
      const collector = new Collector();
      const ended = new Promise<void>((resolve) => {
        res.on('close', () => {
          collector.end();
          resolve();
        });
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => collector.feed(chunk));
      res.on('error', () => {});
      resolveClient({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events: collector.events,
        comments: collector.comments,
        body: () => collector.text,
        until: (done) => collector.until(done),
        ended,
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export interface StalledClient {
  readonly socket: Socket;
  /** What it read once resumed, parsed. */
  readonly events: EventSourceMessage[];
  /** Starts reading (everything the server sent and sends). */
  resume(): void;
  until(done: (events: EventSourceMessage[]) => boolean): Promise<void>;
  /** Resolves when the socket closes (once it is read, a close by the server is seen). */
  readonly closed: Promise<void>;
}

/**
 * A raw socket that sends `GET path` and reads nothing until `resume()`: the kernel's buffers
 * fill and the server's writes start to push back. HTTP/1.0, so the body is not chunked.
 */
export function stalledConnect(port: number, path: string): Promise<StalledClient> {
  return new Promise((resolveClient, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.pause();
    const collector = new Collector();
    const closed = new Promise<void>((resolve) =>
      socket.on('close', () => {
        collector.end();
        resolve();
      }),
    );
    socket.on('error', () => {});
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.0\r\nhost: 127.0.0.1\r\n\r\n`);
      let head = '';
      let inBody = false;
      socket.setEncoding('utf8');
      resolveClient({
        socket,
        events: collector.events,
        resume: () => {
          socket.on('data', (chunk: string) => {
            if (inBody) return collector.feed(chunk);
            head += chunk;
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return;
            inBody = true;
            collector.feed(head.slice(end + 4));
          });
          socket.resume();
        },
        until: (done) => collector.until(done),
        closed,
      });
    });
    socket.once('error', reject);
  });
}
