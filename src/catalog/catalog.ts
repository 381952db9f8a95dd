/**
 * The durable record of what is installed, active, known-good and pending delete. Every change
 * rewrites the whole (small) file atomically, serialized through one queue, so the file on
 * disk is always one consistent version of the record.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { type AtomicHooks, isAtomicTemp, writeFileAtomic } from '../util/durable.js';

export interface VersionKey {
  version: string;
  buildId: string;
}

export interface InstalledVersion extends VersionKey {
  installedAt: string;
  /**
   * sha256 of the artifact's `molt.json` as the store accepted it: a load refuses a store folder
   * whose manifest changed since (absent in records written before it was kept).
   */
  manifestSha256?: string;
}

export interface PluginRecord {
  installed: InstalledVersion[];
  active: VersionKey | null;
  knownGood: VersionKey | null;
  pendingDelete: VersionKey[];
}

export interface CatalogData {
  format: 1;
  plugins: Record<string, PluginRecord>;
}

export const sameKey = (
  a: VersionKey | null | undefined,
  b: VersionKey | null | undefined,
): boolean => a != null && b != null && a.version === b.version && a.buildId === b.buildId;

export class Catalog {
  readonly file: string;
  #data: CatalogData;
  #queue: Promise<void> = Promise.resolve();
  readonly #hooks: AtomicHooks;

  private constructor(file: string, data: CatalogData, hooks: AtomicHooks) {
    this.file = file;
    this.#data = data;
    this.#hooks = hooks;
  }

  /** Opens the catalog, removing temp files a killed writer left behind. */
  static async open(file: string, hooks: AtomicHooks = {}): Promise<Catalog> {
    const dir = dirname(file);
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (isAtomicTemp(file, name)) await rm(join(dir, name), { force: true });
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return new Catalog(file, { format: 1, plugins: {} }, hooks);
      throw err;
    }
    let data: CatalogData;
    try {
      data = JSON.parse(text) as CatalogData;
      if (data.format !== 1 || typeof data.plugins !== 'object' || data.plugins === null)
        throw new Error('unknown format');
    } catch (err) {
      throw new MoltError(
        ErrorCodes.CATALOG_CORRUPT,
        `${file} cannot be read: ${(err as Error).message}`,
        {
          cause: err,
          details: { path: file },
        },
      );
    }
    return new Catalog(file, data, hooks);
  }

  /** A deep copy: callers never hold a reference into the live record. */
  get data(): CatalogData {
    return structuredClone(this.#data);
  }

  plugin(name: string): PluginRecord | undefined {
    if (!Object.hasOwn(this.#data.plugins, name)) return undefined;
    return structuredClone(this.#data.plugins[name]);
  }

  /** Applies `change` to a copy of the record and persists it; the live record moves only once it is on disk. */
  update(change: (data: CatalogData) => void, hooks: AtomicHooks = this.#hooks): Promise<void> {
    const run = this.#queue.then(async () => {
      const next = structuredClone(this.#data);
      change(next);
      await writeFileAtomic(this.file, `${JSON.stringify(next, null, 2)}\n`, 0o644, hooks);
      this.#data = next;
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}

export function record(data: CatalogData, name: string): PluginRecord {
  // Own properties only: `constructor` is a valid plugin name and Object.prototype's too.
  if (!Object.hasOwn(data.plugins, name)) {
    data.plugins[name] = { installed: [], active: null, knownGood: null, pendingDelete: [] };
  }
  return data.plugins[name] as PluginRecord;
}
