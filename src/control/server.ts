/**
 * The control endpoint of `molt serve`: loopback HTTP with a bearer token that only the data
 * folder's owner can read. The CLI's status, reload and rollback talk to it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Deployment } from '../deploy/deployment.js';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import { writeFileAtomic } from '../util/durable.js';
import { toJson } from '../util/json.js';
import { readJsonBody } from '../util/read-json-body.js';
import { type ControlEndpoint, endpointFile } from './endpoint.js';

export interface ControlServer {
  endpoint: ControlEndpoint;
  close(): Promise<void>;
}

type Route = (
  deployment: Deployment,
  name: string,
  rest: string[],
  body: unknown,
) => Promise<unknown>;

const routes: Record<string, Route> = {
  'GET status': async (d) => ({ plugins: d.status() }),
  'POST reload': (d, name) => d.reload(name),
  'POST rollback': (d, name, _rest, body) =>
    d.rollback(name, {
      discardState: (body as { discardState?: unknown } | undefined)?.discardState === true,
    }),
  'POST call': async (d, name, [tool], args) => ({
    result: await d.host.call(name, tool ?? '', args ?? {}),
  }),
};

const MAX_BODY = 1 << 20;

async function readBody(req: IncomingMessage): Promise<unknown> {
  const body = await readJsonBody(req, MAX_BODY);
  if (body.ok) return body.value;
  throw new MoltError(
    ErrorCodes.INVALID_REQUEST,
    body.reason === 'too-large'
      ? `request body over ${MAX_BODY} bytes`
      : 'the request body is not JSON',
  );
}

/** The HTTP status each code an answer can carry gets; anything else is a conflict (409). */
const STATUS: Partial<Record<string, number>> = {
  [ErrorCodes.CONTROL_UNAUTHORIZED]: 401,
  [ErrorCodes.UNKNOWN_PLUGIN]: 404,
  [ErrorCodes.UNKNOWN_TOOL]: 404,
  [ErrorCodes.INVALID_REQUEST]: 400,
  [ErrorCodes.INVALID_INPUT]: 400,
  [ErrorCodes.RESULT_UNSERIALIZABLE]: 502,
  [ErrorCodes.INTERNAL]: 500,
};

/** The answer to a failed request: a documented code, and INTERNAL (500) for anything else. */
export function errorAnswer(err: unknown): {
  status: number;
  body: { error: { code: string; message: string } };
} {
  const e = isMoltError(err)
    ? err
    : new MoltError(ErrorCodes.INTERNAL, err instanceof Error ? err.message : String(err));
  return { status: STATUS[e.code] ?? 409, body: { error: { code: e.code, message: e.message } } };
}

/** The path's segments, %-decoded; a malformed escape is the client's error, not ours. */
function segments(url: string | undefined): string[] {
  try {
    return new URL(url ?? '/', 'http://x').pathname
      .split('/')
      .filter(Boolean)
      .map(decodeURIComponent);
  } catch (err) {
    throw new MoltError(ErrorCodes.INVALID_REQUEST, `the path ${url} is not valid %-encoding`, {
      cause: err,
    });
  }
}

export async function startControl(
  deployment: Deployment,
  dataDir: string,
): Promise<ControlServer> {
  const token = randomBytes(24).toString('hex');
  const expected = Buffer.from(`Bearer ${token}`);
  const server: Server = createServer((req, res) => {
    // Nothing a request does may reject unhandled: the host serves other plugins.
    handle(req, res).catch(() => res.destroy());
  });

  /** Serializes before the status line goes out, so an answer is written exactly once. */
  function send(res: ServerResponse, status: number, body: unknown): void {
    let text: string;
    try {
      text = toJson(body);
    } catch (err) {
      const e = isMoltError(err) ? err : new MoltError(ErrorCodes.INTERNAL, String(err));
      status = STATUS[e.code] ?? 500;
      text = JSON.stringify({ error: { code: e.code, message: e.message } });
    }
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new MoltError(ErrorCodes.CONTROL_UNAUTHORIZED, 'missing or wrong control token');
      }
      // /v1/status, /v1/plugins/<name>/<action>, /v1/plugins/<name>/call/<tool>
      const parts = segments(req.url);
      const [version, first, name, action, ...rest] = parts;
      const route =
        version === 'v1' && first === 'status' && parts.length === 2
          ? routes[`${req.method} status`]
          : version === 'v1' && first === 'plugins' && parts.length >= 4
            ? routes[`${req.method} ${action}`]
            : undefined;
      if (route === undefined)
        throw new MoltError(ErrorCodes.INVALID_REQUEST, `no route ${req.method} ${req.url}`);
      send(res, 200, await route(deployment, name ?? '', rest, await readBody(req)));
    } catch (err) {
      const answer = errorAnswer(err);
      send(res, answer.status, answer.body);
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint: ControlEndpoint = { url: `http://127.0.0.1:${port}`, token, pid: process.pid };
  await writeFileAtomic(endpointFile(dataDir), JSON.stringify(endpoint), 0o600);
  return {
    endpoint,
    async close() {
      await rm(endpointFile(dataDir), { force: true });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
