/**
 * The append-only audit log: one JSON object per line, in the order things happened, each
 * chained to the one before by its hash (audit-chain.ts) so an edit, a deleted line or a swapped
 * pair is detectable (audit-verify.ts). Lines are appended through one queue so concurrent
 * writers never interleave and each line's `seq` and `prev` follow the line written before it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, stat, truncate } from 'node:fs/promises';
import { hashOf, isChained, plain, ZERO_HASH } from './audit-chain.js';
import { lastLines, MAX_LINE_BYTES, rawLines } from './audit-lines.js';
import { offsetAfter } from './audit-seek.js';
import { readTail } from './audit-tail.js';

export interface AuditEntry {
  seq: number;
  ts: string;
  action: string;
  name: string;
  prev: string;
  hash: string;
  [key: string]: unknown;
}

/** The `name` of the log's own entries: no plugin can be called that. */
export const AUDIT_SELF = '-';

interface Head {
  seq: number;
  hash: string;
}

export class AuditLog {
  readonly file: string;
  #queue: Promise<void> = Promise.resolve();
  /** The last line written; undefined until the file's tail is read, and after a failed write. */
  #head: Head | undefined;

  constructor(file: string) {
    this.file = file;
  }

  /** Opens a log, repairing a torn tail and continuing its chain before anything is appended. */
  static async open(file: string): Promise<AuditLog> {
    const log = new AuditLog(file);
    log.#enqueue(async () => {
      await log.#ready();
    });
    await log.flush();
    return log;
  }

  append(action: string, name: string, facts: Record<string, unknown> = {}): Promise<void> {
    return this.#enqueue(async () => {
      const head = await this.#ready();
      this.#head = await this.#write(head, action, name, facts);
    });
  }

  /** Waits for every append so far. */
  flush(): Promise<void> {
    return this.#queue;
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    // An audit write never fails a caller; a failed one is read back from the file next time
    // (a partial line it left is cut then, and said so).
    this.#queue = this.#queue.then(step).catch(() => {
      this.#head = undefined;
    });
    return this.#queue;
  }

  async #ready(): Promise<Head> {
    if (this.#head !== undefined) return this.#head;
    const size = (await stat(this.file).catch(() => undefined))?.size ?? 0;
    if (size === 0) {
      this.#head = { seq: 0, hash: ZERO_HASH };
      return this.#head;
    }
    const tail = await readTail(this.file, size);
    if (tail.keep < size) await truncate(this.file, tail.keep);
    let head: Head;
    if (isChained(tail.last)) head = { seq: tail.last.seq, hash: tail.last.hash };
    else if (tail.keep === 0) head = { seq: 0, hash: ZERO_HASH };
    else {
      // Lines of an older molt (or a tail too damaged to read): the chain starts after them,
      // its first `prev` the sha256 of every byte before it, so they cannot change unnoticed.
      const prefix = await sha256File(this.file);
      head = await this.#write({ seq: 0, hash: prefix }, 'audit.chainStarted', AUDIT_SELF, {
        bytesBefore: tail.keep,
      });
    }
    if (tail.keep < size) {
      head = await this.#write(head, 'audit.repaired', AUDIT_SELF, {
        cutBytes: size - tail.keep,
      });
    }
    this.#head = head;
    return head;
  }

  async #write(
    head: Head,
    action: string,
    name: string,
    facts: Record<string, unknown>,
  ): Promise<Head> {
    let line = chainLine(head, action, name, facts);
    if (Buffer.byteLength(line.text) > MAX_LINE_BYTES) {
      line = chainLine(head, action, name, { factsOmitted: Buffer.byteLength(line.text) });
    }
    await appendFile(this.file, line.text, { mode: 0o644 });
    return { seq: line.seq, hash: line.hash };
  }

  /**
   * Reads entries in order, skipping lines that are not JSON (a torn last line): those with
   * `seq > after` (lines of an older molt, without one, only when `after` is not given), at
   * most `limit` of them. Streams the file: memory holds one line and the page.
   */
  static async read(
    file: string,
    options: { after?: number; limit?: number } = {},
  ): Promise<AuditEntry[]> {
    const { after, limit = Number.POSITIVE_INFINITY } = options;
    const out: AuditEntry[] = [];
    if (limit <= 0) return out;
    try {
      // Entries after a seq start where a bisection of the file says, not at its first byte.
      const start = after === undefined ? 0 : await offsetAfter(file, after);
      for await (const l of rawLines(file, start)) {
        if (l.bytes === undefined || !l.terminated) continue;
        const e = entryOf(l.bytes.toString('utf8'));
        if (e === undefined) continue;
        const seq = e.seq;
        if (after !== undefined && !(typeof seq === 'number' && seq > after)) continue;
        out.push(e);
        if (out.length >= limit) break;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return out;
  }

  /** The newest `n` chained entries, oldest first, read back from the file's end. */
  static async readLast(file: string, n: number): Promise<AuditEntry[]> {
    const size = (await stat(file).catch(() => undefined))?.size ?? 0;
    const { lines } = await lastLines(file, size, n);
    return lines
      .map(entryOf)
      .filter((e): e is AuditEntry => e !== undefined && typeof e.seq === 'number');
  }
}

function entryOf(text: string): AuditEntry | undefined {
  let e: unknown;
  try {
    e = JSON.parse(text);
  } catch {
    return undefined;
  }
  return e === null || typeof e !== 'object' || Array.isArray(e) ? undefined : (e as AuditEntry);
}

function chainLine(
  head: Head,
  action: string,
  name: string,
  facts: Record<string, unknown>,
): { text: string; seq: number; hash: string } {
  const seq = head.seq + 1;
  const { seq: _s, ts: _t, action: _a, name: _n, prev: _p, hash: _h, ...rest } = facts;
  const entry = plain({
    seq,
    ts: new Date().toISOString(),
    action,
    name,
    ...rest,
    prev: head.hash,
  }) as Record<string, unknown>;
  const hash = hashOf(entry);
  return { text: `${JSON.stringify({ ...entry, hash })}\n`, seq, hash };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest('hex');
}
