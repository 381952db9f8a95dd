/**
 * MCP over Streamable HTTP at `/mcp`, many sessions at once. Unknown or expired session ids get
 * 404 so clients re-initialize; idle sessions are reaped after a TTL; a client whose POST stream
 * drops mid-call has that call cancelled, down to the plugin's `ctx.signal`.
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { type Clock, systemClock, type Timer } from '../util/clock.js';
import { readJsonBody } from '../util/read-json-body.js';
import type { McpFrontDoor, SessionContext } from './front-door.js';

export interface McpHttpOptions {
  port: number;
  /** Loopback unless told otherwise. */
  host?: string;
  /** Sessions with no request and no call in flight for this long are closed (default 30 min). */
  sessionTtlMs?: number;
  /** Largest request body accepted (default 4 MiB). */
  maxBodyBytes?: number;
  /** Time for the session TTL (tests advance a manual one). */
  clock?: Clock;
}

interface Session extends SessionContext {
  transport: StreamableHTTPServerTransport;
  server: Server;
  lastSeen: number;
}

export interface McpHttpServer {
  url: string;
  sessions(): number;
  /** Tool calls in flight over all sessions. */
  calls(): number;
  /**
   * Stops: new connections and requests are refused at once (503), the tool calls in flight
   * may finish for up to `drainMs`, then every session is closed.
   */
  close(options?: { drainMs?: number }): Promise<void>;
}

function rpcError(res: ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

/** JSON-RPC ids of the requests in a POST body (a message or a batch). */
function requestIds(body: unknown): (string | number)[] {
  const messages = Array.isArray(body) ? body : [body];
  return messages
    .map(
      (m) =>
        (m as { id?: unknown; method?: unknown })?.method !== undefined &&
        (m as { id?: unknown }).id,
    )
    .filter((id): id is string | number => typeof id === 'string' || typeof id === 'number');
}

export async function startMcpHttp(
  door: McpFrontDoor,
  options: McpHttpOptions,
): Promise<McpHttpServer> {
  const sessions = new Map<string, Session>();
  const ttl = options.sessionTtlMs ?? 30 * 60_000;
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const clock = options.clock ?? systemClock;
  let draining = false;
  /** Wakes a draining close() each time a call ends. */
  let callEnded = (): void => {};
  const inFlight = (): number => {
    let n = 0;
    for (const s of sessions.values()) n += s.calls.size;
    return n;
  };

  async function open(): Promise<Session> {
    const session = {
      calls: new Map(),
      lastSeen: clock.now(),
      settled: () => callEnded(),
    } as Session;
    session.transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, session);
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
      },
    });
    session.transport.onclose = () => {
      const id = session.transport.sessionId;
      if (id !== undefined) sessions.delete(id);
    };
    session.server = door.createServer(session);
    await session.server.connect(session.transport);
    return session;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (draining) {
      res.setHeader('connection', 'close');
      return rpcError(res, 503, -32000, 'the server is shutting down');
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== '/mcp')
      return rpcError(res, 404, -32601, `nothing at ${path}; MCP is served at /mcp`);
    const header = req.headers['mcp-session-id'];
    const id = Array.isArray(header) ? header[0] : header;
    let body: unknown;
    if (req.method === 'POST') {
      const read = await readJsonBody(req, maxBody);
      if (!read.ok && read.reason === 'too-large') {
        return rpcError(res, 413, -32600, `request body over ${maxBody} bytes`);
      }
      if (!read.ok || read.value === undefined) {
        return rpcError(res, 400, -32700, 'Parse error: the body is not JSON');
      }
      body = read.value;
    } else if (req.method !== 'GET' && req.method !== 'DELETE') {
      res.setHeader('allow', 'GET, POST, DELETE');
      return rpcError(res, 405, -32000, `method ${req.method} not allowed`);
    }
    let session: Session | undefined;
    let opened = false;
    if (id === undefined) {
      if (req.method !== 'POST' || !isInitializeRequest(body)) {
        return rpcError(
          res,
          400,
          -32000,
          'Bad Request: no session id; start with an initialize request',
        );
      }
      session = await open();
      opened = true;
    } else {
      session = sessions.get(id);
      if (session === undefined)
        return rpcError(res, 404, -32001, 'Session not found: initialize a new session');
    }
    session.lastSeen = clock.now();
    const ids = requestIds(body);
    if (ids.length > 0) {
      const current = session;
      // The client dropped the stream before its answers were written: cancel those calls.
      res.once('close', () => {
        if (res.writableFinished) return;
        for (const rid of ids) {
          current.calls
            .get(rid)
            ?.abort(new MoltError(ErrorCodes.CANCELLED, 'the client disconnected'));
        }
      });
    }
    await session.transport.handleRequest(req, res, body);
    // An initialize the transport refused (bad Accept, bad params) made no session: drop its
    // server, or the front door would keep it (and notify it) forever.
    if (opened && session.transport.sessionId === undefined) await session.server.close();
  }

  const http: HttpServer = createServer((req, res) => {
    handle(req, res).catch((err: unknown) =>
      rpcError(res, 500, -32603, `internal error: ${(err as Error).message}`),
    );
  });

  // Sessions idle past the TTL are closed by a sweep every half TTL (at most a minute).
  const every = Math.max(10, Math.min(ttl / 2, 60_000));
  let reaper: Timer;
  const reap = (): void => {
    const now = clock.now();
    for (const s of sessions.values()) {
      if (s.calls.size === 0 && now - s.lastSeen >= ttl) void s.transport.close();
    }
    reaper = clock.setTimeout(reap, every);
  };
  reaper = clock.setTimeout(reap, every);

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/mcp`,
    sessions: () => sessions.size,
    calls: inFlight,
    async close({ drainMs = 0 } = {}) {
      draining = true;
      reaper.clear();
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      // Calls in flight finish (their answers still go out on their own streams) unless the
      // drain time runs out first.
      if (inFlight() > 0 && drainMs > 0) {
        await new Promise<void>((resolve) => {
          const timer = clock.setTimeout(resolve, drainMs);
          // A call leaves its session's map before the SDK writes its answer: let that go out.
          callEnded = () =>
            setImmediate(() => {
              if (inFlight() > 0) return;
              timer.clear();
              resolve();
            });
        });
      }
      await Promise.allSettled([...sessions.values()].map((s) => s.transport.close()));
      sessions.clear();
      http.closeAllConnections();
      await closed;
    },
  };
}
