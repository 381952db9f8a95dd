import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import semver from 'semver';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { readManifest, readManifestFile } from '../manifest/manifest.js';
import { syncDir } from '../util/durable.js';
import { copyDir } from './copy-dir.js';
import { extractZip } from './extract-zip.js';
import { resolveLimits, type StoreLimits } from './limits.js';
import { DIR_MODE, errno, removeTree, sealFolders } from './store-fs.js';
import { storeFolderName } from './store-key.js';
import { treeDigest, verifyArtifact } from './verify.js';

export interface StoredArtifact {
  name: string;
  version: string;
  buildId: string;
  /** Absolute path of the artifact's folder in the store. */
  dir: string;
  /** sha256 of its `molt.json`: with the buildId, what a later load checks the folder against. */
  manifestSha256: string;
}

/** Where interrupted accepts and removals leave their work; never holds a live artifact. */
export const STORE_TMP_DIR = '.tmp';

const WRITABLE_DIR_MODE = 0o755;

/**
 * The host's content-addressed, immutable copy of every accepted artifact, laid out as
 * `<root>/<name>/<version>-<buildId first 12 hex>/`.
 *
 * An artifact is built in `<root>/.tmp/` and appears under its key with one `rename`, so a
 * reader (or a crash) sees either nothing or the whole verified artifact.
 */
export class Store {
  readonly root: string;
  readonly limits: StoreLimits;
  readonly #tmpRoot: string;
  /** Temp folders of this instance's accepts and removals still under way, spared by sweep(). */
  readonly #busy = new Set<string>();

  constructor(root: string, limits?: Partial<StoreLimits>) {
    this.root = resolve(root);
    this.limits = resolveLimits(limits);
    this.#tmpRoot = join(this.root, STORE_TMP_DIR);
  }

  path(name: string, version: string, buildId: string): string {
    return join(this.root, name, storeFolderName(name, version, buildId));
  }

  /** Accepts a `.molt` zip file or an artifact folder; idempotent: the same artifact again returns the existing entry. */
  async accept(source: string): Promise<StoredArtifact> {
    const src = resolve(source);
    // The path the caller names is followed if it is a link; links inside the artifact are not.
    const stats = await stat(src).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') {
        throw new MoltError(ErrorCodes.ARTIFACT_NOT_FOUND, `${src} does not exist`, { cause: err });
      }
      throw err;
    });
    if (!stats.isFile() && !stats.isDirectory()) {
      throw new MoltError(ErrorCodes.ARCHIVE_CORRUPT, `${src} is neither a file nor a folder`);
    }
    const tmp = await this.#makeTemp();
    let placed = false;
    try {
      if (stats.isDirectory()) await copyDir(src, tmp, this.limits);
      else await extractZip(src, tmp, this.limits);
      const { manifest, manifestSha256 } = await verifyArtifact(tmp);
      const { name, version, buildId } = manifest;
      const dir = this.path(name, version, buildId);
      const stored: StoredArtifact = { name, version, buildId, dir, manifestSha256 };
      if (await isDir(dir)) {
        await this.#assertSame(tmp, stored);
        return stored;
      }
      await sealFolders(tmp);
      placed = await this.#place(tmp, dir);
      if (!placed) {
        await this.#assertSame(tmp, stored);
        return stored;
      }
      await chmod(dir, DIR_MODE);
      await syncDir(dirname(dir));
      return stored;
    } finally {
      if (!placed) await removeTree(tmp);
      this.#busy.delete(tmp);
    }
  }

  async has(name: string, version: string, buildId: string): Promise<boolean> {
    const dir = this.path(name, version, buildId);
    try {
      const manifest = await readManifest(dir);
      return manifest.name === name && manifest.version === version && manifest.buildId === buildId;
    } catch {
      return false;
    }
  }

  async remove(name: string, version: string, buildId: string): Promise<void> {
    const dir = this.path(name, version, buildId);
    const tmp = await this.#makeTemp(false);
    try {
      // Moved out first so that a crash mid-delete leaves a temp folder for sweep(), never a
      // half-deleted artifact under a live key. Moving a folder needs write access to it.
      try {
        await chmod(dir, WRITABLE_DIR_MODE);
        await rename(dir, tmp);
      } catch (err) {
        if (errno(err) === 'ENOENT') return;
        throw err;
      }
      await syncDir(dirname(dir));
    } finally {
      await removeTree(tmp);
      this.#busy.delete(tmp);
    }
  }

  async list(): Promise<StoredArtifact[]> {
    const found: StoredArtifact[] = [];
    for (const name of await subfolders(this.root)) {
      if (name.startsWith('.')) continue;
      for (const folder of await subfolders(join(this.root, name))) {
        const dir = join(this.root, name, folder);
        try {
          const { manifest: m, sha256 } = await readManifestFile(dir);
          // A folder whose manifest does not match its key was not written by accept(): skipping
          // it keeps one stray folder from hiding every other artifact from the host.
          if (m.name !== name || storeFolderName(m.name, m.version, m.buildId) !== folder) continue;
          found.push({
            name: m.name,
            version: m.version,
            buildId: m.buildId,
            dir,
            manifestSha256: sha256,
          });
        } catch {}
      }
    }
    return found.sort(
      (a, b) => cmp(a.name, b.name) || semver.compare(a.version, b.version) || cmp(a.dir, b.dir),
    );
  }

  /** Removes leftovers of interrupted accepts (temp folders). Call on start. */
  async sweep(): Promise<void> {
    for (const entry of await subfolders(this.#tmpRoot, true)) {
      const path = join(this.#tmpRoot, entry);
      if (!this.#busy.has(path)) await removeTree(path);
    }
    // Plugin folders emptied by remove() are dropped here rather than in remove(), where an
    // rmdir could race with an accept() that has just created the same folder.
    for (const name of await subfolders(this.root)) {
      if (name.startsWith('.')) continue;
      await rmdir(join(this.root, name)).catch(() => undefined);
    }
  }

  async #makeTemp(create = true): Promise<string> {
    await mkdir(this.#tmpRoot, { recursive: true });
    const path = join(this.#tmpRoot, randomUUID());
    // Registered before it exists, so a concurrent sweep() can never see it unclaimed.
    this.#busy.add(path);
    if (create) await mkdir(path);
    return path;
  }

  /** Renames `tmp` to `dir`; false if an artifact is already there (an earlier or concurrent accept). */
  async #place(tmp: string, dir: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const made = await mkdir(dirname(dir), { recursive: true });
      if (made !== undefined) await syncDir(dirname(made));
      try {
        await rename(tmp, dir);
        return true;
      } catch (err) {
        const code = errno(err);
        if (code === 'EEXIST' || code === 'ENOTEMPTY') return false;
        // sweep() may have dropped the empty plugin folder between mkdir and rename.
        if (code === 'ENOENT' && attempt < 3) continue;
        throw err;
      }
    }
  }

  /**
   * The key holds only 12 hex of the buildId and says nothing of the manifest's other fields or
   * other files, so an artifact that maps to an existing key is compared file by file: returning
   * the stored one for a different artifact would silently run the wrong thing.
   */
  async #assertSame(tmp: string, stored: StoredArtifact): Promise<void> {
    const [incoming, existing] = await Promise.all([treeDigest(tmp), treeDigest(stored.dir)]);
    if (incoming === existing) return;
    throw new MoltError(
      ErrorCodes.STORE_CONFLICT,
      `${stored.name}@${stored.version}: the store already holds ${stored.dir} with other contents under the same key`,
      {
        details: {
          plugin: stored.name,
          version: stored.version,
          buildId: stored.buildId,
          existing: stored.dir,
        },
      },
    );
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if (errno(err) === 'ENOENT') return false;
    throw err;
  }
}

async function subfolders(path: string, all = false): Promise<string[]> {
  try {
    const entries = await readdir(path, { withFileTypes: true });
    return entries.filter((e) => all || e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if (errno(err) === 'ENOENT') return [];
    throw err;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
