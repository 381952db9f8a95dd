import { ErrorCodes, MoltError } from '../errors/errors.js';

function unsafe(name: string, why: string): MoltError {
  return new MoltError(
    ErrorCodes.ARCHIVE_UNSAFE_PATH,
    `unsafe entry path ${JSON.stringify(name)}: ${why}`,
    { details: { entry: name, reason: why } },
  );
}

/**
 * Splits an entry name into the path segments it will be written at, refusing anything that
 * could land outside the artifact folder on any platform: `..` anywhere (even when it would stay
 * inside, an extractor that resolves it differently could escape), absolute and drive paths,
 * backslashes (a separator on Windows), NUL (truncates the name in C APIs).
 * Empty and `.` segments are dropped, so `a//b` and `./a/b` both name `a/b`.
 */
export function entrySegments(name: string): string[] {
  if (name.includes('\0')) throw unsafe(name, 'contains NUL');
  if (name.includes('\\')) throw unsafe(name, 'contains a backslash');
  if (name.startsWith('/')) throw unsafe(name, 'is absolute');
  if (/^[A-Za-z]:/.test(name)) throw unsafe(name, 'starts with a drive letter');
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw unsafe(name, 'contains ".."');
  return segments;
}

/**
 * Throws ARCHIVE_UNSAFE_PATH for a file entry that names no file at all (`.`, `./`).
 */
export function fileSegments(name: string): string[] {
  const segments = entrySegments(name);
  if (segments.length === 0) throw unsafe(name, 'names no file');
  return segments;
}

/**
 * Remembers which paths an artifact has claimed, so that no two entries write the same file and
 * no file is later used as a folder (or the reverse). Keys are case-folded and NFC-normalised:
 * names that are distinct on Linux collide on macOS and Windows file systems, and an artifact
 * must extract the same way everywhere.
 */
export class EntryClaims {
  readonly #files = new Map<string, string>();
  readonly #dirs = new Map<string, string>();
  readonly #explicitDirs = new Set<string>();

  claimFile(segments: string[], name: string): void {
    const key = this.#key(segments);
    this.#checkParents(segments, name);
    const previous = this.#files.get(key) ?? this.#dirs.get(key);
    if (previous !== undefined) throw duplicate(name, previous);
    this.#files.set(key, name);
    this.#addParents(segments, name);
  }

  claimDir(segments: string[], name: string): void {
    if (segments.length === 0) return;
    const key = this.#key(segments);
    this.#checkParents(segments, name);
    const previous = this.#files.get(key);
    if (previous !== undefined) throw duplicate(name, previous);
    if (this.#explicitDirs.has(key)) throw duplicate(name, this.#dirs.get(key) ?? name);
    this.#explicitDirs.add(key);
    this.#dirs.set(key, name);
    this.#addParents(segments, name);
  }

  #key(segments: string[]): string {
    return segments.join('/').normalize('NFC').toLowerCase();
  }

  #checkParents(segments: string[], name: string): void {
    for (let i = 1; i < segments.length; i++) {
      const previous = this.#files.get(this.#key(segments.slice(0, i)));
      if (previous !== undefined) throw duplicate(name, previous);
    }
  }

  #addParents(segments: string[], name: string): void {
    for (let i = 1; i < segments.length; i++) {
      const key = this.#key(segments.slice(0, i));
      if (!this.#dirs.has(key)) this.#dirs.set(key, name);
    }
  }
}

function duplicate(name: string, previous: string): MoltError {
  return new MoltError(
    ErrorCodes.ARCHIVE_DUPLICATE_ENTRY,
    `entry ${JSON.stringify(name)} clashes with ${JSON.stringify(previous)}`,
    { details: { entry: name, previous } },
  );
}
