/**
 * `GET /v1/audit?after=SEQ&limit=N`: the audit log in pages, oldest first, so a client polls
 * with `after` set to the `next` it was given and never sees an entry twice. `?last=N` instead:
 * the newest N (oldest first), where a client that shows recent history starts. Both read only
 * around what they return (a bisection on seq, or back from the end), never the whole log.
 */
import { type AuditEntry, AuditLog } from '../catalog/audit.js';
import { ErrorCodes, MoltError } from '../errors/errors.js';

export const AUDIT_PAGE_DEFAULT = 100;
export const AUDIT_PAGE_MAX = 1000;

export type AuditQuery = { after: number; limit: number } | { last: number };

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
  if (query.has('last')) {
    if (query.has('after') || query.has('limit')) {
      throw new MoltError(
        ErrorCodes.INVALID_REQUEST,
        'last cannot be combined with after or limit',
      );
    }
    return { last: integer(query, 'last', AUDIT_PAGE_DEFAULT, 1, AUDIT_PAGE_MAX) };
  }
  return {
    after: integer(query, 'after', 0, 0, Number.MAX_SAFE_INTEGER),
    limit: integer(query, 'limit', AUDIT_PAGE_DEFAULT, 1, AUDIT_PAGE_MAX),
  };
}

/**
 * One page of the log, streamed: the file is read line by line only up to the page's end.
 * Lines a molt from before the hash chain wrote carry no `seq` and are not served here (`molt
 * logs` shows them).
 */
export async function auditPage(file: string, query: AuditQuery): Promise<AuditPage> {
  if ('last' in query) {
    const entries = await AuditLog.readLast(file, query.last);
    return { entries, next: entries.at(-1)?.seq ?? 0 };
  }
  const entries = await AuditLog.read(file, query);
  return { entries, next: entries.at(-1)?.seq ?? query.after };
}
