/**
 * MCP over Streamable HTTP at `/mcp`, many sessions at once. Every request is first checked for
 * its `Host` and `Origin` (DNS rebinding, 403) and its bearer token (401), before its body is read
 * or its session looked up. Unknown or expired session ids get 404 so clients re-initialize; a
 * session is reaped after a TTL of idleness, idleness starting when its last open stream or call
 * ends; the number of sessions is capped (503 to an initialize over it); a client whose POST
 * stream drops mid-call has that call cancelled, down to the plugin's `ctx.signal`.
 *
 * A POST without a session that the SDK classifies as MCP 2026-07-28 (its `_meta` envelope) is
 * served statelessly by stateless.ts after the same checks; a request with a session id always
 * belongs to its session.
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { type Clock, systemClock, type Timer } from '../util/clock.js';
import { readJsonBody } from '../util/read-json-body.js';
import type { McpFrontDoor, SessionContext } from './front-door.js';
import { accessCheck, isLoopback } from './http-access.js';
import { authCheck, type McpOAuth, resourceMetadata, resourceMetadataUrl } from './http-auth.js';
import { SessionWire } from './session-wire.js';
import type { StatelessDoor } from './stateless.js';

export type { McpOAuth } from './http-auth.js';

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
  /** Sessions at once (default 1,000); an initialize over it gets 503 and creates nothing. */
  maxSessions?: number;
  /**
   * More `Host` values served (`name` for any port, or `name:port`) beside the bound address's
   * own names (for a loopback bind: `localhost`, `127.0.0.1`, `[::1]` on the bound port).
   */
  allowedHosts?: string[];
  /** More `Origin` values served beside `http://<own name>:<port>`; no Origin is always fine. */
  allowedOrigins?: string[];
  /** A shared bearer token every request must carry (`Authorization: Bearer <token>`). */
  token?: string;
  /** Or: molt as an OAuth resource server, tokens checked by a verifier (see README). */
  oauth?: McpOAuth;
  /** Serve a non-loopback address without `token` or `oauth` (otherwise OPTIONS_INVALID). */
  insecureNoAuth?: boolean;
  /**
   * 2026-07-28 `subscriptions/listen` streams open at once (default: `maxSessions`), counted
   * apart from sessions; one more is refused in-band (-32603 "Subscription limit reached").
   */
  maxListenStreams?: number;
  /** SSE keep-alive comment on 2026-07-28 streams, in ms (default 15,000; 0: none). */
  keepAliveMs?: number;
}

interface Session extends SessionContext {
  transport: SessionWire;
  server: Server;
  lastSeen: number;
  /** Requests of this session whose response is still open: GET streams, calls in flight. */
  open: number;
  /** The OAuth client that opened it (undefined without OAuth): only it may use the session. */
  owner?: string | undefined;
  /** Stops counting a session being opened against the cap (registered, or refused). */
  unregistered?: () => void;
}

export interface McpHttpServer {
  url: string;
  sessions(): number;
  /** Tool calls in flight over all sessions. */
  calls(): number;
  /** Requests of sessions whose response is still open (GET streams, calls) over all sessions. */
  streams(): number;
  /** 2026-07-28 `subscriptions/listen` streams open. */
  listenStreams(): number;
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
  const ids: (string | number)[] = [];
  const add = (m: unknown): void => {
    const { id, method } = (m ?? {}) as { id?: unknown; method?: unknown };
    if (method !== undefined && (typeof id === 'string' || typeof id === 'number')) ids.push(id);
  };
  if (Array.isArray(body)) for (const m of body) add(m);
  else add(body);
  return ids;
}

function invalid(option: string, message: string): MoltError {
  return new MoltError(ErrorCodes.OPTIONS_INVALID, message, { details: { option } });
}

export async function startMcpHttp(
  door: McpFrontDoor,
  options: McpHttpOptions,
): Promise<McpHttpServer> {
  const sessions = new Map<string, Session>();
  const ttl = options.sessionTtlMs ?? 30 * 60_000;
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const maxSessions = options.maxSessions ?? 1_000;
  const clock = options.clock ?? systemClock;
  const host = options.host ?? '127.0.0.1';
  if (!Number.isInteger(maxSessions) || maxSessions < 1) {
    throw invalid('maxSessions', `maxSessions must be a whole number >= 1, not ${maxSessions}`);
  }
  // Each open stream holds about what a session holds (a socket, a listener): one knob for both.
  const maxListenStreams = options.maxListenStreams ?? maxSessions;
  if (!Number.isInteger(maxListenStreams) || maxListenStreams < 1) {
    throw invalid(
      'maxListenStreams',
      `maxListenStreams must be a whole number >= 1, not ${maxListenStreams}`,
    );
  }
  if (options.token !== undefined && options.oauth !== undefined) {
    throw invalid('token', 'give a token or an OAuth verifier, not both');
  }
  if (options.token !== undefined && options.token.length < 16) {
    throw invalid('token', 'the MCP token must be at least 16 characters');
  }
  const authenticated = options.token !== undefined || options.oauth !== undefined;
  if (!isLoopback(host) && !authenticated && options.insecureNoAuth !== true) {
    throw invalid(
      'host',
      `refusing to serve MCP on ${host} without authentication: every tool would be open to the network. Give a token (--token-file FILE or MOLT_MCP_TOKEN), or say --insecure-no-auth`,
    );
  }
  const authorize = authCheck(
    options.token !== undefined
      ? { token: options.token }
      : options.oauth !== undefined
        ? { oauth: options.oauth }
        : undefined,
  );
  const accessOptions = {
    bind: host,
    allowedHosts: options.allowedHosts ?? [],
    allowedOrigins: options.allowedOrigins ?? [],
  };
  /** Answers nothing until the real port is known; replaced once listening. */
  let access: ReturnType<typeof accessCheck> = () => ({ ok: false, message: 'not listening' });
  try {
    // Checks the given hosts and origins now, before anything listens.
    accessCheck({ ...accessOptions, port: options.port });
  } catch (err) {
    throw invalid('allowedHosts', (err as Error).message);
  }
  const metadataPath =
    options.oauth === undefined ? undefined : resourceMetadataUrl(options.oauth.resource).pathname;
  /** Initializes between the cap check and their session's registration. */
  let opening = 0;
  let draining = false;
  /** Wakes a draining close() each time a call ends. */
  let callEnded = (): void => {};
  // Loaded here, not at import: the SDK 2.x package costs ~200 ms of CPU to load.
  const { createStatelessDoor } = await import('./stateless.js');
  const stateless: StatelessDoor = createStatelessDoor(door, {
    maxListenStreams,
    ...(options.keepAliveMs === undefined ? {} : { keepAliveMs: options.keepAliveMs }),
    settled: () => callEnded(),
    clock,
  });
  const inFlight = (): number => {
    let n = stateless.calls();
    for (const s of sessions.values()) n += s.calls.size;
    return n;
  };

  /** A new session, counted against the cap from now on (before the SDK registers it). */
  async function open(): Promise<Session> {
    opening++;
    let counted = true;
    const uncount = (): void => {
      if (counted) opening--;
      counted = false;
    };
    const session = {
      unregistered: uncount,
      calls: new Map(),
      lastSeen: clock.now(),
      open: 0,
      settled: (requestId, unanswered) => {
        session.transport.settled(requestId, unanswered);
        callEnded();
      },
    } as Session;
    session.transport = new SessionWire(
      new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          uncount();
          sessions.set(id, session);
        },
        onsessionclosed: (id) => {
          sessions.delete(id);
        },
      }),
    );
    session.transport.onclose = () => {
      const id = session.transport.sessionId;
      if (id !== undefined) sessions.delete(id);
    };
    try {
      session.server = door.createServer(session);
      await session.server.connect(session.transport);
    } catch (err) {
      uncount();
      throw err;
    }
    return session;
  }

  /**
   * One request of a session is open: the reaper leaves the session alone until it ends. If
   * the client drops its stream before the answers to `ids` were written, those calls are
   * cancelled. One listener for both: a request pays for one.
   */
  function hold(session: Session, res: ServerResponse, ids: (string | number)[]): void {
    session.open++;
    res.once('close', () => {
      session.open--;
      session.lastSeen = clock.now();
      if (ids.length === 0 || res.writableFinished) return;
      for (const rid of ids) {
        session.calls
          .get(rid)
          ?.abort(new MoltError(ErrorCodes.CANCELLED, 'the client disconnected'));
      }
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Before anything else, so a foreign page learns nothing, not even whether a session exists.
    const allowed = access({ host: req.headers.host, origin: req.headers.origin });
    if (!allowed.ok) return rpcError(res, 403, -32000, allowed.message);
    if (draining) {
      res.setHeader('connection', 'close');
      return rpcError(res, 503, -32000, 'the server is shutting down');
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === metadataPath && options.oauth !== undefined && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(resourceMetadata(options.oauth)));
      return;
    }
    if (path !== '/mcp')
      return rpcError(res, 404, -32601, `nothing at ${path}; MCP is served at /mcp`);
    const auth = await authorize(req);
    if (!auth.ok) {
      if (auth.challenge !== undefined) res.setHeader('www-authenticate', auth.challenge);
      return rpcError(res, auth.status, -32001, auth.message);
    }
    // The SDK hands `req.auth` to the tool handlers as `extra.authInfo`.
    if (auth.info !== undefined) (req as IncomingMessage & { auth?: AuthInfo }).auth = auth.info;
    const header = req.headers['mcp-session-id'];
    const id = Array.isArray(header) ? header[0] : header;
    if (id === undefined && (req.method === 'GET' || req.method === 'DELETE')) {
      // Nothing to stream or end without a session; clients skip a 405 quietly, not a 400.
      res.setHeader('allow', 'POST');
      return rpcError(res, 405, -32000, `${req.method} needs a session; start with POST`);
    }
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
    if (id === undefined && req.method === 'POST' && (await stateless.claims(req, body)))
      return stateless.serve(req, res, body, auth.info);
    let session: Session | undefined;
    let opened = false;
    if (id === undefined) {
      if (!isInitializeRequest(body)) {
        return rpcError(
          res,
          400,
          -32000,
          'Bad Request: no session id; start with an initialize request',
        );
      }
      if (sessions.size + opening >= maxSessions) {
        return rpcError(
          res,
          503,
          -32000,
          `Service Unavailable: ${maxSessions} MCP sessions are open, the most this server keeps; close one (DELETE) or try again later`,
        );
      }
      session = await open();
      session.owner = auth.info?.clientId;
      opened = true;
    } else {
      session = sessions.get(id);
      // Under OAuth a session id is no key on its own: another client's token does not open it
      // (and learns nothing about whether it exists).
      if (session === undefined || session.owner !== auth.info?.clientId)
        return rpcError(res, 404, -32001, 'Session not found: initialize a new session');
    }
    session.lastSeen = clock.now();
    hold(session, res, requestIds(body));
    // One request to an open session, as nearly every call comes: molt's lane (session-wire.ts).
    if (!opened && req.method === 'POST' && session.transport.post(req, res, body, auth.info))
      return;
    try {
      await session.transport.handleRequest(req, res, body);
    } finally {
      if (opened) session.unregistered?.();
    }
    // An initialize the transport refused (bad Accept, bad params) made no session: drop its
    // server, or the front door would keep it (and notify it) forever.
    if (opened && session.transport.sessionId === undefined) await session.server.close();
  }

  const http: HttpServer = createServer((req, res) => {
    handle(req, res).catch((err: unknown) =>
      rpcError(res, 500, -32603, `internal error: ${(err as Error).message}`),
    );
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  access = accessCheck({ ...accessOptions, port });

  // Sessions idle past the TTL are closed by a sweep every half TTL (at most a minute). A
  // session with a stream open or a call in flight is not idle: its idleness starts when the
  // last one ends.
  const every = Math.max(10, Math.min(ttl / 2, 60_000));
  let reaper: Timer;
  const reap = (): void => {
    const now = clock.now();
    for (const s of sessions.values()) {
      if (s.open === 0 && s.calls.size === 0 && now - s.lastSeen >= ttl) {
        void s.transport.close();
      }
    }
    reaper = clock.setTimeout(reap, every);
  };
  reaper = clock.setTimeout(reap, every);
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/mcp`,
    sessions: () => sessions.size,
    calls: inFlight,
    streams: () => {
      let n = 0;
      for (const s of sessions.values()) n += s.open;
      return n;
    },
    listenStreams: () => stateless.listens(),
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
      // Listen streams end with the empty listen result, so their clients know it was on purpose.
      await stateless.close();
      await Promise.allSettled([...sessions.values()].map((s) => s.transport.close()));
      sessions.clear();
      http.closeAllConnections();
      await closed;
    },
  };
}
