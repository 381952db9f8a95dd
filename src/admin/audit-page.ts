/**
 * `GET /v1/audit?after=SEQ&limit=N`: the audit log in pages, oldest first, so a client polls
 * with `after` set to the `next` it was given and never sees an entry twice.
 */
import { type AuditEntry, AuditLog } from '../catalog/audit.js';
import { ErrorCodes, MoltError } from '../errors/errors.js';

export const AUDIT_PAGE_DEFAULT = 100;
export const AUDIT_PAGE_MAX = 1000;

export interface AuditQuery {
  after: number;
  limit: number;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** The last entry's `seq`: pass it as `after` for the next page (`after` itself when empty). */
  next: number;
}

/** A non-negative integer in plain digits, or the default when absent; anything else is 400. */
function integer(query: URLSearchParams, key: string, fallback: number, min: number, max: number) {
  const all = query.getAll(key);
  if (all.length === 0) return fallback;
  const text = all[0] ?? '';
  const value = Number(text);
  if (
    all.length > 1 ||
    !/^\d{1,16}$/.test(text) ||
    !Number.isSafeInteger(value) ||
    value < min ||
    value > max
  ) {
    throw new MoltError(
      ErrorCodes.INVALID_REQUEST,
      `${key} must be one integer from ${min} to ${max}, got ${all.map((v) => JSON.stringify(v)).join(', ')}`,
    );
  }
  return value;
}

export function parseAuditQuery(query: URLSearchParams): AuditQuery {
  return {
    after: integer(query, 'after', 0, 0, Number.MAX_SAFE_INTEGER),
    limit: integer(query, 'limit', AUDIT_PAGE_DEFAULT, 1, AUDIT_PAGE_MAX),
  };
}

/**
 * An entry's sequence number. An entry the log did not number (written by a molt from before
 * `seq`) has its place in the file, from 1, instead.
 */
function seqOf(entry: AuditEntry, index: number): number {
  return typeof entry.seq === 'number' ? entry.seq : index + 1;
}

export async function auditPage(file: string, { after, limit }: AuditQuery): Promise<AuditPage> {
  const all = await AuditLog.read(file);
  const entries: AuditEntry[] = [];
  let next = after;
  for (let i = 0; i < all.length && entries.length < limit; i++) {
    const entry = all[i] as AuditEntry;
    const seq = seqOf(entry, i);
    if (seq <= after) continue;
    entries.push({ ...entry, seq });
    next = seq;
  }
  return { entries, next };
}
