/**
 * A call's cancellation without a listener per call. The SDK aborts its own per-request signal
 * when the client sends `notifications/cancelled` and when the session closes; an
 * `addEventListener` on it for every call is measurable on the tools/call path (bench k), and
 * almost no call is ever cancelled. So a call carries a cheap `CallSignal` beside the SDK's
 * signal, and the two are linked only once a cancel names the call (a session's close aborts
 * every call itself: front-door.ts).
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import { CallSignal } from '../sandbox/call-signal.js';

/** A call in flight: its own signal, and the SDK's for its request. */
export class TrackedCall extends CallSignal {
  readonly sdk: AbortSignal;

  constructor(sdk: AbortSignal) {
    super();
    this.sdk = sdk;
    // A cancel the SDK took before the handler ran (one batch with the call).
    if (sdk.aborted) this.abort(sdk.reason);
  }

  /** A cancel named this call: follow the SDK's signal, which the SDK aborts next. */
  follow(): void {
    const { sdk } = this;
    if (sdk.aborted) this.abort(sdk.reason);
    else sdk.addEventListener('abort', () => this.abort(sdk.reason), { once: true });
  }
}

/** An SDK `Server` that tells of each `notifications/cancelled` as it arrives. */
export class SessionServer extends Server {
  /** The request id a client's cancel names, told before the SDK handles the cancel. */
  onCancelled: ((requestId: RequestId) => void) | undefined;

  override connect(transport: Transport): Promise<void> {
    const before = transport.onmessage;
    // Protocol.connect keeps a handler set before it and gives it every message first.
    transport.onmessage = (message, extra) => {
      before?.(message, extra);
      if ('method' in message && message.method === 'notifications/cancelled') {
        const id = (message.params as { requestId?: unknown } | undefined)?.requestId;
        if (typeof id === 'string' || typeof id === 'number') this.onCancelled?.(id);
      }
    };
    return super.connect(transport);
  }
}

/**
 * Links the call a cancel names, among `calls`. One not yet registered (its handler has not
 * run: the cancel came in the same batch) is looked at again once this turn's work is done,
 * by when the SDK has taken the cancel and the handler has run.
 */
export function cancelNamed(calls: ReadonlyMap<RequestId, TrackedCall>, id: RequestId): void {
  const call = calls.get(id);
  if (call !== undefined) {
    call.follow();
    return;
  }
  setImmediate(() => {
    const later = calls.get(id);
    if (later?.sdk.aborted === true) later.abort(later.sdk.reason);
  });
}
