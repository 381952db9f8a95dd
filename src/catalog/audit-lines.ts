/**
 * Reads the audit log a line at a time with bounded memory: a log is read whole only by a
 * stream, and a "line" of garbage with no newline in it is counted, never held.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** No line molt writes is longer (AuditLog bounds what it appends). */
export const MAX_LINE_BYTES = 1024 * 1024;

export interface RawLine {
  /** The line without its newline; undefined when it is longer than MAX_LINE_BYTES. */
  bytes: Buffer | undefined;
  /** Its length in bytes, without the newline. */
  length: number;
  /** False for a last line with no newline after it: a torn write. */
  terminated: boolean;
}

const NL = 0x0a;

/**
 * The lines of `file` in order, from byte `start` (a line's first byte); throws the stream's
 * error (ENOENT for a missing file).
 */
export async function* rawLines(file: string, start = 0): AsyncGenerator<RawLine> {
  const stream = createReadStream(file, { highWaterMark: 64 * 1024, start });
  let parts: Buffer[] = [];
  let length = 0;
  const take = (piece: Buffer): void => {
    length += piece.length;
    if (length <= MAX_LINE_BYTES) parts.push(piece);
    else parts = [];
  };
  const line = (terminated: boolean): RawLine => {
    const r = {
      bytes: length <= MAX_LINE_BYTES ? Buffer.concat(parts, length) : undefined,
      length,
      terminated,
    };
    parts = [];
    length = 0;
    return r;
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let from = 0;
      for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, from)) {
        take(chunk.subarray(from, nl));
        yield line(true);
        from = nl + 1;
      }
      if (from < chunk.length) take(chunk.subarray(from));
    }
    if (length > 0) yield line(false);
  } finally {
    stream.destroy();
  }
}

/** The last `bytes` bytes of a file of `size` bytes. */
export async function readEnd(file: string, size: number, bytes: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, size - bytes);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The last `n` whole lines of the first `size` bytes, read back from the end in growing pieces,
 * so memory stays near what is returned however long the file; `end` is where the last whole
 * line ends (a torn tail after it is left out).
 */
export async function lastLines(
  file: string,
  size: number,
  n: number,
): Promise<{ lines: string[]; end: number }> {
  if (size === 0) return { lines: [], end: 0 };
  let bytes = Math.min(size, 64 * 1024);
  for (;;) {
    const buf = await readEnd(file, size, bytes);
    const last = buf.lastIndexOf(NL);
    const whole = buf
      .subarray(0, last + 1)
      .toString('utf8')
      .split('\n')
      .slice(0, -1);
    // A piece that does not reach the file's start may begin mid-line: that line is not whole.
    const complete = bytes === size ? whole : whole.slice(1);
    if (complete.length >= n || bytes === size || bytes >= (n + 1) * MAX_LINE_BYTES) {
      return {
        lines: n === 0 ? [] : complete.slice(-n),
        end: last === -1 ? size - bytes : size - bytes + last + 1,
      };
    }
    bytes = Math.min(size, bytes * 4);
  }
}
