/**
 * The append-only audit log: one JSON object per line, in the order things happened. Lines are
 * appended through one queue so concurrent writers never interleave.
 */
import { appendFile, readFile } from 'node:fs/promises';

export interface AuditEntry {
  ts: string;
  action: string;
  name: string;
  [key: string]: unknown;
}

export class AuditLog {
  readonly file: string;
  #queue: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
  }

  append(action: string, name: string, facts: Record<string, unknown> = {}): Promise<void> {
    const line = `${JSON.stringify({ ts: new Date().toISOString(), action, name, ...facts })}\n`;
    this.#queue = this.#queue
      .then(() => appendFile(this.file, line, { mode: 0o644 }))
      .catch(() => {});
    return this.#queue;
  }

  /** Waits for every append so far. */
  flush(): Promise<void> {
    return this.#queue;
  }

  /** Reads the log, skipping a torn last line left by a kill mid-append. */
  static async read(file: string): Promise<AuditEntry[]> {
    const text = await readFile(file, 'utf8').catch(() => '');
    const out: AuditEntry[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line) as AuditEntry);
      } catch {
        // a torn write: skip it
      }
    }
    return out;
  }
}
