import { chmod, type FileHandle, lstat, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, type Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { syncDir } from '../util/durable.js';

export const FILE_MODE = 0o444;
export const DIR_MODE = 0o555;
const WRITABLE_DIR_MODE = 0o755;

/**
 * Writes the stream `openSource` gives (through `filters`) to a new file that must not exist yet, then
 * makes it durable and read-only. `wx` refuses to follow or overwrite anything already there.
 * The source is opened only once the file is, and piped at once: a stream left unattended
 * across an await can fail with nobody listening (yauzl's size check does).
 */
export async function writeNewFile(
  path: string,
  openSource: () => Readable | Promise<Readable>,
  filters: Transform[],
): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    // Not handle.createWriteStream(): with autoClose off it keeps the handle referenced and
    // close() would wait forever, and with it on there is no moment left to fsync.
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        writeAll(handle, chunk).then(() => done(), done);
      },
      final(done) {
        handle.sync().then(() => done(), done);
      },
    });
    await pipeline([await openSource(), ...filters, sink]);
    await handle.chmod(FILE_MODE);
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/**
 * Makes every folder under `top` durable and read-only, deepest first. `top` itself stays
 * writable: moving a folder to another parent needs write access to it (its `..` changes).
 */
export async function sealFolders(top: string): Promise<void> {
  const walk = async (dir: string, isTop: boolean): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) await walk(join(dir, entry.name), false);
    }
    await syncDir(dir);
    if (!isTop) await chmod(dir, DIR_MODE);
  };
  await walk(top, true);
}

/**
 * Deletes a tree the store wrote read-only. Unlinking needs write access to the parent folder
 * only, so giving folders back their write bit is enough. Missing paths are fine.
 */
export async function removeTree(path: string): Promise<void> {
  const unlock = async (p: string): Promise<void> => {
    let stats: Awaited<ReturnType<typeof lstat>>;
    try {
      stats = await lstat(p);
    } catch (err) {
      if (errno(err) === 'ENOENT') return;
      throw err;
    }
    if (!stats.isDirectory()) return;
    await chmod(p, WRITABLE_DIR_MODE);
    for (const entry of await readdir(p, { withFileTypes: true })) {
      if (entry.isDirectory()) await unlock(join(p, entry.name));
    }
  };
  await unlock(path);
  await rm(path, { recursive: true, force: true });
}

export function errno(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A stream of a file handle's bytes that leaves the handle to its owner (unlike
 * handle.createReadStream(), whose handle cannot be closed while the stream is alive).
 */
export function readHandle(handle: FileHandle, chunkSize = 64 * 1024): Readable {
  return Readable.from(
    (async function* () {
      for (;;) {
        const buffer = Buffer.allocUnsafe(chunkSize);
        const { bytesRead } = await handle.read(buffer, 0, chunkSize, null);
        if (bytesRead === 0) return;
        yield buffer.subarray(0, bytesRead);
      }
    })(),
    { objectMode: false },
  );
}
