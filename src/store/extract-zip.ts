import { closeSync, constants, fstat, open } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { crc32Check } from './crc32.js';
import { EntryClaims, entrySegments, fileSegments } from './entry-path.js';
import { Budget, type StoreLimits } from './limits.js';
import { writeNewFile } from './store-fs.js';

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

const openFd = promisify(open);
const fstatFd = promisify(fstat);
const fromFd = promisify(yauzl.fromFd) as (
  fd: number,
  options: yauzl.Options,
) => Promise<yauzl.ZipFile>;

function corrupt(message: string, cause?: unknown): MoltError {
  return new MoltError(ErrorCodes.ARCHIVE_CORRUPT, `not a readable zip: ${message}`, {
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * yauzl finds some hostile names before we see them (with `strictFileNames` it refuses
 * backslashes; it always refuses absolute paths and `..`), and reports them as plain Errors.
 * Those messages are matched so that each case keeps its own code; anything else yauzl or zlib
 * says is about the bytes of the zip. Errors with a `syscall` come from the file system (a full
 * disk, a vanished file) and are not the archive's fault, so they pass through.
 */
export function classifyZipError(err: unknown): unknown {
  if (err instanceof MoltError) return err;
  if (!(err instanceof Error)) return corrupt(String(err));
  if ((err as NodeJS.ErrnoException).syscall !== undefined) return err;
  const unsafe = /^(invalid characters in fileName|absolute path|invalid relative path): /;
  if (unsafe.test(err.message)) {
    const entry = err.message.replace(unsafe, '');
    return new MoltError(
      ErrorCodes.ARCHIVE_UNSAFE_PATH,
      `unsafe entry path ${JSON.stringify(entry)}: ${err.message}`,
      { cause: err, details: { entry, reason: err.message } },
    );
  }
  return corrupt(err.message, err);
}

/**
 * O_NONBLOCK: a FIFO swapped in after the caller's stat opens at once and is refused by fstat,
 * instead of blocking the host until some writer appears.
 */
async function openZip(file: string): Promise<yauzl.ZipFile> {
  const fd = await openFd(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await fstatFd(fd)).isFile()) throw corrupt(`${file} is not a regular file`);
    return await fromFd(fd, {
      lazyEntries: true,
      autoClose: false,
      validateEntrySizes: true,
      strictFileNames: true,
      decodeStrings: true,
    });
  } catch (err) {
    closeSync(fd);
    throw classifyZipError(err);
  }
}

function openReadStream(zip: yauzl.ZipFile, entry: yauzl.Entry) {
  return new Promise<Readable>((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err) return reject(err);
      // yauzl forwards zlib errors to this stream a tick late; once the pipeline has settled
      // nobody listens, and a late error from a hostile zip must not crash the host.
      stream.on('error', () => {});
      resolve(stream);
    });
  });
}

/**
 * Extracts the zip `file` into the existing empty folder `dest`, refusing the whole archive on
 * the first hostile entry. On failure `dest` holds a partial tree: the caller deletes it.
 */
export async function extractZip(file: string, dest: string, limits: StoreLimits): Promise<void> {
  const zip = await openZip(file);
  const budget = new Budget(limits);
  const claims = new EntryClaims();

  const handle = async (entry: yauzl.Entry): Promise<void> => {
    budget.addEntry();
    const name = entry.fileName;
    const isDir = name.endsWith('/');
    const segments = isDir ? entrySegments(name) : fileSegments(name);
    if (((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) {
      throw new MoltError(
        ErrorCodes.ARCHIVE_SYMLINK,
        `entry ${JSON.stringify(name)} is a symlink`,
        {
          details: { entry: name },
        },
      );
    }
    if (isDir) {
      claims.claimDir(segments, name);
      await mkdir(join(dest, ...segments), { recursive: true });
      return;
    }
    claims.claimFile(segments, name);
    budget.declare(name, entry.uncompressedSize);
    await mkdir(join(dest, ...segments.slice(0, -1)), { recursive: true });
    await writeNewFile(join(dest, ...segments), () => openReadStream(zip, entry), [
      budget.meter(name),
      crc32Check(entry.crc32, name),
    ]);
  };

  try {
    budget.expectEntries(zip.entryCount);
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (err: unknown) => {
        if (failed) return;
        failed = true;
        reject(err);
      };
      zip.on('error', fail);
      zip.on('end', () => {
        if (!failed) resolve();
      });
      zip.on('entry', (entry: yauzl.Entry) => {
        handle(entry).then(() => {
          if (!failed) zip.readEntry();
        }, fail);
      });
      zip.readEntry();
    });
  } catch (err) {
    throw classifyZipError(err);
  } finally {
    zip.close();
  }
}
