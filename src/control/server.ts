/**
 * The control endpoint of `molt serve`: loopback HTTP with a bearer token that only the data
 * folder's owner can read. The CLI's status, reload and rollback talk to it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileAtomic } from '../catalog/atomic.js';
import type { Deployment } from '../deploy/deployment.js';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
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
  'POST rollback': (d, name) => d.rollback(name),
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

const statusOf = (code: string): number =>
  code === ErrorCodes.CONTROL_UNAUTHORIZED
    ? 401
    : code === ErrorCodes.UNKNOWN_PLUGIN || code === ErrorCodes.UNKNOWN_TOOL
      ? 404
      : code === ErrorCodes.INVALID_REQUEST
        ? 400
        : 409;

export async function startControl(
  deployment: Deployment,
  dataDir: string,
): Promise<ControlServer> {
  const token = randomBytes(24).toString('hex');
  const expected = Buffer.from(`Bearer ${token}`);
  const server: Server = createServer((req, res) => void handle(req, res));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new MoltError(ErrorCodes.CONTROL_UNAUTHORIZED, 'missing or wrong control token');
      }
      // /v1/status, /v1/plugins/<name>/<action>, /v1/plugins/<name>/call/<tool>
      const parts = new URL(req.url ?? '/', 'http://x').pathname
        .split('/')
        .filter(Boolean)
        .map(decodeURIComponent);
      const [version, first, name, action, ...rest] = parts;
      const route =
        version === 'v1' && first === 'status' && parts.length === 2
          ? routes[`${req.method} status`]
          : version === 'v1' && first === 'plugins' && parts.length >= 4
            ? routes[`${req.method} ${action}`]
            : undefined;
      if (route === undefined)
        throw new MoltError(ErrorCodes.INVALID_REQUEST, `no route ${req.method} ${req.url}`);
      send(200, await route(deployment, name ?? '', rest, await readBody(req)));
    } catch (err) {
      const code = isMoltError(err) ? err.code : 'INTERNAL';
      send(isMoltError(err) ? statusOf(code) : 500, {
        error: { code, message: (err as Error).message },
      });
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
