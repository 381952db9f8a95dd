/**
 * One session's transport: the SDK's `StreamableHTTPServerTransport`, with a lane of molt's own
 * beside it for the request that is nearly all of a session's traffic, a POST carrying one
 * JSON-RPC request (`tools/call` above all).
 *
 * Why: the SDK's Node transport turns every request into a web `Request`, answers through a web
 * `ReadableStream` and `Response` (@hono/node-server), and parses each message with zod. On the
 * tools/call path of bench (k) that is about a third of the server's main-thread CPU, more than
 * the whole hop to a worker sandbox costs. The lane writes the answer to Node's
 * `ServerResponse` directly: one JSON body when the answer is the first thing the request gets,
 * an SSE stream (as the SDK writes it) once a progress, log, sampling or elicitation message
 * related to it comes first. The spec lets the server pick either per request; clients MUST
 * take both.
 *
 * The lane takes a request only when the SDK would accept it as is: an initialized and open
 * session, `Accept` naming both types, `Content-Type: application/json`, a supported (or no)
 * `MCP-Protocol-Version`, and a message that is exactly a JSON-RPC request by the SDK's schema
 * (no other keys, an integer or string id, object params). Anything else, including every
 * refusal, goes to the SDK transport, so errors stay the SDK's own, byte for byte. The message
 * reaches the same `Server` (`onmessage`) either way; only the way back differs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type {
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type MessageExtraInfo,
  type RequestId,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';

/** A request taken by the lane, until its answer is written. */
interface Lane {
  res: ServerResponse;
  /** The session's id, for the `mcp-session-id` header of the answer. */
  session: string;
  /** Set once something related went out before the answer: the answer ends an SSE stream. */
  sse: boolean;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

const sseEvent = (json: string): string => `event: message\ndata: ${json}\n\n`;

/**
 * A message as JSON. A plugin's own full result or log data can hold what JSON cannot (a
 * BigInt, a cycle: structured clone carries both): an answer then becomes a JSON-RPC internal
 * error for its id, so the client is never left waiting; a related message is dropped
 * (undefined).
 */
function serialize(message: JSONRPCMessage, answerTo: RequestId | undefined): string | undefined {
  try {
    return JSON.stringify(message);
  } catch (err) {
    if (answerTo === undefined) return undefined;
    return JSON.stringify({
      jsonrpc: '2.0',
      id: answerTo,
      error: {
        code: ErrorCode.InternalError,
        message: `the answer cannot be sent as JSON: ${(err as Error).message}`,
      },
    });
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isId = (v: unknown): v is RequestId => typeof v === 'string' || Number.isSafeInteger(v);

/**
 * Whether `body` is one JSON-RPC request other than `initialize` that the SDK's strict
 * `JSONRPCRequestSchema` takes unchanged. Unsure means no: the SDK then decides.
 */
export function isPlainRequest(body: unknown): body is JSONRPCRequest {
  if (!isPlainObject(body)) return false;
  for (const key in body) {
    if (key !== 'jsonrpc' && key !== 'id' && key !== 'method' && key !== 'params') return false;
  }
  const { jsonrpc, id, method, params } = body;
  if (jsonrpc !== '2.0' || typeof method !== 'string' || method === 'initialize' || !isId(id))
    return false;
  if (params === undefined) return true;
  if (!isPlainObject(params)) return false;
  const meta = params._meta;
  if (meta === undefined) return true;
  if (!isPlainObject(meta)) return false;
  for (const key in meta) {
    // The SDK types `progressToken` and the related-task key; other keys pass as they are.
    if (key === 'progressToken' ? !isId(meta.progressToken) : key.startsWith('io.modelcontext'))
      return false;
  }
  return true;
}

export class SessionWire implements Transport {
  readonly sdk: StreamableHTTPServerTransport;
  readonly #lanes = new Map<RequestId, Lane>();
  #closed = false;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?:
    | (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void)
    | undefined;

  constructor(sdk: StreamableHTTPServerTransport) {
    this.sdk = sdk;
    sdk.onmessage = (message, extra) => this.onmessage?.(message, extra);
    sdk.onerror = (error) => this.onerror?.(error);
    sdk.onclose = () => {
      this.#closed = true;
      this.#endLanes();
      this.onclose?.();
    };
  }

  get sessionId(): string | undefined {
    return this.sdk.sessionId;
  }

  start(): Promise<void> {
    return this.sdk.start();
  }

  close(): Promise<void> {
    return this.sdk.close();
  }

  /** Everything the lane does not take: the SDK's own handling. */
  handleRequest(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    return this.sdk.handleRequest(req, res, body);
  }

  /**
   * Takes `body` on the lane if the SDK would serve it unchanged (see the module comment);
   * false leaves it to `handleRequest`.
   */
  post(
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    authInfo: AuthInfo | undefined,
  ): boolean {
    const session = this.sdk.sessionId;
    if (this.#closed || session === undefined) return false;
    const { headers } = req;
    const accept = headers.accept;
    if (
      accept === undefined ||
      !accept.includes('application/json') ||
      !accept.includes('text/event-stream') ||
      headers['content-type'] !== 'application/json' ||
      headers['mcp-session-id'] !== session
    )
      return false;
    const version = headers['mcp-protocol-version'];
    if (
      version !== undefined &&
      (typeof version !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version))
    )
      return false;
    if (!isPlainRequest(body) || this.#lanes.has(body.id)) return false;
    this.#lanes.set(body.id, { res, session, sse: false });
    try {
      this.onmessage?.(body, { authInfo, requestInfo: requestInfo(req) });
    } catch (err) {
      this.#lanes.delete(body.id);
      throw err;
    }
    return true;
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const answer = 'result' in message || 'error' in message;
    const id = answer ? (message as { id: RequestId }).id : options?.relatedRequestId;
    const lane = id === undefined ? undefined : this.#lanes.get(id);
    if (lane === undefined) return this.sdk.send(message, options);
    const { res } = lane;
    if (answer) this.#lanes.delete(id!);
    // A client gone before its answer: its call was cancelled (http.ts); nothing to write to.
    if (res.destroyed || res.writableEnded) return Promise.resolve();
    const json = serialize(message, answer ? id : undefined);
    if (json === undefined) return Promise.resolve();
    if (!answer) {
      if (!lane.sse) {
        lane.sse = true;
        res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': lane.session });
      }
      res.write(sseEvent(json));
    } else if (lane.sse) {
      res.end(sseEvent(json));
    } else {
      res.writeHead(200, {
        'content-type': 'application/json',
        'mcp-session-id': lane.session,
      });
      res.end(json);
    }
    return Promise.resolve();
  }

  /**
   * A request's handler is done; `unanswered` when the SDK aborted the request (a client's
   * `notifications/cancelled`), since its Protocol then sends no answer. Such a request's
   * stream ends now: left open, it would hold the client's socket until the session ends, as
   * the SDK transport's own streams do. Not at the cancel itself: what the handler still sends
   * on its way out (the cancel of its own sampling request to the client) travels on it.
   */
  settled(id: RequestId, unanswered: boolean): void {
    if (!unanswered) return;
    const lane = this.#lanes.get(id);
    if (lane === undefined) return;
    this.#lanes.delete(id);
    endUnanswered(lane);
  }

  /** As the SDK does at close: each open request's stream ends, answered or not. */
  #endLanes(): void {
    for (const lane of this.#lanes.values()) endUnanswered(lane);
    this.#lanes.clear();
  }
}

/** Ends a request's response without its answer: an event stream that carried what it did. */
function endUnanswered({ res, sse, session }: Lane): void {
  if (res.writableEnded) return;
  if (!sse && !res.headersSent) res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': session });
  res.end();
}

/** What the SDK hands handlers as `extra.requestInfo`; the URL only if one asks for it. */
function requestInfo(req: IncomingMessage): MessageExtraInfo['requestInfo'] {
  return {
    headers: req.headers,
    get url() {
      return new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    },
  };
}
