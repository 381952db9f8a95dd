/**
 * Both MCP generations on one `/mcp`: an SDK 2.x `Client` pinned to 2026-07-28 (stateless:
 * `server/discover`, no session, change notifications on a `subscriptions/listen` stream) and an
 * SDK 1.x `Client` at 2025-11-25 (a session) at the same time, against the same tables and the
 * same event bus, across live reloads. Ordering is proven with a barrier event on the bus (a
 * stream delivers in order), never with sleeps.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from '@modelcontextprotocol/client';
import { StdioClientTransport as ModernStdio } from '@modelcontextprotocol/client/stdio';
import { PromptListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { InMemoryServerEventBus, type ServerEvent } from '@modelcontextprotocol/server';
import { createHost, type Host } from '../../src/index.js';
import { type FrontDoorOptions, McpFrontDoor } from '../../src/mcp/front-door.js';
import { type McpHttpOptions, type McpHttpServer, startMcpHttp } from '../../src/mcp/http.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { MOLT_BIN } from '../helpers/cli.js';
import { ManualClock } from '../helpers/clock.js';
import { createGate, gateSource } from '../helpers/gate.js';
import {
  connectHttp,
  createProbe,
  errorText,
  type HttpClient,
  probeSource,
  textOf,
  waitForAbortTool,
} from '../helpers/mcp.js';

after(cleanArtifacts);

const LIMIT = { timeout: 30_000 };
const MODERN = '2026-07-28';

interface Served {
  host: Host;
  door: McpFrontDoor;
  http: McpHttpServer;
  close(): Promise<void>;
}

async function serve(
  options: { door?: FrontDoorOptions; http?: Partial<McpHttpOptions> } = {},
): Promise<Served> {
  const host = await createHost({ probationMs: 0 });
  const door = new McpFrontDoor(host, options.door);
  const http = await startMcpHttp(door, { port: 0, ...options.http });
  return {
    host,
    door,
    http,
    async close() {
      await http.close();
      await door.close();
      await host.close();
    },
  };
}

/** Counts one notification method and waits for the count to reach a number. */
function counter() {
  let count = 0;
  let waiters: { n: number; resolve: () => void }[] = [];
  return {
    get count() {
      return count;
    },
    hit() {
      count++;
      const ready = waiters.filter((w) => count >= w.n);
      waiters = waiters.filter((w) => count < w.n);
      for (const w of ready) w.resolve();
    },
    reached(n = count + 1): Promise<void> {
      if (count >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
}

/** An SDK 2.x client pinned to 2026-07-28 (no fallback to `initialize`). */
async function connectModern(
  url: string,
  headers?: Record<string, string>,
): Promise<{ client: ModernClient; errors: unknown[] }> {
  const client = new ModernClient(
    { name: 'molt-test-2026', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: MODERN } } },
  );
  const errors: unknown[] = [];
  client.onerror = (err) => errors.push(err);
  await client.connect(
    new ModernTransport(
      new URL(url),
      headers === undefined ? undefined : { requestInit: { headers } },
    ),
  );
  return { client, errors };
}

/** A tool-less plugin serving one prompt: loading it changes the prompt list (the barrier). */
function promptPlugin(tag: string): string {
  return `export default { tools: {}, prompts: { ${tag}: { get: () => ${JSON.stringify(tag)} } } };`;
}

test(
  'a 2026-07-28 client and a 2025-11-25 client on one endpoint at once: discover, sorted lists with cache hints, calls, errors, list_changed only for a real change',
  LIMIT,
  async () => {
    const s = await serve();
    try {
      // Plugin order and name order differ: `a` < `a-b` as plugins, `a-b__x` < `a__z` as names.
      await s.host.load(
        await writeArtifact({
          name: 'a',
          source: `export default { tools: { z: { handler: () => 'z' } } };`,
        }),
      );
      await s.host.load(
        await writeArtifact({
          name: 'a-b',
          source: `export default { tools: { x: { handler: () => 'x' } } };`,
        }),
      );
      await s.host.load(
        await writeArtifact({
          name: 'p',
          source: versionPlugin('v1', `boom: { handler: () => { throw new Error('kaput'); } },`),
        }),
      );

      const modern = await connectModern(s.http.url);
      const legacy: HttpClient = await connectHttp(s.http.url, 'molt-test-2025');
      await legacy.streamOpen;
      assert.equal(modern.client.getProtocolEra(), 'modern');
      assert.equal(modern.client.getNegotiatedProtocolVersion(), MODERN);
      assert.equal(legacy.client.getServerVersion()?.name, 'molt');
      assert.equal(s.http.sessions(), 1, 'only the 2025 client holds a session');

      // server/discover: what the pinned client connected with.
      const discovered = modern.client.getDiscoverResult();
      assert.deepEqual(discovered?.supportedVersions, [MODERN]);
      assert.deepEqual(discovered?.capabilities.tools, { listChanged: true });
      assert.equal(discovered?.ttlMs, 3_600_000);
      assert.equal(discovered?.cacheScope, 'public');

      const listed = await modern.client.listTools();
      assert.deepEqual(
        listed.tools.map((t) => t.name),
        ['a-b__x', 'a__z', 'p__boom', 'p__echo', 'p__version'],
      );
      assert.equal(listed.ttlMs, 5_000);
      assert.equal(listed.cacheScope, 'public');
      // The 2025 list is the same set (its order is the session path's own).
      assert.deepEqual(
        (await legacy.client.listTools()).tools.map((t) => t.name).sort(),
        listed.tools.map((t) => t.name).sort(),
      );

      assert.equal(
        textOf(await modern.client.callTool({ name: 'p__version', arguments: {} })),
        'v1',
      );
      assert.equal(
        textOf(await legacy.client.callTool({ name: 'p__version', arguments: {} })),
        'v1',
      );
      // A plugin's error is a tool result with its code, as on the session path.
      const failed = await modern.client.callTool({ name: 'p__boom', arguments: {} });
      assert.equal(errorText(failed), 'PLUGIN_ERROR: kaput');
      assert.equal(failed._meta?.['molt/code'], 'PLUGIN_ERROR');
      // An unknown tool is MCP's invalid-params error, its message said once.
      await assert.rejects(
        modern.client.callTool({ name: 'p__nope', arguments: {} }),
        (err: { code?: unknown; message?: unknown }) =>
          err.code === -32602 && err.message === 'Unknown tool: p__nope',
      );

      // Listen: tool and prompt list changes; a prompt change is the barrier for both clients.
      const tools = counter();
      const prompts = counter();
      modern.client.setNotificationHandler('notifications/tools/list_changed', () => tools.hit());
      modern.client.setNotificationHandler('notifications/prompts/list_changed', () =>
        prompts.hit(),
      );
      const legacyPrompts = counter();
      legacy.client.setNotificationHandler(PromptListChangedNotificationSchema, () =>
        legacyPrompts.hit(),
      );
      const sub = await modern.client.listen({ toolsListChanged: true, promptsListChanged: true });
      assert.deepEqual(sub.honoredFilter, { toolsListChanged: true, promptsListChanged: true });
      assert.equal(s.http.listenStreams(), 1);
      let barriers = 0;
      /** Everything published before it has reached both clients once they hear it. */
      const barrier = async (): Promise<void> => {
        barriers++;
        const heard = Promise.all([prompts.reached(barriers), legacyPrompts.reached(barriers)]);
        await s.host.load(
          await writeArtifact({ name: `barrier${barriers}`, source: promptPlugin('b') }),
        );
        await heard;
      };

      // A reload that changes only code: no list_changed for either generation.
      await s.host.reload(
        'p',
        await writeArtifact({
          name: 'p',
          version: '1.0.1',
          source: versionPlugin('v1b', `boom: { handler: () => { throw new Error('kaput'); } },`),
        }),
      );
      await barrier();
      assert.equal(tools.count, 0, 'a code-only reload must not reach a listen stream');
      assert.equal(legacy.listChanged.count, 0, 'nor a session');
      assert.equal(
        textOf(await modern.client.callTool({ name: 'p__version', arguments: {} })),
        'v1b',
      );

      // A reload that adds a tool: exactly one list_changed on each.
      const heardModern = tools.reached(1);
      const heardLegacy = legacy.listChanged.reached(1);
      await s.host.reload(
        'p',
        await writeArtifact({
          name: 'p',
          version: '1.1.0',
          source: versionPlugin(
            'v2',
            `boom: { handler: () => { throw new Error('kaput'); } },
            more: { description: 'added', handler: () => 'more' },`,
          ),
        }),
      );
      await Promise.all([heardModern, heardLegacy]);
      await barrier();
      assert.equal(tools.count, 1);
      assert.equal(legacy.listChanged.count, 1);
      // The client's cached list was dropped by the notification: the new list, at once.
      assert.deepEqual(
        (await modern.client.listTools()).tools.map((t) => t.name),
        ['a-b__x', 'a__z', 'p__boom', 'p__echo', 'p__more', 'p__version'],
      );
      assert.equal(
        textOf(await modern.client.callTool({ name: 'p__more', arguments: {} })),
        'more',
      );
      assert.equal(
        textOf(await legacy.client.callTool({ name: 'p__more', arguments: {} })),
        'more',
      );

      await sub.close();
      assert.equal(await sub.closed, 'local');
      assert.deepEqual(modern.errors, []);
      assert.deepEqual(legacy.errors, []);
      await modern.client.close();
      await legacy.close();
    } finally {
      await s.close();
    }
  },
);

test(
  'resources and prompts over 2026-07-28: sorted lists with hints, read, get, complete, resources/list_changed and a subscribed update on the listen stream',
  LIMIT,
  async () => {
    const s = await serve();
    try {
      const source = `export default {
  tools: {},
  resources: {
    'notes://b': { name: 'b', read: () => 'bee' },
    'notes://a': { name: 'a', read: (uri, ctx) => { ctx.resourceUpdated('notes://a'); return 'ay'; } },
    'notes://n/{id}': { name: 'n', read: (uri, ctx, vars) => 'note ' + vars.id,
      complete: { id: (value) => ['1', '2', '10'].filter((v) => v.startsWith(value)) } },
  },
  prompts: {
    zed: { get: () => 'last' },
    alpha: { arguments: [{ name: 'who', required: true }], get: ({ who }) => 'hi ' + who,
      complete: { who: (value) => ['ann', 'bob'].filter((v) => v.startsWith(value)) } },
  },
};`;
      await s.host.load(await writeArtifact({ name: 'r', source }));
      const { client, errors } = await connectModern(s.http.url);

      const resources = await client.listResources();
      assert.deepEqual(
        resources.resources.map((r) => r.uri),
        ['notes://a', 'notes://b'],
      );
      assert.equal(resources.ttlMs, 5_000);
      assert.deepEqual(
        (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate),
        ['notes://n/{id}'],
      );
      const prompts = await client.listPrompts();
      assert.deepEqual(
        prompts.prompts.map((p) => p.name),
        ['r__alpha', 'r__zed'],
      );
      assert.equal(prompts.cacheScope, 'public');

      const note = await client.readResource({ uri: 'notes://n/7' });
      assert.deepEqual(note.contents, [
        { uri: 'notes://n/7', mimeType: 'text/plain', text: 'note 7' },
      ]);
      assert.equal(note.ttlMs, 0, 'a read is never served from a cache');
      // 2026-07-28 says -32602 where 2025 said -32002 (the SDK's codec for that revision maps it).
      await assert.rejects(
        client.readResource({ uri: 'notes://none' }),
        (err: { code?: unknown; data?: { uri?: unknown } }) =>
          err.code === -32602 && err.data?.uri === 'notes://none',
      );
      const got = await client.getPrompt({ name: 'r__alpha', arguments: { who: 'ann' } });
      assert.deepEqual(got.messages, [{ role: 'user', content: { type: 'text', text: 'hi ann' } }]);
      const completed = await client.complete({
        ref: { type: 'ref/prompt', name: 'r__alpha' },
        argument: { name: 'who', value: 'b' },
      });
      assert.deepEqual(completed.completion.values, ['bob']);
      const ids = await client.complete({
        ref: { type: 'ref/resource', uri: 'notes://n/{id}' },
        argument: { name: 'id', value: '1' },
      });
      assert.deepEqual(ids.completion.values, ['1', '10']);

      const listChanged = counter();
      const updated: string[] = [];
      const heardUpdate = counter();
      client.setNotificationHandler('notifications/resources/list_changed', () =>
        listChanged.hit(),
      );
      client.setNotificationHandler('notifications/resources/updated', (n) => {
        updated.push(n.params.uri);
        heardUpdate.hit();
      });
      const sub = await client.listen({
        resourcesListChanged: true,
        resourceSubscriptions: ['notes://a'],
      });
      assert.deepEqual(sub.honoredFilter, {
        resourcesListChanged: true,
        resourceSubscriptions: ['notes://a'],
      });
      // Reading notes://a makes its plugin report an update of it.
      const heard = heardUpdate.reached(1);
      await client.readResource({ uri: 'notes://a' }, { cacheMode: 'bypass' });
      await heard;
      assert.deepEqual(updated, ['notes://a']);

      const changed = listChanged.reached(1);
      await s.host.load(
        await writeArtifact({
          name: 'more',
          source: `export default { tools: {}, resources: { 'notes://c': { read: () => 'see' } } };`,
        }),
      );
      await changed;
      assert.deepEqual(
        (await client.listResources()).resources.map((r) => r.uri),
        ['notes://a', 'notes://b', 'notes://c'],
      );
      await sub.close();
      assert.deepEqual(errors, []);
      await client.close();
    } finally {
      await s.close();
    }
  },
);

test(
  "a 2026-07-28 call: progress reaches the client, its log reaches it at the level it asked, cancelling aborts the plugin's ctx.signal, sampling is CLIENT_UNSUPPORTED",
  LIMIT,
  async () => {
    const s = await serve();
    const probe = createProbe('stateless-cancel');
    try {
      const source = `${probeSource(probe)}
export default { tools: {
  work: {
    inputSchema: { type: 'object', properties: { steps: { type: 'integer' } }, required: ['steps'] },
    handler: async ({ steps }, ctx) => {
      ctx.log.debug('quiet');
      ctx.log.warn('loud', { steps });
      for (let i = 1; i <= steps; i++) ctx.progress(i, steps, 'step ' + i);
      return 'worked ' + steps;
    },
  },
  ask: {
    handler: async (_args, ctx) => {
      try { await ctx.sample({ messages: [], maxTokens: 1 }); return 'sampled'; }
      catch (err) { return 'refused: ' + err.code; }
    },
  },
  ${waitForAbortTool}
} };`;
      await s.host.load(await writeArtifact({ name: 'w', source }));
      const { client, errors } = await connectModern(s.http.url);
      const logs: unknown[] = [];
      client.setNotificationHandler('notifications/message', (n) => {
        logs.push(n.params);
      });

      const seen: unknown[] = [];
      // The request asks for `info` and above (2026-07-28 has no logging/setLevel).
      const result = await client.callTool(
        {
          name: 'w__work',
          arguments: { steps: 2 },
          _meta: { 'io.modelcontextprotocol/logLevel': 'info' },
        },
        { onprogress: (p) => seen.push(p) },
      );
      assert.equal(textOf(result), 'worked 2');
      assert.deepEqual(seen, [
        { progress: 1, total: 2, message: 'step 1' },
        { progress: 2, total: 2, message: 'step 2' },
      ]);
      assert.deepEqual(logs, [
        { level: 'warning', logger: 'w', data: { message: 'loud', data: { steps: 2 } } },
      ]);

      assert.equal(
        textOf(await client.callTool({ name: 'w__ask', arguments: {} })),
        'refused: CLIENT_UNSUPPORTED',
      );

      const ac = new AbortController();
      const entered = probe.next(/^entered$/);
      const call = client.callTool({ name: 'w__wait', arguments: {} }, { signal: ac.signal });
      await entered;
      assert.equal(s.http.calls(), 1, 'a stateless call in flight is counted');
      const aborted = probe.next(/^aborted:/);
      ac.abort(new Error('user pressed stop'));
      await assert.rejects(call);
      assert.equal(await aborted, 'aborted:CANCELLED');
      assert.equal(
        textOf(await client.callTool({ name: 'w__work', arguments: { steps: 1 } })),
        'worked 1',
      );
      assert.deepEqual(errors, []);
      await client.close();
    } finally {
      probe.close();
      await s.close();
    }
  },
);

/**
 * A hand-made 2026-07-28 `server/discover` with the headers given (node:http: fetch will not
 * forge `Host`); resolves to its status and `WWW-Authenticate`.
 */
function discoverRequest(
  url: string,
  headers: Record<string, string> = {},
  padding = '',
): Promise<{ status: number; challenge: string }> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'server/discover',
    params: {
      _meta: {
        'io.modelcontextprotocol/protocolVersion': MODERN,
        'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': {},
      },
      ...(padding === '' ? {} : { padding }),
    },
  });
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/mcp',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': MODERN,
          'mcp-method': 'server/discover',
          ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            challenge: String(res.headers['www-authenticate'] ?? ''),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test(
  'a stateless request passes the same gates: a foreign Host or Origin gets 403, no token 401, a body over the limit 413, the token serves it',
  LIMIT,
  async () => {
    const token = 'a-long-enough-test-token-0123456789';
    const s = await serve({ http: { token, maxBodyBytes: 4096 } });
    try {
      const auth = { authorization: `Bearer ${token}` };
      const port = new URL(s.http.url).port;
      assert.equal((await discoverRequest(s.http.url, auth)).status, 200);
      assert.equal((await discoverRequest(s.http.url, auth, 'x'.repeat(5000))).status, 413);
      assert.equal(
        (await discoverRequest(s.http.url, { ...auth, origin: 'http://evil.example' })).status,
        403,
      );
      assert.equal(
        (await discoverRequest(s.http.url, { ...auth, host: `evil.example:${port}` })).status,
        403,
      );
      const none = await discoverRequest(s.http.url);
      assert.equal(none.status, 401);
      assert.match(none.challenge, /^Bearer/);
      assert.equal(
        (await discoverRequest(s.http.url, { authorization: 'Bearer wrong-token-000000000000' }))
          .status,
        401,
      );
      // The pinned SDK client without the token fails to connect; with it, it lists.
      await assert.rejects(connectModern(s.http.url));
      const { client } = await connectModern(s.http.url, auth);
      assert.deepEqual((await client.listTools()).tools, []);
      await client.close();
      assert.equal(s.http.sessions(), 0);
    } finally {
      await s.close();
    }
  },
);

test(
  'listen streams are capped (one more is refused in-band) and end gracefully when the server closes',
  LIMIT,
  async () => {
    const s = await serve({ http: { maxListenStreams: 1 } });
    let closed = false;
    try {
      const { client } = await connectModern(s.http.url);
      const first = await client.listen({ toolsListChanged: true });
      assert.equal(s.http.listenStreams(), 1);
      await assert.rejects(
        client.listen({ toolsListChanged: true }),
        (err: { code?: unknown; message?: unknown }) =>
          err.code === -32603 && /Subscription limit reached/.test(String(err.message)),
      );
      // A session is not a listen stream: the 2025 path is not affected by this cap.
      const legacy = await connectHttp(s.http.url);
      assert.equal(s.http.sessions(), 1);
      await legacy.close();

      await s.close();
      closed = true;
      assert.equal(await first.closed, 'graceful');
      assert.equal(s.http.listenStreams(), 0);
      await client.close();
    } finally {
      if (!closed) await s.close();
    }
  },
);

test(
  'an SDK 2.x client left at its default speaks 2025 (a session); in auto mode it finds 2026-07-28',
  LIMIT,
  async () => {
    const s = await serve();
    try {
      const byDefault = new ModernClient({ name: 'default', version: '1' });
      await byDefault.connect(new ModernTransport(new URL(s.http.url)));
      assert.equal(byDefault.getProtocolEra(), 'legacy');
      assert.equal(s.http.sessions(), 1);
      const auto = new ModernClient(
        { name: 'auto', version: '1' },
        { versionNegotiation: { mode: 'auto' } },
      );
      await auto.connect(new ModernTransport(new URL(s.http.url)));
      assert.equal(auto.getProtocolEra(), 'modern');
      assert.equal(s.http.sessions(), 1, 'the auto client opened no session');
      await byDefault.close();
      await auto.close();
    } finally {
      await s.close();
    }
  },
);

test(
  'stdio speaks the sessionful generation only: an SDK 2.x client at its default lists and calls; pinned to 2026-07-28 it is refused',
  LIMIT,
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'molt-mcp-stdio-2x-'));
    try {
      const plugins = join(root, 'plugins');
      await mkdir(plugins);
      await rename(
        await writeArtifact({ name: 'p', source: versionPlugin('v1') }),
        join(plugins, 'p-1.0.0'),
      );
      const command = (data: string) => ({
        command: process.execPath,
        args: [MOLT_BIN, 'serve', plugins, '--stdio', '--data', join(root, data)],
        stderr: 'ignore' as const,
      });

      const byDefault = new ModernClient({ name: 'default', version: '1' });
      await byDefault.connect(new ModernStdio(command('data-default')));
      assert.equal(byDefault.getProtocolEra(), 'legacy');
      assert.equal(textOf(await byDefault.callTool({ name: 'p__version', arguments: {} })), 'v1');
      await byDefault.close();

      // molt's stdio answers server/discover "Method not found": a pin does not fall back.
      const pinned = new ModernClient(
        { name: 'pinned', version: '1' },
        { versionNegotiation: { mode: { pin: MODERN } } },
      );
      await assert.rejects(
        pinned.connect(new ModernStdio(command('data-pinned'))),
        (err: { code?: unknown }) => err.code === 'ERA_NEGOTIATION_FAILED',
      );
      await pinned.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
);

test(
  'the bus is the seam between hosts: two hosts sharing one bus, a list change on one reaches a listen stream and a session on the other; starting a host publishes nothing',
  LIMIT,
  async () => {
    const bus = new InMemoryServerEventBus();
    const published: ServerEvent['kind'][] = [];
    bus.subscribe((e) => published.push(e.kind));
    const a = await serve({ door: { bus } });
    const b = await serve({ door: { bus } });
    try {
      assert.deepEqual(published, [], 'a door filling its tables is no change');
      const modern = await connectModern(b.http.url);
      const legacy = await connectHttp(b.http.url);
      await legacy.streamOpen;
      const tools = counter();
      modern.client.setNotificationHandler('notifications/tools/list_changed', () => tools.hit());
      await modern.client.listen({ toolsListChanged: true });
      const heard = Promise.all([tools.reached(1), legacy.listChanged.reached(1)]);
      await a.host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
      await heard;
      assert.deepEqual(published, ['tools_list_changed']);
      await modern.client.close();
      await legacy.close();
    } finally {
      await a.close();
      await b.close();
    }
  },
);

test('a graceful stop waits for a stateless call in flight, which is answered', LIMIT, async () => {
  // The drain time never runs out on a manual clock: only the call ending lets close finish.
  const s = await serve({ http: { clock: new ManualClock() } });
  const gate = createGate('stateless-drain');
  let closed = false;
  try {
    const source = `${gateSource}
export default { tools: { slow: { handler: async () => { await gate(${JSON.stringify(gate.name)}); return 'done'; } } } };`;
    await s.host.load(await writeArtifact({ name: 'g', source }));
    const { client } = await connectModern(s.http.url);
    const call = client.callTool({ name: 'g__slow', arguments: {} });
    await gate.entered();
    let closeDone = false;
    const closing = s.http.close({ drainMs: 60_000 }).then(() => {
      closeDone = true;
    });
    // Let the stop get as far as it can on its own: it must still be waiting for the call.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(closeDone, false);
    assert.equal(s.http.calls(), 1);
    gate.open();
    assert.equal(textOf(await call), 'done');
    await closing;
    closed = true;
    await client.close();
  } finally {
    gate.close();
    if (!closed) await s.http.close();
    await s.door.close();
    await s.host.close();
  }
});
