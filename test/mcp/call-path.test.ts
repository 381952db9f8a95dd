/**
 * The tools/call path made cheaper (bench k) keeps its behaviour: a call's cancellation now
 * rides a CallSignal that follows the SDK's own per-request signal, and the SDK's second parse
 * of the request and its parse of every result are replaced by a check of the one kind of result
 * a plugin makes itself. Each test names what would break.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { createHost, type Host } from '../../src/index.js';
import { McpFrontDoor } from '../../src/mcp/front-door.js';
import { type McpHttpServer, startMcpHttp } from '../../src/mcp/http.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import {
  connectHttp,
  createProbe,
  type HttpClient,
  type Probe,
  probeSource,
  textOf,
  waitForAbortTool,
} from '../helpers/mcp.js';

after(cleanArtifacts);

const LIMIT = { timeout: 30_000 };

interface Served {
  host: Host;
  http: McpHttpServer;
  probe: Probe;
  client: HttpClient;
  close(): Promise<void>;
}

async function serve(label: string): Promise<Served> {
  const probe = createProbe(label);
  const host = await createHost({ probationMs: 0 });
  const source = `${probeSource(probe)}
export default { tools: {
  mark: {
    inputSchema: { type: 'object', properties: { tag: { type: 'string' } }, required: ['tag'] },
    handler: ({ tag }) => { report('entered:' + tag); return tag; },
  },
  full: {
    inputSchema: { type: 'object', properties: { valid: { type: 'boolean' } } },
    handler: ({ valid }) => valid
      ? { content: [{ type: 'text', text: 'made by the plugin' }], _meta: { mine: 1 } }
      : { content: [{ type: 'no-such-type', text: 1 }] },
  },
  ${waitForAbortTool}
} };`;
  await host.load(await writeArtifact({ name: 'w', source }));
  const door = new McpFrontDoor(host);
  const http = await startMcpHttp(door, { port: 0 });
  const client = await connectHttp(http.url);
  return {
    host,
    http,
    probe,
    client,
    async close() {
      probe.close();
      await client.close();
      await http.close();
      await door.close();
      await host.close();
    },
  };
}

test(
  'a notifications/cancelled sent with its call (one batch) stops the call before it reaches the plugin; the session goes on',
  LIMIT,
  async () => {
    const s = await serve('cancel-before');
    try {
      const sessionId = s.client.transport.sessionId;
      assert.ok(sessionId !== undefined);
      // The SDK takes the cancel before the call's handler runs: the front door must see its
      // signal already aborted and never start the call.
      const batch = await fetch(s.http.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': sessionId,
          'mcp-protocol-version': s.client.transport.protocolVersion ?? '2025-06-18',
        },
        body: JSON.stringify([
          {
            jsonrpc: '2.0',
            id: 'doomed',
            method: 'tools/call',
            params: { name: 'w__mark', arguments: { tag: 'cancelled' } },
          },
          {
            jsonrpc: '2.0',
            method: 'notifications/cancelled',
            params: { requestId: 'doomed', reason: 'changed my mind' },
          },
        ]),
      });
      assert.equal(batch.status, 200);
      // Calls reach the worker in order: had the cancelled one run, it would report first.
      const entered = s.probe.next(/^entered:/);
      assert.equal(
        textOf(await s.client.client.callTool({ name: 'w__mark', arguments: { tag: 'after' } })),
        'after',
      );
      assert.equal(await entered, 'entered:after');
      await batch.body?.cancel();
    } finally {
      await s.close();
    }
  },
);

test("a session ended by DELETE mid-call aborts the plugin's ctx.signal", LIMIT, async () => {
  const s = await serve('cancel-delete');
  try {
    const entered = s.probe.next(/^entered$/);
    const call = s.client.client.callTool({ name: 'w__wait', arguments: {} });
    const settled = call.then(
      () => 'resolved',
      () => 'rejected',
    );
    await entered;
    const aborted = s.probe.next(/^aborted:/);
    await s.client.transport.terminateSession();
    assert.equal(await aborted, 'aborted:CANCELLED');
    // The client's own call ends when its transport closes, whatever the server does.
    await s.client.transport.close();
    assert.equal(await settled, 'rejected');
  } finally {
    await s.close();
  }
});

test(
  "a plugin's own full result is checked against MCP's schema as the SDK did: passed through when valid, a JSON-RPC error when not",
  LIMIT,
  async () => {
    const s = await serve('full-result');
    try {
      const valid = await s.client.client.callTool({ name: 'w__full', arguments: { valid: true } });
      assert.deepEqual(valid.content, [{ type: 'text', text: 'made by the plugin' }]);
      assert.deepEqual(valid._meta, { mine: 1 });
      await assert.rejects(
        s.client.client.callTool({ name: 'w__full', arguments: { valid: false } }),
        (err: unknown) =>
          err instanceof McpError &&
          err.code === ErrorCode.InvalidParams &&
          /Invalid tools\/call result/.test(err.message),
      );
      // The session goes on.
      assert.equal(
        textOf(await s.client.client.callTool({ name: 'w__mark', arguments: { tag: 'still' } })),
        'still',
      );
    } finally {
      await s.close();
    }
  },
);
