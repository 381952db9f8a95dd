import { constants, type Dirent } from 'node:fs';
import { mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { EntryClaims, fileSegments } from './entry-path.js';
import { Budget, type StoreLimits } from './limits.js';
import { errno, readHandle, writeNewFile } from './store-fs.js';

function symlink(rel: string): MoltError {
  return new MoltError(ErrorCodes.ARCHIVE_SYMLINK, `${JSON.stringify(rel)} is a symlink`, {
    details: { entry: rel },
  });
}

/**
 * Copies the artifact folder `src` into the existing empty folder `dest` under the same rules as
 * a zip: no symlinks, no special files, names that are safe everywhere, the same limits.
 * On failure `dest` holds a partial tree: the caller deletes it.
 */
export async function copyDir(src: string, dest: string, limits: StoreLimits): Promise<void> {
  const budget = new Budget(limits);
  const claims = new EntryClaims();

  const copyFile = async (from: string, to: string, rel: string): Promise<void> => {
    // O_NOFOLLOW and O_NONBLOCK close the gap between readdir and open: a file swapped for a link
    // fails with ELOOP, one swapped for a FIFO opens at once and is then refused by fstat.
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(from, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      if (errno(err) === 'ELOOP') throw symlink(rel);
      throw err;
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw notRegular(rel);
      budget.declare(rel, stats.size);
      await writeNewFile(to, () => readHandle(handle), [budget.meter(rel)]);
    } finally {
      await handle.close();
    }
  };

  const walk = async (from: string, to: string, prefix: string[]): Promise<void> => {
    const entries: Dirent[] = await readdir(from, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      budget.addEntry();
      const segments = [...prefix, ...fileSegments(entry.name)];
      const rel = segments.join('/');
      if (entry.isSymbolicLink()) throw symlink(rel);
      if (entry.isDirectory()) {
        claims.claimDir(segments, rel);
        await mkdir(join(to, entry.name));
        await walk(join(from, entry.name), join(to, entry.name), segments);
      } else if (entry.isFile()) {
        claims.claimFile(segments, rel);
        await copyFile(join(from, entry.name), join(to, entry.name), rel);
      } else {
        throw notRegular(rel);
      }
    }
  };

  await walk(src, dest, []);
}

function notRegular(rel: string): MoltError {
  return new MoltError(
    ErrorCodes.ARCHIVE_CORRUPT,
    `${JSON.stringify(rel)} is not a regular file or folder`,
    { details: { entry: rel } },
  );
}
