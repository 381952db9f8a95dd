/**
 * Durability on a POSIX file system, in one place: a rename or a new name survives a crash
 * only once its folder is fsynced, and a replaced file is whole only if it was fsynced before
 * the rename. The catalog, the control file, checkpoints and the store all write through here.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** fsync a folder so the names created or renamed in it survive a crash. */
export async function syncDir(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface AtomicHooks {
  /** Test hook: called between the temp file's fsync and the rename. */
  beforeRename?(): void;
}

/**
 * Crash-safe file replacement: write a temp file beside the target, fsync it, rename it over
 * the target, fsync the folder. A SIGKILL at any instant leaves the old file or the new one.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  mode = 0o644,
  hooks: AtomicHooks = {},
): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    hooks.beforeRename?.();
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

/** Whether `name` is a temp file that `writeFileAtomic` of `target` could have left behind. */
export function isAtomicTemp(target: string, name: string): boolean {
  return name.startsWith(`.${basename(target)}.`) && name.endsWith('.tmp');
}
