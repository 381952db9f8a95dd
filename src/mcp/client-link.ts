/**
 * The way back from a handler to the MCP client whose request it serves: `ctx.sample` and
 * `ctx.elicit` become that session's `sampling/createMessage` and `elicitation/create`, and
 * `ctx.log` its `notifications/message` at the level the session set (`logging/setLevel`).
 * Everything is sent related to the client's own request, so over streamable HTTP it travels on
 * that request's response stream and needs no standalone stream.
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  CreateMessageRequest,
  ElicitRequest,
  LoggingLevel,
  ServerNotification,
  ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import type { LogLevel } from '../sandbox/protocol.js';
import type { CallClient } from '../sandbox/sandbox.js';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** MCP's levels, least severe first. */
const SEVERITY: Record<LoggingLevel, number> = {
  debug: 0,
  info: 1,
  notice: 2,
  warning: 3,
  error: 4,
  critical: 5,
  alert: 6,
  emergency: 7,
};

/** molt's four levels as MCP names them. */
const MCP_LEVEL: Record<LogLevel, LoggingLevel> = {
  debug: 'debug',
  info: 'info',
  warn: 'warning',
  error: 'error',
};

/**
 * The client's request is bounded by the call's own deadline and cancellation (its signal);
 * the SDK's 60 s default would cut a user's answer to an elicitation short.
 */
const NO_SDK_TIMEOUT = 2_147_483_647;

/** One session's logging level: nothing is sent until the client sets one. */
export class SessionLog {
  #level: number | undefined;

  set(level: LoggingLevel): void {
    this.#level = SEVERITY[level];
  }

  /** Whether a line at molt's `level` reaches this session. */
  wants(level: LogLevel): boolean {
    return this.#level !== undefined && SEVERITY[MCP_LEVEL[level]] >= this.#level;
  }
}

/** A `notifications/message` for a plugin's log line; `data` keeps the text and its data. */
export function logNotification(
  plugin: string,
  level: LogLevel,
  msg: string,
  data: unknown,
): ServerNotification {
  return {
    method: 'notifications/message',
    params: {
      level: MCP_LEVEL[level],
      logger: plugin,
      data: data === undefined ? msg : { message: msg, data },
    },
  };
}

/**
 * The client of one request, as a call carries it: each method the client's capabilities
 * (from `initialize`) lack is undefined, so the sandbox answers CLIENT_UNSUPPORTED. Made for
 * every call, used by few: fields and getters, nothing built until a handler asks.
 */
export class RequestClient implements CallClient {
  readonly #server: Server;
  readonly #extra: Extra;
  readonly #log: SessionLog;

  constructor(server: Server, extra: Extra, log: SessionLog) {
    this.#server = server;
    this.#extra = extra;
    this.#log = log;
  }

  log(plugin: string, level: LogLevel, msg: string, data: unknown): void {
    if (!this.#log.wants(level)) return;
    this.#extra.sendNotification(logNotification(plugin, level, msg, data)).catch(() => {});
  }

  get sample(): CallClient['sample'] {
    if (this.#server.getClientCapabilities()?.sampling === undefined) return undefined;
    return (params, signal) =>
      answer(
        'sampling/createMessage',
        signal,
        this.#server.createMessage(params as CreateMessageRequest['params'], {
          relatedRequestId: this.#extra.requestId,
          signal,
          timeout: NO_SDK_TIMEOUT,
        }),
      );
  }

  get elicit(): CallClient['elicit'] {
    const elicitation = this.#server.getClientCapabilities()?.elicitation as
      | Record<string, unknown>
      | undefined;
    if (elicitation === undefined) return undefined;
    return (params, signal) => {
      const mode = params.mode === 'url' ? 'url' : 'form';
      if (elicitation[mode] === undefined)
        return Promise.reject(
          new MoltError(
            ErrorCodes.CLIENT_UNSUPPORTED,
            `the client of this call does not support ${mode} elicitation`,
            { details: { method: 'elicitation/create', mode } },
          ),
        );
      return answer(
        'elicitation/create',
        signal,
        this.#server.elicitInput(params as ElicitRequest['params'], {
          relatedRequestId: this.#extra.requestId,
          signal,
          timeout: NO_SDK_TIMEOUT,
        }),
      );
    };
  }
}

/**
 * The client's answer, or CLIENT_ERROR naming what it answered instead (an error, or a result
 * the SDK found malformed); the call's own end (CANCELLED, CALL_TIMEOUT) keeps its code.
 */
async function answer(
  method: string,
  signal: AbortSignal,
  request: Promise<unknown>,
): Promise<unknown> {
  try {
    return await request;
  } catch (err) {
    // The SDK wraps an abort's reason in an McpError: the call's own end is what happened.
    if (signal.aborted) throw signal.reason;
    if (isMoltError(err)) throw err;
    const text = err instanceof Error ? err.message : String(err);
    const code = (err as { code?: unknown }).code;
    throw new MoltError(ErrorCodes.CLIENT_ERROR, `the client answered ${method}: ${text}`, {
      details: { method, ...(typeof code === 'number' ? { rpcCode: code } : {}) },
    });
  }
}
