/**
 * MCP 2026-07-28 (stateless) on the same `/mcp` as the 2025 sessions: a request that carries the
 * 2026 envelope and no session is served by the SDK 2.x handler (`createMcpHandler`, strict:
 * `legacy: 'reject'`), from the same front door tables; everything else stays on the sessionful
 * 1.x path of http.ts. No session, no `initialize`: each request gets a fresh SDK 2.x `Server`
 * (cheap: handlers that read the door), `server/discover` is answered by the SDK, and change
 * notifications travel only on `subscriptions/listen` streams fed by the door's event bus.
 *
 * Over 2026-07-28 a plugin's `ctx.sample` and `ctx.elicit` answer CLIENT_UNSUPPORTED: that
 * revision has no server→client request, only `input_required` results that re-run the handler,
 * which a plugin's one awaited call cannot be. `ctx.log` reaches the caller at the level its
 * request asks (`io.modelcontextprotocol/logLevel`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type AuthInfo,
  type CacheHint,
  type CallToolResult,
  type CompleteResult,
  createMcpHandler,
  type GetPromptResult,
  isLegacyRequest,
  type ListResourcesResult,
  type ListResourceTemplatesResult,
  type LoggingLevel,
  type Prompt,
  ProtocolError,
  type ReadResourceResult,
  Server,
  type ServerContext,
  type Tool,
} from '@modelcontextprotocol/server';
import type { LogLevel } from '../sandbox/protocol.js';
import type { CallClient } from '../sandbox/sandbox.js';
import { type Clock, systemClock, type Timer } from '../util/clock.js';
import { logNotification } from './client-link.js';
import type { McpFrontDoor } from './front-door.js';

/**
 * How long a 2026 client may serve a result from its cache. Lists are the same for every caller
 * (molt's tables are global), so `public`; they change on any reload, so a short TTL: a burst of
 * lists within one model turn is served from cache, and a client with no listen stream sees a
 * reload within 5 s (one with a stream drops its cached list on `list_changed` at once).
 * `server/discover` changes only with a restart. A resource's content is whatever the plugin's
 * `read` says each time, maybe per caller: never cached.
 */
export const CACHE_HINTS = {
  'tools/list': { ttlMs: 5_000, cacheScope: 'public' },
  'prompts/list': { ttlMs: 5_000, cacheScope: 'public' },
  'resources/list': { ttlMs: 5_000, cacheScope: 'public' },
  'resources/templates/list': { ttlMs: 5_000, cacheScope: 'public' },
  'resources/read': { ttlMs: 0, cacheScope: 'private' },
  'server/discover': { ttlMs: 60 * 60_000, cacheScope: 'public' },
} as const satisfies Record<string, CacheHint>;

export interface StatelessOptions {
  /** `subscriptions/listen` streams open at once; one more is refused in-band (-32603). */
  maxListenStreams: number;
  /** SSE keep-alive comment on listen and call streams (default 15 s; 0: none). */
  keepAliveMs?: number;
  /** Told after each request that ran plugin code ends (a graceful stop waits for the last). */
  settled?: () => void;
  /** For the bound on writing the listen streams' last frame at close. */
  clock?: Clock;
}

/** How long `close` waits for the listen streams' last frame to be written. */
const CLOSE_WRITE_MS = 1_000;

export interface StatelessDoor {
  /** Whether this POST (no session id) is a 2026-07-28 request, as the SDK classifies it. */
  claims(req: IncomingMessage, body: unknown): Promise<boolean>;
  /** Answers it on `res`; the client's disconnect cancels the call or ends the listen stream. */
  serve(
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    authInfo: AuthInfo | undefined,
  ): Promise<void>;
  /** Tool calls, reads, prompts and completions in flight. */
  calls(): number;
  /** Listen streams open. */
  listens(): number;
  /** Ends every listen stream gracefully (the empty listen result) and aborts what is in flight. */
  close(): Promise<void>;
}

/** The v1 SDK's McpError says "MCP error <code>: " before its message; the wire needs it once. */
function toProtocolError(err: unknown): unknown {
  const e = err as { code?: unknown; message?: unknown; data?: unknown };
  if (typeof e?.code !== 'number' || typeof e.message !== 'string') return err;
  const message = e.message.replace(/^MCP error -?\d+: /, '');
  return new ProtocolError(e.code, message, e.data);
}

/** A web `Request` with the headers the SDK classifies by; the body travels parsed, apart. */
function webRequest(req: IncomingMessage, signal?: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  // The URL is only carried to the SDK's handler context; Host was checked before this.
  return new Request('http://localhost/mcp', {
    method: req.method ?? 'POST',
    headers,
    ...(signal === undefined ? {} : { signal }),
  });
}

export function createStatelessDoor(door: McpFrontDoor, options: StatelessOptions): StatelessDoor {
  let inFlight = 0;
  /** The listen streams' responses, until each is written out or dropped. */
  const listens = new Set<Promise<void>>();
  const clock = options.clock ?? systemClock;

  /** Runs one request that reaches plugin code, counted so a graceful stop can wait for it. */
  async function tracked<T>(run: () => Promise<T>): Promise<T> {
    inFlight++;
    try {
      return await run();
    } catch (err) {
      throw toProtocolError(err);
    } finally {
      inFlight--;
      options.settled?.();
    }
  }

  /** The SDK 2.x server for one request: every handler reads the door's tables as they are now. */
  function build(): Server {
    const server = new Server(door.serverInfo, {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        completions: {},
        logging: {},
      },
      cacheHints: CACHE_HINTS,
    });
    // Both SDK generations describe the same wire JSON; their TypeScript types differ in
    // detail (v1's `object` vs v2's JSON value), hence the casts at this seam.
    const client = (ctx: ServerContext): CallClient => ({
      log(plugin: string, level: LogLevel, msg: string, data: unknown) {
        const { params } = logNotification(plugin, level, msg, data) as unknown as {
          params: { level: LoggingLevel; data: unknown; logger: string };
        };
        // The SDK drops it unless the request asked for this level or below.
        ctx.mcpReq.log(params.level, params.data, params.logger).catch(() => {});
      },
    });
    const served = (ctx: ServerContext) => ({ signal: ctx.mcpReq.signal, client: client(ctx) });

    server.setRequestHandler('tools/list', async () => ({
      tools: byName(door.tools() as Tool[]),
    }));
    server.setRequestHandler('tools/call', async (request, ctx) => {
      const { name, arguments: args = {} } = request.params;
      const progressToken = request.params._meta?.progressToken;
      const result = await tracked(() =>
        door.callTool(name, args, {
          ...served(ctx),
          onProgress:
            progressToken === undefined
              ? undefined
              : (p) =>
                  void ctx.mcpReq
                    .notify({
                      method: 'notifications/progress',
                      params: {
                        progressToken,
                        progress: p.done,
                        ...(p.total === undefined ? {} : { total: p.total }),
                        ...(p.message === undefined ? {} : { message: p.message }),
                      },
                    })
                    .catch(() => {}),
        }),
      );
      // The SDK's own era projection (its text fallback for structured content).
      return server.projectCallToolResult(
        result as CallToolResult,
        door.listedTool(name)?.outputSchema,
      );
    });
    server.setRequestHandler('resources/list', async () => ({
      resources: [...(door.resources() as ListResourcesResult['resources'])].sort((a, b) =>
        compare(a.uri, b.uri),
      ),
    }));
    server.setRequestHandler('resources/templates/list', async () => ({
      resourceTemplates: [
        ...(door.templates() as ListResourceTemplatesResult['resourceTemplates']),
      ].sort((a, b) => compare(a.uriTemplate, b.uriTemplate)),
    }));
    server.setRequestHandler('resources/read', async (request, ctx) =>
      tracked(
        () => door.readResource(request.params.uri, served(ctx)) as Promise<ReadResourceResult>,
      ),
    );
    server.setRequestHandler('prompts/list', async () => ({
      prompts: byName(door.prompts() as Prompt[]),
    }));
    server.setRequestHandler('prompts/get', async (request, ctx) =>
      tracked(
        () =>
          door.getPrompt(
            request.params.name,
            request.params.arguments ?? {},
            served(ctx),
          ) as Promise<GetPromptResult>,
      ),
    );
    server.setRequestHandler('completion/complete', async (request, ctx) =>
      tracked(
        () =>
          door.complete(
            request.params as Parameters<McpFrontDoor['complete']>[0],
            served(ctx),
          ) as Promise<CompleteResult>,
      ),
    );
    return server;
  }

  const handler = createMcpHandler(build, {
    // 2025 traffic never reaches this handler: http.ts keeps it on its sessions.
    legacy: 'reject',
    bus: door.bus,
    maxSubscriptions: options.maxListenStreams,
    ...(options.keepAliveMs === undefined ? {} : { keepAliveMs: options.keepAliveMs }),
  });

  return {
    claims: async (req, body) => !(await isLegacyRequest(webRequest(req), body)),
    async serve(req, res, body, authInfo) {
      // The client going away aborts the exchange: its call is cancelled, its stream ended.
      const gone = new AbortController();
      res.once('close', () => {
        if (!res.writableFinished) gone.abort();
      });
      const isListen = (body as { method?: unknown })?.method === 'subscriptions/listen';
      if (isListen) {
        const ended = new Promise<void>((resolve) => res.once('close', resolve));
        listens.add(ended);
        void ended.then(() => listens.delete(ended));
      }
      const response = await handler.fetch(webRequest(req, gone.signal), {
        parsedBody: body,
        ...(authInfo === undefined ? {} : { authInfo }),
      });
      if (res.headersSent || res.destroyed) {
        await response.body?.cancel().catch(() => {});
        return;
      }
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body === null) {
        res.end();
        return;
      }
      // pipeline: backpressure, and a dropped client cancels the SDK's stream.
      await pipeline(
        Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
        res,
      ).catch(() => {});
    },
    calls: () => inFlight,
    listens: () => listens.size,
    async close() {
      await handler.close();
      // The last frame (the empty listen result) goes out before the server drops connections;
      // a client that does not read is not waited for longer than this.
      let timer: Timer | undefined;
      await Promise.race([
        Promise.allSettled([...listens]),
        new Promise<void>((resolve) => {
          timer = clock.setTimeout(resolve, CLOSE_WRITE_MS);
        }),
      ]);
      timer?.clear();
    },
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorted by name, so every client and every host lists the same order. */
function byName<T extends { name: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => compare(a.name, b.name));
}
