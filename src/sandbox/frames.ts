/**
 * Framing for a process sandbox's channel: each message is a 4-byte big-endian length and the
 * V8 serialization of the value (structured clone, as between workers). The reader checks the
 * length before it buffers a byte of the body, so a sandbox cannot make the host hold a
 * message larger than the cap.
 */
import { deserialize, serialize } from 'node:v8';

const HEADER = 4;

/** One framed message; throws (a DataCloneError) if the value cannot be serialized. */
export function encodeFrame(value: unknown): Buffer {
  const body = serialize(value);
  const frame = Buffer.allocUnsafe(HEADER + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, HEADER);
  return frame;
}

export class FrameReader {
  /** The cap; the owner may change it as it learns what the sandbox may send. */
  maxBytes: number;
  readonly #onMessage: (msg: unknown) => void;
  readonly #onError: (reason: string) => void;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the frame being read, once its header is in. */
  #need = -1;
  #failed = false;

  constructor(
    maxBytes: number,
    onMessage: (msg: unknown) => void,
    onError: (reason: string) => void,
  ) {
    this.maxBytes = maxBytes;
    this.#onMessage = onMessage;
    this.#onError = onError;
  }

  push(chunk: Buffer): void {
    if (this.#failed) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < HEADER) return;
        this.#need = this.#take(HEADER).readUInt32BE(0);
        if (this.#need > this.maxBytes) {
          this.#fail(`a frame of ${this.#need} bytes, over the cap of ${this.maxBytes}`);
          return;
        }
      }
      if (this.#buffered < this.#need) return;
      const body = this.#take(this.#need);
      this.#need = -1;
      let msg: unknown;
      try {
        msg = deserialize(body);
      } catch (err) {
        this.#fail(`a frame that does not deserialize: ${(err as Error).message}`);
        return;
      }
      this.#onMessage(msg);
      if (this.#failed) return;
    }
  }

  #fail(reason: string): void {
    this.#failed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#onError(reason);
  }

  /** The next `n` buffered bytes, copied only when they span chunks. */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0]!;
      const part = Math.min(c.length, n - at);
      c.copy(out, at, 0, part);
      at += part;
      if (part === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(part);
    }
    return out;
  }
}
