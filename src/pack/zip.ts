/** Writes a `.molt` zip whose bytes depend only on its entries' names and contents. */
import { ZipFile } from 'yazl';

export interface ZipEntry {
  name: string;
  data: Buffer;
}

/**
 * Local midnight, not a UTC instant: the DOS timestamp stores local wall-clock fields, so a UTC
 * instant would encode differently in each time zone. With `forceDosTimestamp` yazl writes no
 * extra UTC field, so the archive is the same everywhere.
 */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);
/** A regular file, rw-r--r--: the packer's umask must not leak into the archive. */
const FIXED_MODE = 0o100644;

/** Zips `entries` in the order given, with fixed metadata, into one buffer. */
export function zipEntries(entries: readonly ZipEntry[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const zip = new ZipFile();
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    zip.outputStream.on('error', reject);
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.on('error', reject);
    for (const entry of entries) {
      zip.addBuffer(entry.data, entry.name, {
        mtime: FIXED_MTIME,
        mode: FIXED_MODE,
        compress: true,
        forceDosTimestamp: true,
      });
    }
    zip.end();
  });
}
