/**
 * Issue 12, item 1: MCP over HTTP is safe by default. A foreign `Host` or `Origin` (DNS
 * rebinding) gets 403 before anything else; a token, when set, is required (401 with
 * `WWW-Authenticate: Bearer`); an OAuth resource server publishes its metadata; `molt serve`
 * refuses to put the tools on a non-loopback address without authentication.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { createHost, type Host, isMoltError } from '../../src/index.js';
import { McpFrontDoor } from '../../src/mcp/front-door.js';
import { type McpHttpOptions, type McpHttpServer, startMcpHttp } from '../../src/mcp/http.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { MoltProcess, molt } from '../helpers/cli.js';
import { type ConnectOptions, connectHttp, type HttpClient, textOf } from '../helpers/mcp.js';
import { tempDir } from '../helpers/project.js';

after(cleanArtifacts);
const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const LIMIT = { timeout: 30_000 };
const TOKEN = 'a-test-token-of-32-characters-xx';

interface Served {
  host: Host;
  http: McpHttpServer;
  port: number;
  connect(options?: ConnectOptions): Promise<HttpClient>;
  close(): Promise<void>;
}

/** A host with one plugin (`p__version` answers `v1`) served over MCP HTTP with `options`. */
async function serve(options: Partial<McpHttpOptions> = {}): Promise<Served> {
  const host = await createHost({ probationMs: 0 });
  await host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
  const door = new McpFrontDoor(host);
  let http: McpHttpServer;
  try {
    http = await startMcpHttp(door, { port: 0, ...options });
  } catch (err) {
    await door.close();
    await host.close();
    throw err;
  }
  const clients: HttpClient[] = [];
  return {
    host,
    http,
    port: Number(new URL(http.url).port),
    async connect(connectOptions) {
      const url = http.url.replace('0.0.0.0', '127.0.0.1');
      const c = await connectHttp(url, connectOptions);
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await http.close();
      await door.close();
      await host.close();
    },
  };
}

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request with headers as given (fetch will not forge `Host`). Without `body` the request
 * is left open after its headers: the answer then cannot depend on a body.
 */
function raw(
  port: number,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: string },
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'POST',
        path: options.path ?? '/mcp',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(options.body === undefined && options.method !== 'GET'
            ? { 'content-length': '100000' }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
          req.destroy();
        });
      },
    );
    req.on('error', reject);
    if (options.body === undefined) req.flushHeaders();
    else req.end(options.body);
  });
}

const initialize = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'x', version: '1' },
  },
});

const errorMessage = (r: Raw): string => {
  const body = JSON.parse(r.body) as { jsonrpc: string; error: { message: string } };
  assert.equal(body.jsonrpc, '2.0');
  return body.error.message;
};

test(
  'a foreign Host or Origin gets 403 before the body is read or a session is looked up',
  LIMIT,
  async () => {
    const s = await serve();
    try {
      const { port } = s;
      // DNS rebinding: the page's name, re-pointed at 127.0.0.1, arrives as the Host.
      const rebound = await raw(port, {
        headers: { host: `evil.example:${port}`, origin: `http://evil.example:${port}` },
        body: initialize,
      });
      assert.equal(rebound.status, 403);
      assert.match(errorMessage(rebound), /Host evil\.example is not served here/);
      assert.equal(s.http.sessions(), 0);

      // Answered with the body still unsent: nothing was read.
      const unread = await raw(port, { headers: { host: `evil.example:${port}` } });
      assert.equal(unread.status, 403);

      // Loopback names on another port are other servers.
      const otherPort = await raw(port, {
        headers: { host: `localhost:${port + 1}` },
        body: initialize,
      });
      assert.equal(otherPort.status, 403);

      // The right Host but a foreign page, or a page on another localhost port.
      for (const origin of [
        `http://evil.example:${port}`,
        `http://localhost:${port + 1}`,
        'null',
      ]) {
        const r = await raw(port, {
          headers: { host: `127.0.0.1:${port}`, origin },
          body: initialize,
        });
        assert.equal(r.status, 403, origin);
        assert.match(errorMessage(r), /^Forbidden: Origin .* is not allowed/);
      }
      assert.equal(s.http.sessions(), 0);

      // A live session's id does not help a foreign Host: 403, not 200 or 404.
      const c = await s.connect();
      const hijack = await raw(port, {
        method: 'GET',
        headers: {
          host: `evil.example:${port}`,
          accept: 'text/event-stream',
          'mcp-session-id': c.transport.sessionId!,
        },
      });
      assert.equal(hijack.status, 403);

      // Loopback Hosts and same-origin pages are served; so are clients that send no Origin.
      for (const name of ['localhost', '127.0.0.1', '[::1]']) {
        const ok = await raw(port, { method: 'GET', headers: { host: `${name}:${port}` } });
        assert.equal(ok.status, 405, `${name}: reaches the server (405: GET needs a session)`);
      }
      const page = await s.connect({ headers: { origin: `http://localhost:${port}` } });
      assert.equal(textOf(await page.client.callTool({ name: 'p__version' })), 'v1');
      assert.equal(textOf(await c.client.callTool({ name: 'p__version' })), 'v1');
    } finally {
      await s.close();
    }
  },
);

test(
  'allowedHosts and allowedOrigins widen what is served; a malformed one is OPTIONS_INVALID',
  LIMIT,
  async () => {
    const s = await serve({
      allowedHosts: ['mcp.example', 'pinned.example:8443'],
      allowedOrigins: ['https://app.example'],
    });
    try {
      const { port } = s;
      const status = async (headers: Record<string, string>): Promise<number> =>
        (await raw(port, { method: 'GET', headers })).status;
      assert.equal(await status({ host: `mcp.example:${port}` }), 405);
      assert.equal(await status({ host: 'mcp.example' }), 405, 'a name without a port: any port');
      assert.equal(await status({ host: 'pinned.example:8443' }), 405);
      assert.equal(await status({ host: 'pinned.example:9999' }), 403);
      assert.equal(await status({ host: `evil.example:${port}` }), 403);
      assert.equal(
        await status({ host: `mcp.example:${port}`, origin: 'https://app.example' }),
        405,
      );
      assert.equal(
        await status({ host: `mcp.example:${port}`, origin: 'https://evil.example' }),
        403,
      );
    } finally {
      await s.close();
    }
    await assert.rejects(serve({ allowedHosts: ['a/b'] }), (err: unknown) =>
      isMoltError(err, 'OPTIONS_INVALID'),
    );
    await assert.rejects(serve({ allowedOrigins: ['not an origin'] }), (err: unknown) =>
      isMoltError(err, 'OPTIONS_INVALID'),
    );
  },
);

test(
  'with a token: 401 and WWW-Authenticate: Bearer without it or with a wrong one; the SDK client with it works',
  LIMIT,
  async () => {
    const s = await serve({ token: TOKEN });
    try {
      const { port } = s;
      await assert.rejects(s.connect(), (err: unknown) => {
        assert.equal((err as { code?: unknown }).code, 401);
        return true;
      });
      assert.equal(s.http.sessions(), 0);

      const missing = await raw(port, { headers: { host: `127.0.0.1:${port}` }, body: initialize });
      assert.equal(missing.status, 401);
      assert.match(String(missing.headers['www-authenticate']), /^Bearer /);
      const wrong = await raw(port, {
        headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${TOKEN.slice(1)}x` },
        body: initialize,
      });
      assert.equal(wrong.status, 401);
      assert.match(String(wrong.headers['www-authenticate']), /error="invalid_token"/);
      // The Host check comes first, token or not.
      const foreign = await raw(port, {
        headers: { host: `evil.example:${port}`, authorization: `Bearer ${TOKEN}` },
        body: initialize,
      });
      assert.equal(foreign.status, 403);

      const c = await s.connect({ headers: { authorization: `Bearer ${TOKEN}` } });
      await c.streamOpen;
      assert.equal(textOf(await c.client.callTool({ name: 'p__version' })), 'v1');
      // Every request of a session needs the token, not just its initialize.
      const noToken = await raw(port, {
        headers: { host: `127.0.0.1:${port}`, 'mcp-session-id': c.transport.sessionId! },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: {} }),
      });
      assert.equal(noToken.status, 401);
      assert.deepEqual(c.errors, []);
    } finally {
      await s.close();
    }
    await assert.rejects(serve({ token: 'short' }), (err: unknown) =>
      isMoltError(err, 'OPTIONS_INVALID'),
    );
  },
);

test(
  'a non-loopback bind without authentication is refused; a token or insecureNoAuth lets it start',
  LIMIT,
  async () => {
    await assert.rejects(serve({ host: '0.0.0.0' }), (err: unknown) => {
      assert.ok(isMoltError(err, 'OPTIONS_INVALID'), String(err));
      assert.match(err.message, /refusing to serve MCP on 0\.0\.0\.0 without authentication/);
      return true;
    });
    const withToken = await serve({ host: '0.0.0.0', token: TOKEN });
    try {
      // A wildcard bind serves the machine's own addresses as Hosts.
      const r = await raw(withToken.port, {
        headers: { host: `127.0.0.1:${withToken.port}` },
        body: initialize,
      });
      assert.equal(r.status, 401);
      const c = await withToken.connect({ headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(textOf(await c.client.callTool({ name: 'p__version' })), 'v1');
    } finally {
      await withToken.close();
    }
    const open = await serve({ host: '0.0.0.0', insecureNoAuth: true });
    try {
      const c = await open.connect();
      assert.equal(textOf(await c.client.callTool({ name: 'p__version' })), 'v1');
    } finally {
      await open.close();
    }
  },
);

test(
  'as an OAuth resource server: protected-resource metadata, 401 naming it, 403 insufficient_scope, a verified token served, sessions kept to their client',
  LIMIT,
  async () => {
    const resource = 'https://mcp.example.com/mcp';
    const info = (token: string, scopes: string[], expiresIn: number): AuthInfo => ({
      token,
      clientId: 'client-1',
      scopes,
      expiresAt: Math.floor(Date.now() / 1000) + expiresIn,
      resource: new URL(resource),
    });
    const s = await serve({
      oauth: {
        resource,
        authorizationServers: ['https://auth.example.com'],
        requiredScopes: ['mcp:tools'],
        verifier: {
          async verifyAccessToken(token) {
            if (token === 'good') return info(token, ['mcp:tools'], 3600);
            if (token === 'other-client')
              return { ...info(token, ['mcp:tools'], 3600), clientId: 'client-2' };
            if (token === 'narrow') return info(token, ['profile'], 3600);
            if (token === 'expired') return info(token, ['mcp:tools'], -60);
            throw new InvalidTokenError('unknown token');
          },
        },
      },
    });
    try {
      const { port } = s;
      const meta = await raw(port, {
        method: 'GET',
        path: '/.well-known/oauth-protected-resource/mcp',
        headers: { host: `127.0.0.1:${port}` },
      });
      assert.equal(meta.status, 200);
      assert.deepEqual(JSON.parse(meta.body), {
        resource,
        authorization_servers: ['https://auth.example.com'],
        bearer_methods_supported: ['header'],
        scopes_supported: ['mcp:tools'],
      });

      const as = (token?: string): Promise<Raw> =>
        raw(port, {
          headers: {
            host: `127.0.0.1:${port}`,
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          },
          body: initialize,
        });
      const challenge = (r: Raw): string => String(r.headers['www-authenticate']);
      const none = await as();
      assert.equal(none.status, 401);
      assert.match(
        challenge(none),
        /^Bearer .*resource_metadata="https:\/\/mcp\.example\.com\/\.well-known\/oauth-protected-resource\/mcp"/,
      );
      for (const token of ['forged', 'expired']) {
        const r = await as(token);
        assert.equal(r.status, 401, token);
        assert.match(challenge(r), /error="invalid_token"/);
      }
      const narrow = await as('narrow');
      assert.equal(narrow.status, 403);
      assert.match(challenge(narrow), /error="insufficient_scope", scope="mcp:tools"/);
      assert.equal(s.http.sessions(), 0);

      const c = await s.connect({ headers: { authorization: 'Bearer good' } });
      assert.equal(textOf(await c.client.callTool({ name: 'p__version' })), 'v1');
      // Another client's valid token does not open this client's session.
      const stolen = await raw(port, {
        headers: {
          host: `127.0.0.1:${port}`,
          authorization: 'Bearer other-client',
          'mcp-session-id': c.transport.sessionId!,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: {} }),
      });
      assert.equal(stolen.status, 404);
      assert.equal(textOf(await c.client.callTool({ name: 'p__version' })), 'v1');
    } finally {
      await s.close();
    }
  },
);

test('molt serve: a non-loopback --host without a token exits 2; --insecure-no-auth starts loudly; a token file must be private', {
  timeout: 60_000,
}, async () => {
  const root = await tempDir('mcp-security');
  dirs.push(root);
  const plugins = join(root, 'plugins');
  await mkdir(plugins);
  const args = (data: string, ...more: string[]): string[] => [
    'serve',
    plugins,
    '--data',
    join(root, data),
    '--http',
    '0',
    '--host',
    '0.0.0.0',
    ...more,
  ];
  // Started with no token anywhere, whatever the environment running the tests holds.
  const env = { MOLT_MCP_TOKEN: '' };

  const refused = await molt(args('refused'), env);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /refusing to serve MCP on 0\.0\.0\.0 without authentication.*--token-file FILE, or MOLT_MCP_TOKEN.*--insecure-no-auth/,
  );
  assert.doesNotMatch(refused.stderr, /ready:/);
  await assert.rejects(stat(join(root, 'refused')), 'nothing was opened, not even the data folder');

  const tokenFile = join(root, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o644 });
  await chmod(tokenFile, 0o644);
  const shared = await molt(args('shared', '--token-file', tokenFile), env);
  assert.equal(shared.code, 2, shared.stderr);
  assert.match(shared.stderr, /readable by others \(mode 644\): chmod 600/);

  const loud = new MoltProcess(args('loud', '--insecure-no-auth'), env);
  try {
    await loud.waitFor(/WARNING: MCP on 0\.0\.0\.0 with NO AUTHENTICATION/);
    const url = (await loud.waitFor(/^mcp: http/)).slice('mcp: '.length);
    const { client, close } = await connectHttp(url.replace('0.0.0.0', '127.0.0.1'));
    assert.deepEqual((await client.listTools()).tools, []);
    await close();
  } finally {
    await loud.stop();
  }

  await chmod(tokenFile, 0o600);
  for (const [label, more, runEnv] of [
    ['file', ['--token-file', tokenFile], env],
    ['env', [], { MOLT_MCP_TOKEN: TOKEN }],
  ] as const) {
    const host = new MoltProcess(args(label, ...more), runEnv);
    try {
      const url = (await host.waitFor(/^mcp: http/))
        .slice('mcp: '.length)
        .replace('0.0.0.0', '127.0.0.1');
      await assert.rejects(connectHttp(url), (err: unknown) => {
        assert.equal((err as { code?: unknown }).code, 401, label);
        return true;
      });
      const { client, close } = await connectHttp(url, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.deepEqual((await client.listTools()).tools, []);
      await close();
    } finally {
      await host.stop();
    }
  }
});
