/**
 * The session lane (session-wire.ts): a POST of one JSON-RPC request to an open session is
 * answered on Node's response directly (a JSON body, or SSE once something related goes first),
 * and everything the lane does not take is the SDK transport's, with the SDK's own answers.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { JSONRPCRequestSchema, LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { createHost } from '../../src/index.js';
import { McpFrontDoor } from '../../src/mcp/front-door.js';
import { startMcpHttp } from '../../src/mcp/http.js';
import { isPlainRequest } from '../../src/mcp/session-wire.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { createProbe, type Probe, probeSource, waitForAbortTool } from '../helpers/mcp.js';

after(cleanArtifacts);

const LIMIT = { timeout: 30_000 };

test('the lane takes exactly the requests the SDK schema takes unchanged', () => {
  const req = (extra: Record<string, unknown>): Record<string, unknown> => ({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'x', arguments: {} },
    ...extra,
  });
  const taken = [
    req({}),
    req({ id: 'a-string' }),
    req({ id: 0 }),
    req({ params: undefined }),
    { jsonrpc: '2.0', id: 7, method: 'tools/list' },
    req({ params: { name: 'x', _meta: { progressToken: 'p' } } }),
    req({ params: { name: 'x', _meta: { progressToken: 3, 'example.com/trace': 'z' } } }),
  ];
  for (const body of taken) {
    assert.ok(isPlainRequest(body), `taken: ${JSON.stringify(body)}`);
    const parsed = JSONRPCRequestSchema.safeParse(body);
    assert.ok(parsed.success, `the SDK takes ${JSON.stringify(body)}`);
    // Compared as JSON: a body arrives as JSON text, so it has no `undefined` members.
    const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
    assert.deepEqual(asJson(parsed.data), asJson(body), 'and leaves it as it is');
  }
  const left = [
    null,
    'text',
    [req({})],
    req({ method: 'initialize' }),
    req({ jsonrpc: '1.0' }),
    req({ id: 1.5 }),
    req({ id: 2 ** 60 }),
    req({ id: null }),
    req({ method: 7 }),
    req({ extra: true }),
    req({ params: null }),
    req({ params: [1] }),
    req({ params: { _meta: 'no' } }),
    req({ params: { _meta: { progressToken: 1.5 } } }),
    req({ params: { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 't' } } } }),
    JSON.parse('{"jsonrpc":"2.0","id":1,"method":"m","__proto__":{}}'),
    { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } },
    { jsonrpc: '2.0', id: 1, result: {} },
  ];
  for (const body of left) assert.equal(isPlainRequest(body), false, JSON.stringify(body));
});

const plugin = (probe: Probe): string => `${probeSource(probe)}
export default {
prompts: {
  big: { get: () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'x', _meta: { n: 2n } } }] }) },
},
tools: {
  ${waitForAbortTool}
  add: { handler: ({ a, b }) => String(a + b) },
  big: { handler: () => ({ content: [{ type: 'text', text: 'x' }], _meta: { n: 1n } }) },
  cyclic: {
    handler: () => {
      const meta = {};
      meta.self = meta;
      return { content: [{ type: 'text', text: 'x' }], _meta: meta };
    },
  },
  loud: {
    handler: (_args, ctx) => {
      const cycle = {};
      cycle.self = cycle;
      ctx.log.info('big', { n: 1n });
      ctx.log.info('cycle', cycle);
      ctx.log.info('plain', { ok: true });
      return 'said';
    },
  },
  steps: {
    handler: async (_args, ctx) => {
      ctx.progress(1, 2, 'half');
      ctx.progress(2, 2);
      return 'done';
    },
  },
} };`;

async function serve(probe: Probe) {
  const host = await createHost({ probationMs: 0 });
  await host.load(await writeArtifact({ name: 'w', source: plugin(probe) }));
  const door = new McpFrontDoor(host);
  const http = await startMcpHttp(door, { port: 0 });
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  const init = await fetch(http.url, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: LATEST_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'lane-test', version: '1' },
      },
    }),
  });
  await init.text();
  const session = init.headers.get('mcp-session-id');
  assert.ok(session);
  const post = (body: unknown, more: Record<string, string> = {}) =>
    fetch(http.url, {
      method: 'POST',
      headers: {
        ...headers,
        'mcp-session-id': session,
        'mcp-protocol-version': LATEST_PROTOCOL_VERSION,
        ...more,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' }).then((r) => r.text());
  return {
    host,
    http,
    session,
    post,
    async close() {
      await http.close();
      await door.close();
      await host.close();
    },
  };
}

/** `serve` for `run`, its probe named `label`; both closed however the test ends. */
async function served(
  label: string,
  run: (s: Awaited<ReturnType<typeof serve>>, probe: Probe) => Promise<void>,
): Promise<void> {
  const probe = createProbe(label);
  const s = await serve(probe);
  try {
    await run(s, probe);
  } finally {
    probe.close();
    await s.close();
  }
}

const call = (id: number, name: string, args: object = {}, meta?: object) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) },
});

/** The `data:` payloads of an SSE body. */
const events = (text: string): unknown[] =>
  text
    .split('\n\n')
    .filter((e) => e.includes('data: '))
    .map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));

test(
  'a call is answered as one JSON body; one that reports progress first, as an SSE stream in order',
  LIMIT,
  async () => {
    await served('lane', async (s) => {
      const plain = await s.post(call(1, 'w__add', { a: 2, b: 3 }));
      assert.equal(plain.status, 200);
      assert.equal(plain.headers.get('content-type'), 'application/json');
      assert.equal(plain.headers.get('mcp-session-id'), s.session);
      assert.deepEqual(await plain.json(), {
        jsonrpc: '2.0',
        id: 1,
        result: { content: [{ type: 'text', text: '5' }] },
      });

      const streamed = await s.post(call(2, 'w__steps', {}, { progressToken: 'tok' }));
      assert.equal(streamed.status, 200);
      assert.equal(streamed.headers.get('content-type'), 'text/event-stream');
      assert.equal(streamed.headers.get('mcp-session-id'), s.session);
      assert.deepEqual(events(await streamed.text()), [
        {
          jsonrpc: '2.0',
          method: 'notifications/progress',
          params: { progressToken: 'tok', progress: 1, total: 2, message: 'half' },
        },
        {
          jsonrpc: '2.0',
          method: 'notifications/progress',
          params: { progressToken: 'tok', progress: 2, total: 2 },
        },
        { jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: 'done' }] } },
      ]);

      // An unknown method is the SDK's JSON-RPC error, on the lane too.
      const unknown = await s.post({ jsonrpc: '2.0', id: 3, method: 'no/such' });
      assert.equal(unknown.headers.get('content-type'), 'application/json');
      assert.equal(((await unknown.json()) as { error: { code: number } }).error.code, -32601);
    });
  },
);

test('what the lane leaves gets the SDK transport’s own answers', LIMIT, async () => {
  await served('lane-left', async (s) => {
    const version = await s.post(call(1, 'w__add', { a: 1, b: 1 }), {
      'mcp-protocol-version': '1999-01-01',
    });
    assert.equal(version.status, 400);
    assert.match(await version.text(), /Unsupported protocol version: 1999-01-01/);

    const extraKey = await s.post({ ...call(2, 'w__add', { a: 1, b: 1 }), extra: 1 });
    assert.equal(extraKey.status, 400);
    assert.match(await extraKey.text(), /Invalid JSON-RPC message/);

    const accept = await s.post(call(3, 'w__add', { a: 1, b: 1 }), { accept: 'application/json' });
    assert.equal(accept.status, 406);
    await accept.text();

    const wrongSession = await s.post(call(4, 'w__add'), { 'mcp-session-id': 'not-this-one' });
    assert.equal(wrongSession.status, 404);
    await wrongSession.text();

    // A charset parameter is fine by the SDK: served there, as SSE.
    const charset = await s.post(call(5, 'w__add', { a: 20, b: 22 }), {
      'content-type': 'application/json; charset=utf-8',
    });
    assert.equal(charset.status, 200);
    assert.equal(charset.headers.get('content-type'), 'text/event-stream');
    assert.deepEqual(events(await charset.text()), [
      { jsonrpc: '2.0', id: 5, result: { content: [{ type: 'text', text: '42' }] } },
    ]);

    // A batch too.
    const batch = await s.post([
      call(6, 'w__add', { a: 1, b: 2 }),
      call(7, 'w__add', { a: 3, b: 4 }),
    ]);
    assert.equal(batch.headers.get('content-type'), 'text/event-stream');
    const answers = events(await batch.text()) as { id: number }[];
    assert.deepEqual(answers.map((a) => a.id).sort(), [6, 7]);
  });
});

test(
  'a session ended (DELETE) under a call on the lane ends that stream and cancels the call',
  LIMIT,
  async () => {
    await served('lane-delete', async (s, probe) => {
      const entered = probe.next(/^entered$/);
      const pending = s.post(call(1, 'w__wait'));
      await entered;
      const aborted = probe.next(/^aborted:/);
      const del = await fetch(s.http.url, {
        method: 'DELETE',
        headers: { 'mcp-session-id': s.session, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION },
      });
      assert.equal(del.status, 200);
      assert.equal(await aborted, 'aborted:CANCELLED');
      const res = await pending;
      assert.equal(res.status, 200);
      // The stream ended without an answer, as the SDK ends its own at close.
      assert.deepEqual(events(await res.text()), []);
      assert.equal(s.http.sessions(), 0);
      assert.equal(s.http.calls(), 0);
    });
  },
);

test(
  'a plugin answer or log line JSON cannot carry (a BigInt, a cycle) never leaves a request hanging',
  LIMIT,
  async () => {
    await served('lane-json', async (s) => {
      // A plugin's own full result with a BigInt: its digits, on the lane and on the SDK's path.
      const big = await s.post(call(1, 'w__big'));
      assert.equal(big.status, 200);
      assert.deepEqual(await big.json(), {
        jsonrpc: '2.0',
        id: 1,
        result: { content: [{ type: 'text', text: 'x' }], _meta: { n: '1' } },
      });
      const viaSdk = await s.post(call(11, 'w__big'), {
        'content-type': 'application/json; charset=utf-8',
      });
      assert.deepEqual(events(await viaSdk.text()), [
        {
          jsonrpc: '2.0',
          id: 11,
          result: { content: [{ type: 'text', text: 'x' }], _meta: { n: '1' } },
        },
      ]);
      // A cycle: a tool error naming it.
      const cyclic = (await (await s.post(call(12, 'w__cyclic'))).json()) as {
        result: { isError?: boolean; content: { text: string }[] };
      };
      assert.equal(cyclic.result.isError, true);
      assert.match(cyclic.result.content[0]!.text, /^RESULT_UNSERIALIZABLE: /);
      // A prompt's own messages too.
      const prompt = await s.post({
        jsonrpc: '2.0',
        id: 13,
        method: 'prompts/get',
        params: { name: 'w__big' },
      });
      assert.deepEqual(await prompt.json(), {
        jsonrpc: '2.0',
        id: 13,
        result: {
          messages: [{ role: 'user', content: { type: 'text', text: 'x', _meta: { n: '2' } } }],
        },
      });

      const level = await s.post({
        jsonrpc: '2.0',
        id: 2,
        method: 'logging/setLevel',
        params: { level: 'debug' },
      });
      assert.deepEqual(await level.json(), { jsonrpc: '2.0', id: 2, result: {} });
      const loud = await s.post(call(3, 'w__loud'));
      assert.equal(loud.headers.get('content-type'), 'text/event-stream');
      const got = events(await loud.text()) as {
        method?: string;
        params?: { data?: { message?: string } };
        id?: number;
      }[];
      // What JSON can carry arrives; the answer ends the stream.
      assert.ok(
        got.some((m) => m.params?.data?.message === 'plain'),
        JSON.stringify(got),
      );
      assert.deepEqual(got.at(-1), {
        jsonrpc: '2.0',
        id: 3,
        result: { content: [{ type: 'text', text: 'said' }] },
      });
      // The session serves on.
      const after = await s.post(call(4, 'w__add', { a: 1, b: 2 }));
      assert.equal(((await after.json()) as { id: number }).id, 4);
    });
  },
);

test(
  'a call on the lane the client cancels stops in the plugin and its stream ends unanswered',
  LIMIT,
  async () => {
    await served('lane-cancel', async (s, probe) => {
      const entered = probe.next(/^entered$/);
      const pending = s.post(call(1, 'w__wait'));
      await entered;
      const aborted = probe.next(/^aborted:/);
      const cancel = await s.post({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: 1, reason: 'changed my mind' },
      });
      assert.equal(cancel.status, 202);
      await cancel.text();
      assert.match(await aborted, /^aborted:/);
      // MCP sends no answer to a cancelled request; the stream ends rather than hold the socket.
      const res = await pending;
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      assert.deepEqual(events(await res.text()), []);
      // The session serves on, and the id may be used again.
      const again = await s.post(call(1, 'w__add', { a: 1, b: 1 }));
      assert.deepEqual(await again.json(), {
        jsonrpc: '2.0',
        id: 1,
        result: { content: [{ type: 'text', text: '2' }] },
      });
    });
  },
);
