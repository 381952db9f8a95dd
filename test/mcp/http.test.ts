/**
 * Issue 4 over Streamable HTTP, proven with the MCP SDK's own `Client`: tools listed and called,
 * errors that leave the session alive, list_changed only when the list changed, progress and
 * cancellation across the sandbox, many sessions across many reloads, session lifecycle.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { ErrorCode, type JSONRPCMessage, McpError } from '@modelcontextprotocol/sdk/types.js';
import { createHost, type Host } from '../../src/index.js';
import { type FrontDoorOptions, McpFrontDoor } from '../../src/mcp/front-door.js';
import { type McpHttpOptions, type McpHttpServer, startMcpHttp } from '../../src/mcp/http.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { ManualClock } from '../helpers/clock.js';
import { createGate, gatedVersions, gateSource } from '../helpers/gate.js';
import {
  type ConnectOptions,
  connectHttp,
  createProbe,
  errorText,
  type HttpClient,
  probeSource,
  textOf,
  waitForAbortTool,
} from '../helpers/mcp.js';

after(cleanArtifacts);

/** A regression fails the test instead of hanging the run. */
const LIMIT = { timeout: 30_000 };

interface Served {
  host: Host;
  door: McpFrontDoor;
  http: McpHttpServer;
  /** Every SDK server the door made, one per session, in order. */
  servers: Server[];
  connect(options?: ConnectOptions): Promise<HttpClient>;
  close(): Promise<void>;
}

/** A host, its MCP front door and HTTP server; `close` ends clients, server, door and host. */
async function serve(
  options: {
    door?: FrontDoorOptions;
    sessionTtlMs?: number;
    clock?: ManualClock;
    http?: Partial<McpHttpOptions>;
  } = {},
): Promise<Served> {
  const host = await createHost({ probationMs: 0 });
  const door = new McpFrontDoor(host, options.door);
  const servers: Server[] = [];
  const createServer = door.createServer.bind(door);
  door.createServer = (session) => {
    const server = createServer(session);
    servers.push(server);
    return server;
  };
  const http = await startMcpHttp(door, {
    port: 0,
    ...(options.sessionTtlMs === undefined ? {} : { sessionTtlMs: options.sessionTtlMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...options.http,
  });
  const clients: HttpClient[] = [];
  return {
    host,
    door,
    http,
    servers,
    async connect(connectOptions) {
      const c = await connectHttp(http.url, connectOptions);
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

function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body,
  });
}

const rpc = (method: string, id = 1): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method, params: {} });

const GREET_SCHEMA = {
  type: 'object',
  properties: { who: { type: 'string', minLength: 1 } },
  required: ['who'],
  additionalProperties: false,
};
const STATS_SCHEMA = { type: 'object', properties: { word: { type: 'string' } } };

const toolsPlugin = `export default { tools: {
  greet: {
    description: 'Says hello',
    inputSchema: ${JSON.stringify(GREET_SCHEMA)},
    handler: ({ who }) => 'hello ' + who,
  },
  stats: {
    description: 'Counts the letters of a word',
    inputSchema: ${JSON.stringify(STATS_SCHEMA)},
    handler: ({ word = '' }) => ({ word, letters: word.length, tags: ['a', 'b'] }),
  },
  raw: {
    description: 'Returns a full MCP result',
    handler: () => ({
      content: [{ type: 'text', text: 'first' }, { type: 'text', text: 'second' }],
      _meta: { from: 'raw' },
    }),
  },
  boom: {
    description: 'Always fails',
    handler: () => { throw new Error('the flux capacitor broke'); },
  },
} };`;

test(
  'a client lists tools and calls them; invalid input, unknown tools and plugin errors leave the session alive',
  LIMIT,
  async () => {
    const s = await serve();
    try {
      await s.host.load(await writeArtifact({ name: 'tools', source: toolsPlugin }));
      const { client, errors } = await s.connect();

      const { tools } = await client.listTools();
      assert.deepEqual(tools, [
        { name: 'tools__boom', description: 'Always fails', inputSchema: { type: 'object' } },
        { name: 'tools__greet', description: 'Says hello', inputSchema: GREET_SCHEMA },
        {
          name: 'tools__raw',
          description: 'Returns a full MCP result',
          inputSchema: { type: 'object' },
        },
        {
          name: 'tools__stats',
          description: 'Counts the letters of a word',
          inputSchema: STATS_SCHEMA,
        },
      ]);

      // A string becomes text content.
      assert.deepEqual(await client.callTool({ name: 'tools__greet', arguments: { who: 'Ada' } }), {
        content: [{ type: 'text', text: 'hello Ada' }],
      });
      // An object becomes structuredContent plus its JSON as text.
      const stats = { word: 'molt', letters: 4, tags: ['a', 'b'] };
      assert.deepEqual(
        await client.callTool({ name: 'tools__stats', arguments: { word: 'molt' } }),
        {
          content: [{ type: 'text', text: JSON.stringify(stats) }],
          structuredContent: stats,
        },
      );
      // A value with a content array is a full MCP result, passed through.
      assert.deepEqual(await client.callTool({ name: 'tools__raw', arguments: {} }), {
        content: [
          { type: 'text', text: 'first' },
          { type: 'text', text: 'second' },
        ],
        _meta: { from: 'raw' },
      });

      // Invalid input: a tool error that says what is wrong, and the plugin never sees it.
      const missing = errorText(await client.callTool({ name: 'tools__greet', arguments: {} }));
      assert.match(missing, /^INVALID_INPUT: invalid arguments for tools__greet: /);
      assert.match(missing, /required property 'who'/);
      const wrongType = errorText(
        await client.callTool({ name: 'tools__greet', arguments: { who: 5, extra: true } }),
      );
      assert.match(wrongType, /\/who must be string/);
      assert.match(wrongType, /must not have additional property 'extra'/);
      assert.equal(
        textOf(await client.callTool({ name: 'tools__greet', arguments: { who: 'Bo' } })),
        'hello Bo',
      );

      // An unknown tool is a JSON-RPC error (invalid params), and the session goes on.
      await assert.rejects(
        client.callTool({ name: 'tools__nope', arguments: {} }),
        (err: unknown) => {
          assert.ok(err instanceof McpError, `not an McpError: ${String(err)}`);
          assert.equal(err.code, ErrorCode.InvalidParams);
          assert.match(err.message, /Unknown tool: tools__nope/);
          return true;
        },
      );
      assert.equal(
        textOf(await client.callTool({ name: 'tools__greet', arguments: { who: 'Cy' } })),
        'hello Cy',
      );

      // A plugin that throws: a tool error with the code and the plugin's message.
      const boom = await client.callTool({ name: 'tools__boom', arguments: {} });
      assert.equal(errorText(boom), 'PLUGIN_ERROR: the flux capacitor broke');
      assert.deepEqual(boom._meta, { 'molt/code': 'PLUGIN_ERROR' });
      assert.equal(
        textOf(await client.callTool({ name: 'tools__greet', arguments: { who: 'Di' } })),
        'hello Di',
      );
      assert.deepEqual(errors, []);
    } finally {
      await s.close();
    }
  },
);

test(
  'a reload that adds a tool under a slow call: old result, list_changed, new tool callable, nothing fails',
  LIMIT,
  async () => {
    const s = await serve();
    const gate = createGate('mcp-slow');
    try {
      const slow = (tag: string): string =>
        `slow: { description: 'waits for the test', handler: async () => { await gate(${JSON.stringify(gate.name)}); return '${tag}-slow'; } },`;
      const v1 = await writeArtifact({
        name: 'p',
        source: gateSource + versionPlugin('v1', slow('v1')),
      });
      const v2 = await writeArtifact({
        name: 'p',
        version: '1.1.0',
        source:
          gateSource +
          versionPlugin(
            'v2',
            `${slow('v2')} added: { description: 'new in v2', handler: () => 'added-v2' },`,
          ),
      });
      await s.host.load(v1);
      const c = await s.connect();
      await c.streamOpen;
      const names = async (): Promise<string[]> =>
        (await c.client.listTools()).tools.map((t) => t.name);
      assert.deepEqual(await names(), ['p__echo', 'p__slow', 'p__version']);

      let slowSettled = false;
      const held = c.client.callTool({ name: 'p__slow', arguments: {} });
      void held.finally(() => {
        slowSettled = true;
      });
      await gate.entered();

      const notified = c.listChanged.reached(1);
      await s.host.reload('p', v2);
      await notified;
      const { tools } = await c.client.listTools();
      assert.deepEqual(
        tools.find((t) => t.name === 'p__added'),
        { name: 'p__added', description: 'new in v2', inputSchema: { type: 'object' } },
      );
      assert.deepEqual(await names(), ['p__added', 'p__echo', 'p__slow', 'p__version']);
      assert.equal(
        textOf(await c.client.callTool({ name: 'p__added', arguments: {} })),
        'added-v2',
      );
      assert.equal(textOf(await c.client.callTool({ name: 'p__version', arguments: {} })), 'v2');
      assert.equal(slowSettled, false, 'the slow call must still be in flight on the old version');

      gate.open();
      assert.equal(textOf(await held), 'v1-slow');
      assert.equal(c.listChanged.count, 1);
      assert.deepEqual(c.errors, []);
    } finally {
      gate.close();
      await s.close();
    }
  },
);

test(
  'a reload that changes only handler code sends no list_changed; one that changes the list sends exactly one',
  LIMIT,
  async () => {
    const s = await serve();
    try {
      const v1 = await writeArtifact({ name: 'p', source: versionPlugin('v1') });
      const v1b = await writeArtifact({
        name: 'p',
        version: '1.0.1',
        source: versionPlugin('v1b'),
      });
      const v2 = await writeArtifact({
        name: 'p',
        version: '1.1.0',
        source: versionPlugin('v2', `more: { description: 'added', handler: () => 'more' },`),
      });
      await s.host.load(v1);
      const c = await s.connect();
      await c.streamOpen;
      const [server] = s.servers;
      assert.ok(server !== undefined && s.servers.length === 1);
      // A server-to-client ping travels on the same GET stream as list_changed, after anything
      // sent before it: once the client has answered it, every earlier notification has arrived.
      const barrier = (): Promise<unknown> => server.ping();

      await s.host.reload('p', v1b);
      assert.equal(textOf(await c.client.callTool({ name: 'p__version', arguments: {} })), 'v1b');
      await barrier();
      assert.equal(c.listChanged.count, 0, 'a code-only reload must not send list_changed');

      // Marker: any notification counted before this line came from the code-only reload.
      const beforeListChange = c.listChanged.count;
      const notified = c.listChanged.reached(1);
      await s.host.reload('p', v2);
      await notified;
      await barrier();
      assert.equal(beforeListChange, 0);
      assert.equal(c.listChanged.count, 1, 'one list change, one notification');

      // Back to the same list with new code (v2 again under another version): nothing more.
      const v2b = await writeArtifact({
        name: 'p',
        version: '1.1.1',
        source: versionPlugin('v2b', `more: { description: 'added', handler: () => 'more b' },`),
      });
      await s.host.reload('p', v2b);
      assert.equal(textOf(await c.client.callTool({ name: 'p__more', arguments: {} })), 'more b');
      await barrier();
      assert.equal(c.listChanged.count, 1);
      assert.deepEqual(c.errors, []);
    } finally {
      await s.close();
    }
  },
);

test(
  "progress reaches the client's onprogress; cancelling a call aborts the plugin's ctx.signal",
  LIMIT,
  async () => {
    const s = await serve();
    const probe = createProbe('mcp-cancel');
    try {
      const source = `${probeSource(probe)}
export default { tools: {
  work: {
    inputSchema: { type: 'object', properties: { steps: { type: 'integer' } }, required: ['steps'] },
    handler: async ({ steps }, ctx) => {
      for (let i = 1; i <= steps; i++) ctx.progress(i, steps, 'step ' + i);
      return 'worked ' + steps;
    },
  },
  ${waitForAbortTool}
} };`;
      await s.host.load(await writeArtifact({ name: 'w', source }));
      const { client, errors } = await s.connect();

      const seen: unknown[] = [];
      const result = await client.callTool(
        { name: 'w__work', arguments: { steps: 3 } },
        undefined,
        {
          onprogress: (p) => seen.push(p),
        },
      );
      assert.equal(textOf(result), 'worked 3');
      assert.deepEqual(seen, [
        { progress: 1, total: 3, message: 'step 1' },
        { progress: 2, total: 3, message: 'step 2' },
        { progress: 3, total: 3, message: 'step 3' },
      ]);

      const ac = new AbortController();
      const entered = probe.next(/^entered$/);
      const call = client.callTool({ name: 'w__wait', arguments: {} }, undefined, {
        signal: ac.signal,
      });
      await entered;
      const aborted = probe.next(/^aborted:/);
      ac.abort(new Error('user pressed stop'));
      await assert.rejects(call, /user pressed stop/);
      assert.equal(await aborted, 'aborted:CANCELLED');

      // The session goes on.
      assert.equal(
        textOf(await client.callTool({ name: 'w__work', arguments: { steps: 1 } })),
        'worked 1',
      );
      assert.deepEqual(errors, []);
    } finally {
      probe.close();
      await s.close();
    }
  },
);

test('20 HTTP sessions calling in a loop through 20 reloads, calls in flight at every swap: zero failed calls', {
  timeout: 120_000,
}, async () => {
  const s = await serve();
  const RELOADS = 20;
  const SESSIONS = 20;
  const { gates, dirs } = await gatedVersions('counter', RELOADS + 1, 'http-load');
  try {
    await s.host.load(dirs[0]!);
    const clients = await Promise.all(Array.from({ length: SESSIONS }, () => s.connect()));
    assert.equal(s.http.sessions(), SESSIONS);
    // Set in the turn of each swap: a call started after it must get that version or newer.
    let current = 0;
    const swaps: number[] = [];
    s.host.on('reload.succeeded', (e) => {
      current = Number(e.to.version.split('.')[2]);
      swaps.push(e.atSwap.inFlight);
    });
    let done = false;
    const failures: unknown[] = [];
    const perReload = Array<number>(RELOADS + 1).fill(0);
    const loop = async ({ client }: HttpClient): Promise<void> => {
      // Bounded in count; it runs until the last reload is over.
      for (let n = 0; n < 20_000 && !done; n++) {
        const floor = current;
        try {
          const got = Number(textOf(await client.callTool({ name: 'counter__version' })));
          perReload[floor]!++;
          if (got < floor)
            failures.push(new Error(`call started after reload ${floor} answered by ${got}`));
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const loops = clients.map(loop);
    for (let i = 1; i <= RELOADS; i++) {
      // Two sessions each hold a call on the current version across the swap.
      const held = clients
        .slice(0, 2)
        .map(async ({ client }) => textOf(await client.callTool({ name: 'counter__hold' })));
      await gates[i - 1]!.entered(2);
      await s.host.reload('counter', dirs[i]!);
      gates[i - 1]!.open();
      assert.deepEqual(await Promise.all(held), [String(i - 1), String(i - 1)]);
    }
    done = true;
    await Promise.all(loops);
    assert.deepEqual(failures, []);
    assert.equal(swaps.length, RELOADS);
    for (const [i, n] of swaps.entries())
      assert.ok(n >= 2, `reload ${i + 1}: only ${n} call(s) in flight at the swap`);
    for (let i = 0; i < RELOADS; i++)
      assert.ok(perReload[i]! > 0, `no call between reloads ${i} and ${i + 1}`);

    // Every session ends able to call, on the last version.
    const last = await Promise.all(
      clients.map(async (c) => textOf(await c.client.callTool({ name: 'counter__version' }))),
    );
    assert.deepEqual(last, Array(SESSIONS).fill(String(RELOADS)));
    assert.deepEqual(
      clients.flatMap((c) => c.errors),
      [],
    );
    assert.equal(s.host.plugin('counter')?.stats.reloads, RELOADS);
  } finally {
    for (const g of gates) g.close();
    await s.close();
  }
});

test(
  'unknown session ids get 404, malformed JSON 400 (-32700), a first POST that is not initialize 400, a refused initialize leaves no session',
  LIMIT,
  async () => {
    const s = await serve();
    try {
      const unknown = await post(s.http.url, rpc('tools/list'), { 'mcp-session-id': randomUUID() });
      assert.equal(unknown.status, 404);
      const body = (await unknown.json()) as { jsonrpc: string; error: { code: number } };
      assert.equal(body.jsonrpc, '2.0');
      assert.equal(typeof body.error.code, 'number');

      const get = await fetch(s.http.url, {
        headers: { accept: 'text/event-stream', 'mcp-session-id': randomUUID() },
      });
      assert.equal(get.status, 404);
      await get.body?.cancel();

      const malformed = await post(s.http.url, '{"jsonrpc": "2.0", "id": 1, "method": ');
      assert.equal(malformed.status, 400);
      assert.equal(((await malformed.json()) as { error: { code: number } }).error.code, -32700);

      const noSession = await post(s.http.url, rpc('tools/list'));
      assert.equal(noSession.status, 400);
      await noSession.body?.cancel();

      // An initialize the transport refuses (the client does not accept SSE) leaves no session.
      const initialize = JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'curl', version: '1' },
        },
      });
      const refused = await post(s.http.url, initialize, { accept: 'application/json' });
      assert.equal(refused.status, 406);
      await refused.body?.cancel();
      assert.equal(s.http.sessions(), 0);
      assert.equal(s.door.sessions, 0, 'a refused initialize must not leave a server behind');

      // A real session still works beside all that.
      await s.host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
      const { client } = await s.connect();
      assert.equal(textOf(await client.callTool({ name: 'p__version' })), 'v1');
      assert.equal(s.http.sessions(), 1);
    } finally {
      await s.close();
    }
  },
);

test('a session idle past its TTL is closed; its id then gets 404', LIMIT, async () => {
  const clock = new ManualClock();
  const s = await serve({ sessionTtlMs: 1_000, clock });
  try {
    await s.host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
    // No GET stream: between its calls the session has nothing open, so it can be idle.
    const c = await s.connect({ stream: false });
    assert.equal(textOf(await c.client.callTool({ name: 'p__version' })), 'v1');
    const id = c.transport.sessionId;
    assert.ok(id !== undefined);
    assert.equal(s.http.sessions(), 1);
    // Idle for just under the TTL: the sweep (every half TTL) keeps it.
    clock.advance(999);
    assert.equal(s.http.sessions(), 1, 'not reaped before its TTL');
    // The sweep at 1,000 ms finds it idle for its whole TTL; closing it takes a few turns.
    clock.advance(1);
    for (let i = 0; i < 50 && s.http.sessions() > 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(s.http.sessions(), 0, 'the idle session was reaped');
    const res = await post(s.http.url, rpc('tools/list', 2), { 'mcp-session-id': id });
    assert.equal(res.status, 404);
    await res.body?.cancel();
    // A new session (a client re-initializing) works.
    const again = await s.connect();
    assert.equal(textOf(await again.client.callTool({ name: 'p__version' })), 'v1');
  } finally {
    await s.close();
  }
});

test(
  "a client that disconnects mid-call cancels it: the plugin's ctx.signal is aborted",
  LIMIT,
  async () => {
    const s = await serve();
    const probe = createProbe('mcp-disconnect');
    try {
      const source = `${probeSource(probe)}
export default { tools: { ${waitForAbortTool} ping: { handler: () => 'pong' } } };`;
      await s.host.load(await writeArtifact({ name: 'w', source }));
      const c = await s.connect();
      const entered = probe.next(/^entered$/);
      const call = c.client.callTool({ name: 'w__wait', arguments: {} });
      const settled = call.then(
        () => 'resolved',
        () => 'rejected',
      );
      await entered;
      const aborted = probe.next(/^aborted:/);
      await c.transport.close();
      assert.equal(await aborted, 'aborted:CANCELLED');
      assert.equal(await settled, 'rejected');
      // The cancelled handler's reply and this call's travel the sandbox's one port in order:
      // once this answers, the host has heard the first one end (no wait on timing).
      assert.equal(await s.host.call('w', 'ping', {}), 'pong');
      assert.equal(s.host.plugins()[0]?.inFlight, 0);

      // Another client is unaffected.
      const other = await s.connect();
      const again = probe.next(/^entered$/);
      const ac = new AbortController();
      const second = other.client.callTool({ name: 'w__wait', arguments: {} }, undefined, {
        signal: ac.signal,
      });
      await again;
      ac.abort();
      await assert.rejects(second);
      assert.match(await probe.next(/^aborted:/), /^aborted:/);
    } finally {
      probe.close();
      await s.close();
    }
  },
);

test(
  'with metaTools, molt__list_tools shows a tool added live and molt__call_tool calls it without re-listing',
  LIMIT,
  async () => {
    const s = await serve({ door: { metaTools: true } });
    try {
      await s.host.load(await writeArtifact({ name: 'm', source: versionPlugin('v1') }));
      const { client, errors } = await s.connect();
      const { tools } = await client.listTools();
      assert.deepEqual(
        tools.map((t) => t.name),
        ['molt__list_tools', 'molt__call_tool', 'm__echo', 'm__version'],
      );

      await s.host.reload(
        'm',
        await writeArtifact({
          name: 'm',
          version: '1.1.0',
          source: versionPlugin(
            'v2',
            `live: { description: 'added live', inputSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] }, handler: ({ n }) => ({ twice: n * 2 }) },`,
          ),
        }),
      );

      const listed = await client.callTool({ name: 'molt__list_tools', arguments: {} });
      const live = (listed.structuredContent as { tools: { name: string }[] }).tools;
      assert.deepEqual(
        live.map((t) => t.name),
        ['m__echo', 'm__live', 'm__version'],
      );
      assert.deepEqual(
        live.find((t) => t.name === 'm__live'),
        {
          name: 'm__live',
          description: 'added live',
          inputSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
        },
      );

      const called = await client.callTool({
        name: 'molt__call_tool',
        arguments: { name: 'm__live', arguments: { n: 21 } },
      });
      assert.deepEqual(called.structuredContent, { twice: 42 });
      // The inner tool's schema still applies, and unknown names are tool errors.
      assert.match(
        errorText(
          await client.callTool({
            name: 'molt__call_tool',
            arguments: { name: 'm__live', arguments: {} },
          }),
        ),
        /^INVALID_INPUT: .*required property 'n'/,
      );
      assert.match(
        errorText(
          await client.callTool({ name: 'molt__call_tool', arguments: { name: 'm__gone' } }),
        ),
        /^UNKNOWN_TOOL: no tool named "m__gone"/,
      );
      assert.deepEqual(errors, []);
    } finally {
      await s.close();
    }
  },
);

/** Lets the event loop run (network I/O included) until `done`, a bounded number of turns. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100_000 && !done(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(done(), `still waiting for: ${what}`);
}

test(
  'a session holding its GET stream open outlives the TTL and still calls; its idle time starts when the stream ends',
  LIMIT,
  async () => {
    const clock = new ManualClock();
    const s = await serve({ sessionTtlMs: 1_000, clock });
    try {
      await s.host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
      const held = await s.connect();
      await held.streamOpen;
      const idle = await s.connect({ stream: false });
      const idleId = idle.transport.sessionId;
      assert.equal(textOf(await held.client.callTool({ name: 'p__version' })), 'v1');
      assert.equal(s.http.sessions(), 2);

      // Three TTLs with nothing but the GET stream (the sweep runs every 500 ms).
      for (let i = 0; i < 6; i++) clock.advance(500);
      await until(() => s.http.sessions() === 1, 'the session without a stream to be reaped');
      const gone = await post(s.http.url, rpc('tools/list', 2), { 'mcp-session-id': idleId! });
      assert.equal(gone.status, 404);
      await gone.body?.cancel();
      // The session with the stream was kept: a call on it works, no re-initialize.
      assert.equal(textOf(await held.client.callTool({ name: 'p__version' })), 'v1');
      for (let i = 0; i < 6; i++) clock.advance(500);
      assert.equal(s.http.sessions(), 1);

      assert.deepEqual(held.errors, []);
      // The client drops its stream (no DELETE): idle from now, not from its last POST.
      await held.client.close();
      await until(() => s.http.streams() === 0, 'the server to see the stream end');
      clock.advance(500);
      assert.equal(s.http.sessions(), 1, 'idle for half its TTL only since the stream ended');
      clock.advance(500);
      await until(() => s.http.sessions() === 0, 'the session to be reaped a TTL after its stream');
    } finally {
      await s.close();
    }
  },
);

test(
  'over --max-sessions an initialize gets 503 and nothing is created; a session ended makes room',
  LIMIT,
  async () => {
    const s = await serve({ http: { maxSessions: 2 } });
    try {
      await s.host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
      const first = await s.connect();
      await s.connect();
      assert.equal(s.http.sessions(), 2);

      await assert.rejects(connectHttp(s.http.url), (err: unknown) => {
        assert.equal((err as { code?: unknown }).code, 503);
        assert.match(String(err), /2 MCP sessions are open, the most this server keeps/);
        return true;
      });
      assert.equal(s.http.sessions(), 2);
      assert.equal(s.door.sessions, 2, 'no server was created for the refused initialize');
      assert.equal(s.servers.length, 2);

      // A session being opened counts: the next initialize, while the first is held between
      // the cap check and its registration, is refused.
      await first.transport.terminateSession();
      await until(() => s.http.sessions() === 1, 'the DELETE to end the session');
      let entered!: () => void;
      const opening = new Promise<void>((resolve) => {
        entered = resolve;
      });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const make = s.door.createServer.bind(s.door);
      s.door.createServer = (session) => {
        s.door.createServer = make;
        const server = make(session);
        const connect = server.connect.bind(server);
        server.connect = async (transport) => {
          entered();
          await gate;
          return connect(transport);
        };
        return server;
      };
      const held = connectHttp(s.http.url);
      await opening;
      await assert.rejects(connectHttp(s.http.url), (err: unknown) => {
        assert.equal((err as { code?: unknown }).code, 503);
        return true;
      });
      release();
      const third = await held;
      assert.equal(s.http.sessions(), 2);
      await third.close();
    } finally {
      await s.close();
    }
  },
);

test('GET and DELETE without a session id get 405 with Allow: POST', LIMIT, async () => {
  const s = await serve();
  try {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(s.http.url, { method, headers: { accept: 'text/event-stream' } });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'POST');
      const body = (await res.json()) as { jsonrpc: string; error: { message: string } };
      assert.equal(body.jsonrpc, '2.0');
      assert.match(body.error.message, new RegExp(`^${method} needs a session`));
    }
    assert.equal(s.http.sessions(), 0);
  } finally {
    await s.close();
  }
});

test(
  "server→client messages go to the right session: progress only to the caller's, list_changed to each once",
  LIMIT,
  async () => {
    const s = await serve();
    try {
      const work = `work: {
    inputSchema: { type: 'object', properties: { steps: { type: 'integer' } } },
    handler: async ({ steps }, ctx) => { for (let i = 1; i <= steps; i++) ctx.progress(i, steps); return 'done'; },
  },`;
      await s.host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1', work) }));
      const a = await s.connect({ name: 'a' });
      const b = await s.connect({ name: 'b' });
      await Promise.all([a.streamOpen, b.streamOpen]);
      // Everything b's transport receives, whatever it is.
      const toB: { method?: string }[] = [];
      const onB = b.transport.onmessage;
      b.transport.onmessage = (m: JSONRPCMessage) => {
        toB.push(m as { method?: string });
        onB?.(m);
      };
      const [serverA, serverB] = s.servers;
      assert.ok(serverA !== undefined && serverB !== undefined);

      const seen: unknown[] = [];
      const result = await a.client.callTool(
        { name: 'p__work', arguments: { steps: 3 } },
        undefined,
        {
          onprogress: (p) => seen.push(p.progress),
        },
      );
      assert.equal(textOf(result), 'done');
      assert.deepEqual(seen, [1, 2, 3]);
      // A ping on b's stream comes after anything sent to b before it.
      await serverB.ping();
      assert.deepEqual(
        toB.filter((m) => m.method !== undefined && m.method !== 'ping').map((m) => m.method),
        [],
        "a's progress must not reach b",
      );

      const reloaded = Promise.all([a.listChanged.reached(1), b.listChanged.reached(1)]);
      await s.host.reload(
        'p',
        await writeArtifact({
          name: 'p',
          version: '1.1.0',
          source: versionPlugin('v2', `${work} more: { handler: () => 'more' },`),
        }),
      );
      await reloaded;
      await Promise.all([serverA.ping(), serverB.ping()]);
      assert.equal(a.listChanged.count, 1);
      assert.equal(b.listChanged.count, 1);
      assert.deepEqual(
        toB.filter((m) => m.method !== undefined && m.method !== 'ping').map((m) => m.method),
        ['notifications/tools/list_changed'],
      );
      assert.deepEqual([...a.errors, ...b.errors], []);
    } finally {
      await s.close();
    }
  },
);
