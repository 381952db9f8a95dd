/**
 * Issue 12, item 3, with the SDK's own `Client` over Streamable HTTP: a JSON Schema 2020-12 tool
 * (with `$defs`/`$ref`) is listed and its input validated by that dialect, a draft-07 one by its
 * own; `title`, `outputSchema` and `annotations` round-trip; `structuredContent` is checked
 * against `outputSchema` in the sandbox (INVALID_OUTPUT); a reload that changes only annotations
 * or the output schema is a list change.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost, type Host } from '../../src/index.js';
import { McpFrontDoor } from '../../src/mcp/front-door.js';
import { type McpHttpServer, startMcpHttp } from '../../src/mcp/http.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { connectHttp, errorText, type HttpClient } from '../helpers/mcp.js';

after(cleanArtifacts);

const LIMIT = { timeout: 30_000 };

const tool2020 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: { point: { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }] } },
  properties: { from: { $ref: '#/$defs/point' }, to: { $ref: '#/$defs/point' } },
  required: ['from', 'to'],
};

// draft-07: `items` as a list is a tuple there (2020-12 would read it as an error).
const toolDraft7 = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: { pair: { type: 'array', items: [{ type: 'string' }, { type: 'number' }] } },
  required: ['pair'],
};

const distanceOut = {
  type: 'object',
  properties: { distance: { type: 'number' } },
  required: ['distance'],
};

function geo(tag: string, annotations: Record<string, unknown>, lie = false): string {
  return `export default { tools: {
  distance: {
    title: 'Distance',
    description: 'between two points',
    inputSchema: ${JSON.stringify(tool2020)},
    outputSchema: ${JSON.stringify(distanceOut)},
    annotations: ${JSON.stringify(annotations)},
    handler: ({ from, to }) => ${lie ? "({ distance: 'far' })" : '({ distance: Math.hypot(to[0] - from[0], to[1] - from[1]) })'},
  },
  pair: { inputSchema: ${JSON.stringify(toolDraft7)}, handler: ({ pair }) => pair.join(':') },
  wrapped: {
    outputSchema: ${JSON.stringify(distanceOut)},
    handler: async ({ bad }) => ({ content: [{ type: 'text', text: ${JSON.stringify(tag)} }], structuredContent: bad ? { distance: null } : { distance: 1 } }),
  },
  plain: { outputSchema: ${JSON.stringify(distanceOut)}, handler: () => 'not an object' },
} };`;
}

interface Served {
  host: Host;
  client: HttpClient;
  close(): Promise<void>;
}

async function serve(source: string): Promise<Served> {
  const host = await createHost({ probationMs: 0 });
  await host.load(await writeArtifact({ name: 'geo', source }));
  const door = new McpFrontDoor(host);
  const http: McpHttpServer = await startMcpHttp(door, { port: 0 });
  const client = await connectHttp(http.url);
  return {
    host,
    client,
    async close() {
      await client.close();
      await http.close();
      await door.close();
      await host.close();
    },
  };
}

test(
  'a 2020-12 tool with $defs is listed whole and validated by its dialect; draft-07 by its own',
  LIMIT,
  async () => {
    const s = await serve(geo('v1', { readOnlyHint: true }));
    try {
      const { tools } = await s.client.client.listTools();
      const distance = tools.find((t) => t.name === 'geo__distance');
      assert.ok(distance, 'the 2020-12 tool is listed');
      assert.deepEqual(distance.inputSchema, tool2020);

      const ok = await s.client.client.callTool({
        name: 'geo__distance',
        arguments: { from: [0, 0], to: [3, 4] },
      });
      assert.equal(ok.isError, undefined);
      assert.deepEqual(ok.structuredContent, { distance: 5 });

      // prefixItems through $ref: the second coordinate must be a number.
      const bad = await s.client.client.callTool({
        name: 'geo__distance',
        arguments: { from: [0, 'x'], to: [3, 4] },
      });
      assert.equal(bad.isError, true);
      assert.match(errorText(bad), /^INVALID_INPUT: .*\/from\/1/);

      const pairOk = await s.client.client.callTool({
        name: 'geo__pair',
        arguments: { pair: ['a', 1] },
      });
      assert.equal(pairOk.isError, undefined);
      const pairBad = await s.client.client.callTool({
        name: 'geo__pair',
        arguments: { pair: [1, 'a'] },
      });
      assert.equal(pairBad.isError, true);
      assert.match(errorText(pairBad), /^INVALID_INPUT: .*\/pair\/0/);
    } finally {
      await s.close();
    }
  },
);

test('title, outputSchema and annotations round-trip to the client', LIMIT, async () => {
  const annotations = {
    title: 'Distance between points',
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  };
  const s = await serve(geo('v1', annotations));
  try {
    const { tools } = await s.client.client.listTools();
    const distance = tools.find((t) => t.name === 'geo__distance');
    assert.ok(distance);
    assert.equal(distance.title, 'Distance');
    assert.deepEqual(distance.outputSchema, distanceOut);
    assert.deepEqual(distance.annotations, annotations);
    const pair = tools.find((t) => t.name === 'geo__pair');
    assert.ok(pair);
    assert.equal(pair.outputSchema, undefined);
    assert.equal(pair.annotations, undefined);
    // host.plugins() carries the same definition, for every door.
    const info = s.host.plugin('geo')?.tools.find((t) => t.name === 'distance');
    assert.deepEqual(info?.annotations, annotations);
  } finally {
    await s.close();
  }
});

test(
  'structuredContent is checked against outputSchema in the sandbox: INVALID_OUTPUT',
  LIMIT,
  async () => {
    const s = await serve(geo('v1', {}, true));
    try {
      const lie = await s.client.client.callTool({
        name: 'geo__distance',
        arguments: { from: [0, 0], to: [3, 4] },
      });
      assert.equal(lie.isError, true);
      assert.match(errorText(lie), /^INVALID_OUTPUT: .*\/distance must be number/);
      assert.equal(lie.structuredContent, undefined);

      // A full MCP result: its structuredContent is what is checked.
      const good = await s.client.client.callTool({ name: 'geo__wrapped', arguments: {} });
      assert.deepEqual(good.structuredContent, { distance: 1 });
      const wrong = await s.client.client.callTool({
        name: 'geo__wrapped',
        arguments: { bad: true },
      });
      assert.match(errorText(wrong), /^INVALID_OUTPUT: /);

      // A synchronous non-object answer to a tool that promised structure.
      const plain = await s.client.client.callTool({ name: 'geo__plain', arguments: {} });
      assert.match(errorText(plain), /^INVALID_OUTPUT: .*must be an object/);

      // Every door: host.call gets the typed error too.
      await assert.rejects(s.host.call('geo', 'plain', {}), { code: 'INVALID_OUTPUT' });
    } finally {
      await s.close();
    }
  },
);

test(
  'a reload that changes only annotations is a list change; an identical one is not',
  LIMIT,
  async () => {
    const s = await serve(geo('v1', { readOnlyHint: true }));
    try {
      await s.client.streamOpen;
      const before = s.client.listChanged.count;
      await s.host.reload(
        'geo',
        await writeArtifact({
          name: 'geo',
          version: '1.0.1',
          source: geo('v1', { readOnlyHint: false }),
        }),
      );
      await s.client.listChanged.reached(before + 1);
      const { tools } = await s.client.client.listTools();
      assert.deepEqual(tools.find((t) => t.name === 'geo__distance')?.annotations, {
        readOnlyHint: false,
      });

      // Same definitions, new build (the tag in `wrapped`'s answer differs): nothing a client
      // lists changed, so the host announces nothing. Counted at the host, where the swap emits
      // synchronously, so the absence is proven when the reload resolves.
      let announced = 0;
      const off = s.host.on('tools.changed', () => announced++);
      await s.host.reload(
        'geo',
        await writeArtifact({
          name: 'geo',
          version: '1.0.2',
          source: geo('v2', { readOnlyHint: false }),
        }),
      );
      assert.equal(announced, 0);
      await s.host.reload(
        'geo',
        await writeArtifact({ name: 'geo', version: '1.0.3', source: geo('v2', {}) }),
      );
      assert.equal(announced, 1, 'dropping the annotations is a change');
      off();
    } finally {
      await s.close();
    }
  },
);

test(
  'hostile tool definitions: a bad outputSchema, a made-up annotation, a huge title or a BigInt fail the load',
  LIMIT,
  async () => {
    const host = await createHost({ probationMs: 0 });
    try {
      const cases: [string, RegExp][] = [
        [`outputSchema: { type: 'object', properties: { a: { type: 'nope' } } }`, /outputSchema/],
        [`annotations: { readOnlyHint: 'yes' }`, /readOnlyHint must be true or false/],
        [`annotations: { trustMe: true }`, /"trustMe", which MCP does not define/],
        [`title: 'x'.repeat(300)`, /title must be a string of at most 256/],
      ];
      for (const [field, message] of cases) {
        const dir = await writeArtifact({
          name: 'bad',
          source: `export default { tools: { t: { ${field}, handler: () => ({}) } } };`,
        });
        await assert.rejects(host.load(dir), (err: Error & { code?: string }) => {
          assert.equal(err.code, 'TOOL_SCHEMA_INVALID', err.message);
          assert.match(err.message, message);
          return true;
        });
      }
      // Structured clone carries a BigInt, which JSON cannot: such a list cannot be listed to
      // any client, so the load fails with a code, never a bare TypeError. (A cycle is already
      // refused in the sandbox, as a schema that cannot be used.)
      const big = await writeArtifact({
        name: 'bad',
        source: `export default { tools: { t: { inputSchema: { type: 'object', properties: { n: { type: 'integer', default: 1n } } }, handler: () => ({}) } } };`,
      });
      await assert.rejects(host.load(big), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'LOAD_FAILED', err.message);
        assert.match(err.message, /cannot be listed as JSON: .*BigInt/);
        return true;
      });
      assert.equal(host.plugins().length, 0);
    } finally {
      await host.close();
    }
  },
);
