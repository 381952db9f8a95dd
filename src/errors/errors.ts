/**
 * One error class for everything molt reports, branded with a stable string `code`.
 *
 * Errors cross worker boundaries and two copies of molt can be loaded in one process, so
 * `instanceof` is not reliable: callers match on `error.code`. The brand makes
 * `err instanceof MoltError` work across copies anyway (undici's approach).
 */

export const ErrorCodes = {
  MANIFEST_INVALID: 'MANIFEST_INVALID',
  NAME_MISMATCH: 'NAME_MISMATCH',
  HOST_API_MISMATCH: 'HOST_API_MISMATCH',
  BUILD_MISMATCH: 'BUILD_MISMATCH',
  LOAD_FAILED: 'LOAD_FAILED',
  INIT_FAILED: 'INIT_FAILED',
  INIT_TIMEOUT: 'INIT_TIMEOUT',
  HEALTH_FAILED: 'HEALTH_FAILED',
  SNAPSHOT_FAILED: 'SNAPSHOT_FAILED',
  MIGRATE_FAILED: 'MIGRATE_FAILED',
  STATE_INVALID: 'STATE_INVALID',
  RESTORE_FAILED: 'RESTORE_FAILED',
  PLUGIN_CRASHED: 'PLUGIN_CRASHED',
  PLUGIN_ERROR: 'PLUGIN_ERROR',
  CALL_TIMEOUT: 'CALL_TIMEOUT',
  CANCELLED: 'CANCELLED',
  DRAIN_TIMEOUT: 'DRAIN_TIMEOUT',
  QUEUE_FULL: 'QUEUE_FULL',
  UNKNOWN_PLUGIN: 'UNKNOWN_PLUGIN',
  UNKNOWN_TOOL: 'UNKNOWN_TOOL',
  UNKNOWN_RESOURCE: 'UNKNOWN_RESOURCE',
  UNKNOWN_PROMPT: 'UNKNOWN_PROMPT',
  ALREADY_LOADED: 'ALREADY_LOADED',
  NO_PREVIOUS: 'NO_PREVIOUS',
  NO_TRIAL: 'NO_TRIAL',
  CANARY_STATEFUL: 'CANARY_STATEFUL',
  CANARY_ABORTED: 'CANARY_ABORTED',
  SHADOW_MISMATCH: 'SHADOW_MISMATCH',
  SHADOW_INCOMPLETE: 'SHADOW_INCOMPLETE',
  HOST_CLOSED: 'HOST_CLOSED',
  DATA_CLONE: 'DATA_CLONE',
  PROTOCOL_ERROR: 'PROTOCOL_ERROR',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  MEMORY_LIMIT: 'MEMORY_LIMIT',
  RESULT_TOO_LARGE: 'RESULT_TOO_LARGE',
  ARCHIVE_CORRUPT: 'ARCHIVE_CORRUPT',
  ARCHIVE_UNSAFE_PATH: 'ARCHIVE_UNSAFE_PATH',
  ARCHIVE_SYMLINK: 'ARCHIVE_SYMLINK',
  ARCHIVE_DUPLICATE_ENTRY: 'ARCHIVE_DUPLICATE_ENTRY',
  ARCHIVE_TOO_LARGE: 'ARCHIVE_TOO_LARGE',
  STORE_CONFLICT: 'STORE_CONFLICT',
  ARTIFACT_NOT_FOUND: 'ARTIFACT_NOT_FOUND',
  PACK_FAILED: 'PACK_FAILED',
  CATALOG_CORRUPT: 'CATALOG_CORRUPT',
  AUDIT_NOT_FOUND: 'AUDIT_NOT_FOUND',
  DATA_LOCKED: 'DATA_LOCKED',
  CONTROL_UNAUTHORIZED: 'CONTROL_UNAUTHORIZED',
  CONTROL_UNREACHABLE: 'CONTROL_UNREACHABLE',
  INVALID_REQUEST: 'INVALID_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  REQUEST_TOO_LARGE: 'REQUEST_TOO_LARGE',
  BUSY: 'BUSY',
  INVALID_INPUT: 'INVALID_INPUT',
  INVALID_OUTPUT: 'INVALID_OUTPUT',
  CONTRACT_UNDECLARED: 'CONTRACT_UNDECLARED',
  CONTRACT_UNSATISFIED: 'CONTRACT_UNSATISFIED',
  CONTRACT_BROKEN: 'CONTRACT_BROKEN',
  DEPENDENCY_CYCLE: 'DEPENDENCY_CYCLE',
  HAS_DEPENDENTS: 'HAS_DEPENDENTS',
  CASCADE_FAILED: 'CASCADE_FAILED',
  TOOL_NAME_INVALID: 'TOOL_NAME_INVALID',
  TOOL_NAME_COLLISION: 'TOOL_NAME_COLLISION',
  TOOL_SCHEMA_INVALID: 'TOOL_SCHEMA_INVALID',
  SCHEMA_BREAKING: 'SCHEMA_BREAKING',
  RESOURCE_INVALID: 'RESOURCE_INVALID',
  PROMPT_INVALID: 'PROMPT_INVALID',
  RESOURCE_URI_COLLISION: 'RESOURCE_URI_COLLISION',
  PROMPT_NAME_COLLISION: 'PROMPT_NAME_COLLISION',
  RESULT_UNSERIALIZABLE: 'RESULT_UNSERIALIZABLE',
  OPTIONS_INVALID: 'OPTIONS_INVALID',
  TOO_MANY_SUBSCRIBERS: 'TOO_MANY_SUBSCRIBERS',
  CLIENT_UNSUPPORTED: 'CLIENT_UNSUPPORTED',
  CLIENT_ERROR: 'CLIENT_ERROR',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const brand = Symbol.for('molt.error');

export interface MoltErrorOptions {
  cause?: unknown;
  /** Extra machine-readable facts (field paths, the plugin's name, the remote stack…). */
  details?: Record<string, unknown>;
}

export class MoltError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: MoltErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MoltError';
    this.code = code;
    this.details = options.details;
  }

  get [brand](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[brand] === true
    );
  }
}

export function isMoltError(value: unknown, code?: ErrorCode): value is MoltError {
  return value instanceof MoltError && (code === undefined || value.code === code);
}

const codes = new Set<string>(Object.values(ErrorCodes));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && codes.has(value);
}

/** The shape an error takes on the wire between a sandbox and the host. */
export interface WireError {
  code: string;
  message: string;
  stack?: string | undefined;
  name?: string | undefined;
  /** Set only by molt's own sandbox runtime: a plugin cannot forge a host error code. */
  fromMolt?: true;
  /** Machine-readable facts from molt's sandbox runtime (ignored unless `fromMolt`). */
  details?: Record<string, unknown> | undefined;
}

export function toWireError(
  err: unknown,
  fallback: ErrorCode = ErrorCodes.PLUGIN_ERROR,
): WireError {
  if (err instanceof Error) {
    const own = (err as Error & { code?: unknown }).code;
    const code = typeof own === 'string' ? own : fallback;
    return { code, message: err.message, stack: err.stack, name: err.name };
  }
  return { code: fallback, message: String(err) };
}

/**
 * Rebuilds a sandbox-side error on the host. Errors of molt's own sandbox runtime keep their
 * code (BUILD_MISMATCH, INVALID_INPUT, …); plugin code may throw errors with its own codes,
 * carried in `details.pluginCode` while the molt code is `as` (one of ours).
 */
export function fromWireError(
  wire: WireError,
  as: ErrorCode,
  details: Record<string, unknown> = {},
): MoltError {
  const known = wire.fromMolt === true && isErrorCode(wire.code);
  return new MoltError(known ? (wire.code as ErrorCode) : as, wire.message, {
    details: {
      ...details,
      ...(known
        ? wire.details
        : wire.code === ErrorCodes.PLUGIN_ERROR
          ? {}
          : { pluginCode: wire.code }),
      remoteStack: wire.stack,
    },
  });
}
