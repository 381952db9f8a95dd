/**
 * Issue 12 with the other real client: the SDK 2.x `Client` at its default (a 2025-11-25
 * session), over Streamable HTTP and over stdio, through everything a plugin can serve — a
 * 2020-12 tool with `$defs`, its output schema and annotations, resources, templates,
 * subscriptions, prompts, completions, logging at the level the client set, sampling and
 * elicitation from inside a handler — and across a reload that changes one kind (its
 * list_changed only). The 1.x client's tests cover the same ground (resources, client-requests,
 * tool-schemas); this file proves the newer client speaks it too. Order proves absence: a
 * notification a client must not get would arrive before the one it waits for.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { createHost, type Host } from '../../src/index.js';
import { McpFrontDoor } from '../../src/mcp/front-door.js';
import { type McpHttpServer, startMcpHttp } from '../../src/mcp/http.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { MOLT_BIN } from '../helpers/cli.js';

const roots: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(roots.map((d) => rm(d, { recursive: true, force: true })));
});

const LIMIT = { timeout: 60_000 };

/** Everything a plugin can serve; `tag` changes the prompt list (and only it) between builds. */
function everything(tag: string): string {
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    $defs: { n: { type: 'number' } },
    properties: { a: { $ref: '#/$defs/n' }, b: { $ref: '#/$defs/n' } },
    required: ['a', 'b'],
  };
  const output = { type: 'object', properties: { sum: { type: 'number' } }, required: ['sum'] };
  return `
const question = (q) => ({ messages: [{ role: 'user', content: { type: 'text', text: q } }], maxTokens: 9 });
export default {
  tools: {
    add: {
      title: 'Add', inputSchema: ${JSON.stringify(schema)}, outputSchema: ${JSON.stringify(output)},
      annotations: { readOnlyHint: true, idempotentHint: true },
      handler: ({ a, b }) => ({ sum: a + b }),
    },
    sample: { handler: async ({ q }, ctx) => (await ctx.sample(question(q))).content.text },
    elicit: { handler: async (_a, ctx) => (await ctx.elicit({ message: 'who?', requestedSchema: { type: 'object', properties: { name: { type: 'string' } } } })).content.name },
    logs: { handler: (_a, ctx) => { ctx.log.debug('d'); ctx.log.info('i'); ctx.log.error('e'); return 'logged'; } },
    touch: { handler: ({ uri }, ctx) => { ctx.resourceUpdated(uri); return 'touched'; } },
  },
  resources: {
    'notes://all': { description: 'every note', read: () => 'all notes' },
    'notes://note/{id}': {
      name: 'note', mimeType: 'text/markdown',
      read: (_uri, _ctx, vars) => '# ' + vars.id,
      complete: { id: (value) => ['alpha', 'beta', 'apple'].filter((v) => v.startsWith(value)) },
    },
  },
  prompts: {
    ${tag}: {
      arguments: [{ name: 'topic', required: true }],
      get: ({ topic }) => 'Summarize ' + topic,
      complete: { topic: (value) => ['mcp', 'molt', 'node'].filter((v) => v.startsWith(value)) },
    },
  },
};`;
}

/** Counts one notification method and waits for a count. */
function counting(client: Client, method: string) {
  const seen: unknown[] = [];
  let waiters: { n: number; resolve: () => void }[] = [];
  client.setNotificationHandler(method as 'notifications/message', (n) => {
    seen.push(n.params);
    const ready = waiters.filter((w) => seen.length >= w.n);
    waiters = waiters.filter((w) => seen.length < w.n);
    for (const w of ready) w.resolve();
  });
  return {
    seen,
    reached(n: number): Promise<void> {
      if (seen.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
}

function newClient(): Client {
  const client = new Client(
    { name: 'molt-test-sdk2', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: {} } },
  );
  client.setRequestHandler('sampling/createMessage', async (request) => {
    const last = request.params.messages.at(-1)?.content as { text?: string } | undefined;
    return {
      model: 'test-model',
      role: 'assistant' as const,
      content: { type: 'text' as const, text: `sampled ${last?.text ?? '?'}` },
    };
  });
  client.setRequestHandler('elicitation/create', async () => ({
    action: 'accept' as const,
    content: { name: 'Ada' },
  }));
  return client;
}

const text = (r: unknown): string => {
  const content = (r as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? '').join('');
};

/** The same walk over either transport: `tool(name)` is the name the door serves it under. */
async function walk(client: Client, tool: (name: string) => string): Promise<void> {
  assert.equal(client.getNegotiatedProtocolVersion(), '2025-11-25');
  const { tools } = await client.listTools();
  const add = tools.find((t) => t.name === tool('add'));
  assert.ok(add, JSON.stringify(tools.map((t) => t.name)));
  assert.equal(add.title, 'Add');
  assert.deepEqual(add.annotations, { readOnlyHint: true, idempotentHint: true });
  assert.deepEqual(add.outputSchema?.required, ['sum']);
  const sum = await client.callTool({ name: tool('add'), arguments: { a: 2, b: 3 } });
  assert.deepEqual(sum.structuredContent, { sum: 5 });
  // The 2020-12 schema's $ref is followed: a string where $defs says number is refused.
  const bad = await client
    .callTool({ name: tool('add'), arguments: { a: 'two', b: 3 } })
    .catch((e: Error) => ({ isError: true, content: [{ type: 'text', text: e.message }] }));
  assert.equal(bad.isError, true);
  assert.match(text(bad), /INVALID_INPUT|a/);

  const { resources } = await client.listResources();
  assert.deepEqual(
    resources.map((r) => r.uri),
    ['notes://all'],
  );
  const { resourceTemplates } = await client.listResourceTemplates();
  assert.deepEqual(
    resourceTemplates.map((t) => t.uriTemplate),
    ['notes://note/{id}'],
  );
  const note = await client.readResource({ uri: 'notes://note/7' });
  assert.deepEqual(note.contents, [
    { uri: 'notes://note/7', mimeType: 'text/markdown', text: '# 7' },
  ]);
  const byVar = await client.complete({
    ref: { type: 'ref/resource', uri: 'notes://note/{id}' },
    argument: { name: 'id', value: 'a' },
  });
  assert.deepEqual(byVar.completion.values, ['alpha', 'apple']);

  const updated = counting(client, 'notifications/resources/updated');
  await client.subscribeResource({ uri: 'notes://note/1' });
  assert.equal(
    text(await client.callTool({ name: tool('touch'), arguments: { uri: 'notes://note/1' } })),
    'touched',
  );
  await updated.reached(1);
  assert.deepEqual(updated.seen, [{ uri: 'notes://note/1' }]);

  const { prompts } = await client.listPrompts();
  assert.deepEqual(
    prompts.map((p) => p.name),
    [tool('v1')],
  );
  const got = await client.getPrompt({ name: tool('v1'), arguments: { topic: 'molt' } });
  assert.deepEqual(got.messages, [
    { role: 'user', content: { type: 'text', text: 'Summarize molt' } },
  ]);
  const byArg = await client.complete({
    ref: { type: 'ref/prompt', name: tool('v1') },
    argument: { name: 'topic', value: 'm' },
  });
  assert.deepEqual(byArg.completion.values, ['mcp', 'molt']);

  // Logging at the level the client set: info and above, not debug.
  const logged = counting(client, 'notifications/message');
  await client.setLoggingLevel('info');
  assert.equal(text(await client.callTool({ name: tool('logs'), arguments: {} })), 'logged');
  await logged.reached(2);
  assert.deepEqual(
    logged.seen.map((p) => (p as { level: string }).level),
    ['info', 'error'],
  );

  // The client's own answers, asked for from inside the sandbox.
  assert.equal(
    text(await client.callTool({ name: tool('sample'), arguments: { q: 'hi' } })),
    'sampled hi',
  );
  assert.equal(text(await client.callTool({ name: tool('elicit'), arguments: {} })), 'Ada');
}

test(
  'SDK 2.x Client over HTTP (a 2025-11-25 session): every kind a plugin serves, client requests, and a reload that changes only the prompts',
  LIMIT,
  async () => {
    const host: Host = await createHost({ probationMs: 0 });
    const door = new McpFrontDoor(host);
    let http: McpHttpServer | undefined;
    const client = newClient();
    try {
      await host.load(await writeArtifact({ name: 'notes', source: everything('v1') }));
      http = await startMcpHttp(door, { port: 0 });
      await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
      await walk(client, (name) => `notes__${name}`);

      const tools = counting(client, 'notifications/tools/list_changed');
      const resources = counting(client, 'notifications/resources/list_changed');
      const prompts = counting(client, 'notifications/prompts/list_changed');
      await host.reload(
        'notes',
        await writeArtifact({ name: 'notes', version: '1.1.0', source: everything('v2') }),
      );
      await prompts.reached(1);
      assert.equal(tools.seen.length, 0, 'the tools did not change');
      assert.equal(resources.seen.length, 0, 'the resources did not change');
      const { prompts: now } = await client.listPrompts();
      assert.deepEqual(
        now.map((p) => p.name),
        ['notes__v2'],
      );
    } finally {
      await client.close();
      await http?.close();
      await door.close();
      await host.close();
    }
  },
);

test(
  'SDK 2.x Client over stdio (molt serve --stdio --tool-names bare): the same walk',
  LIMIT,
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'molt-sdk2-stdio-'));
    roots.push(root);
    const plugins = join(root, 'plugins');
    await mkdir(plugins);
    await rename(
      await writeArtifact({ name: 'notes', source: everything('v1') }),
      join(plugins, 'notes-1.0.0'),
    );
    const client = newClient();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [
        MOLT_BIN,
        'serve',
        plugins,
        '--stdio',
        '--data',
        join(root, 'data'),
        '--tool-names',
        'bare',
      ],
      stderr: 'pipe',
    });
    try {
      await client.connect(transport);
      await walk(client, (name) => name);
    } finally {
      await client.close();
    }
  },
);
