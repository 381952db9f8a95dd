/**
 * Checkpoints of a stateful plugin's state: the newest kept in memory by its slot, and, when the
 * host has a data folder, on disk at `<data>/state/<name>.json` (written aside, fsynced,
 * renamed), so state survives a restart of the host. A file that cannot be read is never
 * dropped silently: it is moved aside as `<name>.json.rejected-<time>`.
 */
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/durable.js';

export interface Checkpoint {
  state: unknown;
  stateVersion: number;
  /** The version and build that took it. */
  version: string;
  buildId: string;
  /** Wall-clock time it was taken (ms since the epoch), for its age after a restart. */
  takenAt: number;
}

/** Largest checkpoint file read back: a state larger than this is refused, not loaded. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

export type ReadCheckpoint =
  | { kind: 'none' }
  | { kind: 'found'; checkpoint: Checkpoint }
  | { kind: 'unreadable'; reason: string };

export class CheckpointFiles {
  readonly #dir: string;

  constructor(dataDir: string) {
    this.#dir = join(dataDir, 'state');
  }

  path(name: string): string {
    return join(this.#dir, `${name}.json`);
  }

  /** Writes `cp` atomically; resolves with its size in bytes. Throws if the state is not JSON. */
  async write(name: string, cp: Checkpoint): Promise<number> {
    const text = JSON.stringify({ name, ...cp });
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path(name), text, 0o600);
    return Buffer.byteLength(text);
  }

  async read(name: string): Promise<ReadCheckpoint> {
    let text: string;
    try {
      const bytes = await readFile(this.path(name));
      if (bytes.length > MAX_FILE_BYTES) {
        return { kind: 'unreadable', reason: `larger than ${MAX_FILE_BYTES} bytes` };
      }
      text = bytes.toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
      return { kind: 'unreadable', reason: (err as Error).message };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return { kind: 'unreadable', reason: `not JSON: ${(err as Error).message}` };
    }
    const cp = parsed as Record<string, unknown> | null;
    if (
      typeof cp !== 'object' ||
      cp === null ||
      cp.name !== name ||
      !Number.isSafeInteger(cp.stateVersion) ||
      typeof cp.version !== 'string' ||
      typeof cp.buildId !== 'string' ||
      typeof cp.takenAt !== 'number' ||
      !('state' in cp)
    ) {
      return { kind: 'unreadable', reason: 'not a checkpoint of this plugin' };
    }
    return {
      kind: 'found',
      checkpoint: {
        state: cp.state,
        stateVersion: cp.stateVersion as number,
        version: cp.version,
        buildId: cp.buildId,
        takenAt: cp.takenAt,
      },
    };
  }

  /** Moves the file aside (never deletes it); resolves with where it went. */
  async reject(name: string, now = Date.now()): Promise<string> {
    const aside = `${this.path(name)}.rejected-${now}`;
    await rename(this.path(name), aside);
    return aside;
  }
}
