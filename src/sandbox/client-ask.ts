/**
 * `ctx.sample` and `ctx.elicit` on the host's side: a plugin's request, checked before it goes
 * to the client of the call that asked. The params come from plugin code, so their shape and
 * size are bounded here; what they mean is the client's to judge (the MCP SDK validates its
 * answer against the method's result schema).
 */
import { ErrorCodes, MoltError } from '../errors/errors.js';
import type { ClientAskKind } from './protocol.js';
import type { CallClient } from './sandbox.js';
import { exceedsBytes } from './size.js';

/** The largest params a plugin may send a client in one request. */
export const MAX_CLIENT_ASK_BYTES = 1024 * 1024;

const METHOD: Record<ClientAskKind, string> = {
  sample: 'sampling/createMessage',
  elicit: 'elicitation/create',
};

const CAPABILITY: Record<ClientAskKind, string> = {
  sample: 'sampling',
  elicit: 'elicitation',
};

/** Sends `params` to `client`; rejects with CLIENT_UNSUPPORTED when it cannot take them. */
export function askClient(
  kind: ClientAskKind,
  params: unknown,
  client: CallClient | undefined,
  signal: AbortSignal,
): Promise<unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params))
    throw new MoltError(ErrorCodes.INVALID_INPUT, `ctx.${kind}() needs an object of params`);
  if (exceedsBytes(params, MAX_CLIENT_ASK_BYTES))
    throw new MoltError(
      ErrorCodes.INVALID_INPUT,
      `ctx.${kind}() params are larger than ${MAX_CLIENT_ASK_BYTES} bytes`,
      { details: { limitBytes: MAX_CLIENT_ASK_BYTES } },
    );
  const send = client?.[kind];
  if (client === undefined || send === undefined)
    throw new MoltError(
      ErrorCodes.CLIENT_UNSUPPORTED,
      client === undefined
        ? `ctx.${kind}() has no client to ask: this call was not made by an MCP client`
        : `the client of this call does not support ${METHOD[kind]} (no "${CAPABILITY[kind]}" capability)`,
      { details: { method: METHOD[kind] } },
    );
  return send.call(client, params as Record<string, unknown>, signal);
}
