/**
 * The admin API of `molt serve` and `molt dev`: HTTP, loopback unless told otherwise, every
 * route behind a bearer token except the ones its table marks public. The CLI finds it through
 * `<data>/control.json` (`{ url, token, pid }`, owner-only). Routes are in routes.ts, the status
 * of each error code in answers.ts.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Deployment } from '../deploy/deployment.js';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { writeFileAtomic } from '../util/durable.js';
import { toJson } from '../util/json.js';
import { type ErrorBody, errorAnswer, statusOf } from './answers.js';
import { readJson } from './body.js';
import { type ControlEndpoint, endpointFile } from './endpoint.js';
import { type Answer, type EventsSource, findRoute, type MetricsSource } from './routes.js';
import { Uploads } from './uploads.js';

export interface AdminOptions {
  /** 0 (the default): any free port. */
  port?: number;
  /** Default 127.0.0.1. Wider is fine: every route but the public ones wants the token. */
  host?: string;
  /** The bearer token (from `--admin-token-file`); default a random one for this run. */
  token?: string;
  /** `GET /metrics` without the token. */
  metricsPublic?: boolean;
  /** Mounted at `GET /v1/events`. */
  events?: EventsSource;
  /** Mounted at `GET /metrics`. */
  metrics?: MetricsSource;
  /** Largest `.molt` upload; default the store's limit on an artifact's total bytes. */
  maxUploadBytes?: number;
  /** The watched folder, if any: an installed upload is kept there so a restart serves it. */
  pluginsDir?: string;
}

export interface AdminServer {
  /** Where the API answers from this machine. */
  url: string;
  endpoint: ControlEndpoint;
  close(): Promise<void>;
}

/** JSON request bodies: arguments and options, never artifacts. */
export const MAX_JSON_BYTES = 1 << 20;

/** How long a client may take to send its headers, and its whole request (an upload included). */
const HEADERS_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 300_000;

/** A digest of each side, so the comparison takes the same time whatever the lengths. */
const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** The token of an `Authorization: Bearer <token>` header, if that is what it is. */
function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(header ?? '');
  return m?.[1];
}

/** The path's segments, %-decoded; a malformed escape is the client's error, not ours. */
function parseUrl(url: string | undefined): { parts: string[]; query: URLSearchParams } {
  try {
    const u = new URL(url ?? '/', 'http://admin.invalid');
    const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    return { parts, query: u.searchParams };
  } catch (err) {
    throw new MoltError(ErrorCodes.INVALID_REQUEST, 'the request path is not a valid URL path', {
      cause: err,
    });
  }
}

/** The URL a client on this machine uses: a wildcard address is reached through loopback. */
function localUrl(host: string, port: number): string {
  const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}`;
}

export async function startAdmin(
  deployment: Deployment,
  dataDir: string,
  options: AdminOptions = {},
): Promise<AdminServer> {
  const token = options.token ?? randomBytes(24).toString('hex');
  const expected = digest(token);
  const uploads = new Uploads(
    dataDir,
    options.maxUploadBytes ?? deployment.store.limits.maxTotalBytes,
    options.pluginsDir,
  );
  await uploads.sweep();
  const deps = {
    deployment,
    uploads,
    events: options.events,
    metrics: options.metrics,
  };

  const authorized = (req: IncomingMessage): boolean => {
    const given = bearer(req.headers.authorization);
    return given !== undefined && timingSafeEqual(digest(given), expected);
  };

  function send(req: IncomingMessage, res: ServerResponse, status: number, answer: Answer): void {
    if (res.headersSent || res.destroyed) return;
    let text: string;
    let type = 'application/json; charset=utf-8';
    if ('text' in answer) {
      text = answer.text;
      type = answer.contentType;
    } else {
      try {
        text = toJson('json' in answer ? answer.json : null);
      } catch (err) {
        const e = errorAnswer(err);
        status = e.status;
        text = JSON.stringify(e.body);
      }
    }
    const headers: Record<string, string | number> = {
      'content-type': type,
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    };
    if (status === statusOf(ErrorCodes.BUSY)) headers['retry-after'] = 1;
    if (status === statusOf(ErrorCodes.CONTROL_UNAUTHORIZED))
      headers['www-authenticate'] = 'Bearer';
    // A body left unread (refused before it was read) is not read on: the connection ends. A
    // body refused as too large ends it too, however much of it had arrived by then.
    if (!req.complete || status === statusOf(ErrorCodes.REQUEST_TOO_LARGE))
      headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(text);
  }

  function fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const { status, body } = errorAnswer(err);
    send(req, res, status, { json: body satisfies ErrorBody });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const { parts, query } = parseUrl(req.url);
      const found = findRoute(req.method, parts);
      const access = found?.route.access ?? 'token';
      const open = access === 'public' || (access === 'metrics' && options.metricsPublic === true);
      // Before anything else, unknown routes included: without the token nothing is learnt.
      if (!open && !authorized(req)) {
        throw new MoltError(ErrorCodes.CONTROL_UNAUTHORIZED, 'missing or wrong admin token');
      }
      if (found === undefined) {
        throw new MoltError(ErrorCodes.NOT_FOUND, `no route ${req.method} ${parts.join('/')}`);
      }
      const answer = await found.route.handle({
        ...deps,
        req,
        res,
        params: found.params,
        query,
        body: () => readJson(req, MAX_JSON_BYTES),
      });
      if (!('streamed' in answer)) send(req, res, 200, answer);
    } catch (err) {
      fail(req, res, err);
    }
  }

  const server: Server = createServer((req, res) => {
    // Nothing a request does may reject unhandled: the host serves other plugins.
    handle(req, res).catch(() => res.destroy());
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  // Malformed request lines and headers, oversized headers, timeouts: a JSON 400, then close.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({
      error: { code: ErrorCodes.INVALID_REQUEST, message: `malformed request (${err.code})` },
    });
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = localUrl(host, port);
  const endpoint: ControlEndpoint = { url, token, pid: process.pid };
  try {
    await writeFileAtomic(endpointFile(dataDir), JSON.stringify(endpoint), 0o600);
  } catch (err) {
    server.close();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    url,
    endpoint,
    close() {
      closed ??= (async () => {
        await rm(endpointFile(dataDir), { force: true });
        server.close();
        server.closeAllConnections();
        // An upload under way still removes its temp file (the deployment finishes its install).
        await uploads.settled();
      })();
      return closed;
    },
  };
}
