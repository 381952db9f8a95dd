/**
 * Internal consistency checks (a lifecycle move its table does not allow). A broken invariant
 * is a molt bug: under test (`node --test` sets NODE_TEST_CONTEXT) or with MOLT_STRICT=1 it
 * throws, so the test that reaches it fails loudly; in production it is reported as a process
 * warning and the move is refused, because the host must keep serving.
 */
const strict = process.env.NODE_TEST_CONTEXT !== undefined || process.env.MOLT_STRICT === '1';

export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function broken(message: string): void {
  if (strict) throw new InvariantError(message);
  process.emitWarning(message, { type: 'MoltInvariantWarning' });
}
