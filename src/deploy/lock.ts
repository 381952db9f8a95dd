/**
 * One host per data folder: two would overwrite each other's catalog and control endpoint.
 * The lock is a file holding the owner's pid; a lock whose process is gone (a SIGKILLed host)
 * is taken over.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, MoltError } from '../errors/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data folder's lock; resolves to the function that releases it. */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, 'lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(owner) && alive(owner)) {
      throw new MoltError(
        ErrorCodes.DATA_LOCKED,
        `data folder ${dataDir} is in use by molt process ${owner}`,
        {
          details: { pid: owner, dataDir },
        },
      );
    }
    // The owner is gone (or the file is torn): the lock is stale.
    await rm(file, { force: true });
  }
  throw new MoltError(ErrorCodes.DATA_LOCKED, `could not lock data folder ${dataDir}`, {
    details: { dataDir },
  });
}
