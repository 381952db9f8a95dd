import { Transform, type TransformCallback } from 'node:stream';
import { ErrorCodes, MoltError } from '../errors/errors.js';

/** Caps applied to every artifact the store accepts, zip or folder alike. */
export interface StoreLimits {
  /** Files and folders, counted together. */
  maxEntries: number;
  /** Bytes of one file once uncompressed. */
  maxEntryBytes: number;
  /** Bytes of all files together once uncompressed. */
  maxTotalBytes: number;
}

export const DEFAULT_STORE_LIMITS: Readonly<StoreLimits> = Object.freeze({
  maxEntries: 1000,
  maxEntryBytes: 64 * 1024 * 1024,
  maxTotalBytes: 256 * 1024 * 1024,
});

export function resolveLimits(partial: Partial<StoreLimits> = {}): StoreLimits {
  const limits = { ...DEFAULT_STORE_LIMITS };
  for (const key of Object.keys(DEFAULT_STORE_LIMITS) as (keyof StoreLimits)[]) {
    const value = partial[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`store limit ${key} must be a positive integer, got ${String(value)}`);
    }
    limits[key] = value;
  }
  return limits;
}

export type LimitName = keyof StoreLimits;

export function tooLarge(limit: LimitName, max: number, value: number, entry?: string): MoltError {
  const what =
    limit === 'maxEntries'
      ? `${value} entries`
      : limit === 'maxEntryBytes'
        ? `${entry ?? 'an entry'} is ${value} bytes`
        : `${value} bytes in all`;
  return new MoltError(
    ErrorCodes.ARCHIVE_TOO_LARGE,
    `artifact too large: ${what} (${limit} ${max})`,
    {
      details: { limit, max, value, ...(entry === undefined ? {} : { entry }) },
    },
  );
}

/**
 * Counts one artifact against the limits. Declared sizes (zip headers, lstat) let a bomb be
 * refused before a byte is inflated; the meter then counts the bytes that really flow, because a
 * header or a growing file can lie.
 */
export class Budget {
  #entries = 0;
  #declaredTotal = 0;
  #total = 0;

  constructor(readonly limits: StoreLimits) {}

  /** Checks a count known up front (the zip's central directory) before reading any entry. */
  expectEntries(count: number): void {
    if (count > this.limits.maxEntries) {
      throw tooLarge('maxEntries', this.limits.maxEntries, count);
    }
  }

  addEntry(): void {
    this.#entries += 1;
    this.expectEntries(this.#entries);
  }

  declare(entry: string, size: number): void {
    const { maxEntryBytes, maxTotalBytes } = this.limits;
    if (size > maxEntryBytes) throw tooLarge('maxEntryBytes', maxEntryBytes, size, entry);
    this.#declaredTotal += size;
    if (this.#declaredTotal > maxTotalBytes) {
      throw tooLarge('maxTotalBytes', maxTotalBytes, this.#declaredTotal);
    }
  }

  /** A pass-through that fails as soon as the bytes actually seen cross a limit. */
  meter(entry: string): Transform {
    let seen = 0;
    const { maxEntryBytes, maxTotalBytes } = this.limits;
    return new Transform({
      transform: (chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) => {
        seen += chunk.length;
        this.#total += chunk.length;
        if (seen > maxEntryBytes) {
          done(tooLarge('maxEntryBytes', maxEntryBytes, seen, entry));
        } else if (this.#total > maxTotalBytes) {
          done(tooLarge('maxTotalBytes', maxTotalBytes, this.#total));
        } else {
          done(null, chunk);
        }
      },
    });
  }
}
