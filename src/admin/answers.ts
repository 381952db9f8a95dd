/**
 * The HTTP status of each error code the admin API can answer with. One status per code, so a
 * client may branch on either; the README's admin API table lists the same.
 */
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';

export interface ErrorBody {
  error: { code: string; message: string };
}

/** The artifact itself is unusable: another upload, not a retry, can fix it. */
const UNUSABLE_ARTIFACT = [
  ErrorCodes.ARCHIVE_CORRUPT,
  ErrorCodes.ARCHIVE_UNSAFE_PATH,
  ErrorCodes.ARCHIVE_SYMLINK,
  ErrorCodes.ARCHIVE_DUPLICATE_ENTRY,
  ErrorCodes.ARCHIVE_TOO_LARGE,
  ErrorCodes.MANIFEST_INVALID,
  ErrorCodes.BUILD_MISMATCH,
  ErrorCodes.HOST_API_MISMATCH,
];

export const STATUS_OF_CODE: Readonly<Partial<Record<string, number>>> = Object.freeze({
  [ErrorCodes.INVALID_REQUEST]: 400,
  [ErrorCodes.INVALID_INPUT]: 400,
  [ErrorCodes.CONTROL_UNAUTHORIZED]: 401,
  [ErrorCodes.NOT_FOUND]: 404,
  [ErrorCodes.UNKNOWN_PLUGIN]: 404,
  [ErrorCodes.UNKNOWN_TOOL]: 404,
  [ErrorCodes.REQUEST_TOO_LARGE]: 413,
  ...Object.fromEntries(UNUSABLE_ARTIFACT.map((code) => [code, 422])),
  [ErrorCodes.INTERNAL]: 500,
  [ErrorCodes.RESULT_UNSERIALIZABLE]: 502,
  [ErrorCodes.BUSY]: 503,
  [ErrorCodes.HOST_CLOSED]: 503,
});

/**
 * Every other code is the host refusing a well-formed request in its current state (a reload that
 * failed its init, NO_PREVIOUS, STORE_CONFLICT, a tool that threw): 409.
 */
export const CONFLICT = 409;

export function statusOf(code: string): number {
  return STATUS_OF_CODE[code] ?? CONFLICT;
}

/** The answer to a failed request: a documented code, and INTERNAL (500) for anything else. */
export function errorAnswer(err: unknown): { status: number; body: ErrorBody } {
  const e = isMoltError(err)
    ? err
    : new MoltError(ErrorCodes.INTERNAL, err instanceof Error ? err.message : String(err));
  return { status: statusOf(e.code), body: { error: { code: e.code, message: e.message } } };
}
