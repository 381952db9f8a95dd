/**
 * Issue 12, items 4 and 6, with the SDK's own `Client` over Streamable HTTP and over stdio:
 * resources (static, templates, text and blob), subscriptions, prompts and completions end to
 * end; `resources/list_changed` and `prompts/list_changed` each only when that kind changed;
 * a read in flight across a reload answered by its own generation; `--tool-names bare`.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  McpError,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { createHost, type Host } from '../../src/index.js';
import { type FrontDoorOptions, McpFrontDoor } from '../../src/mcp/front-door.js';
import { type McpHttpServer, startMcpHttp } from '../../src/mcp/http.js';
import type { TableProblem } from '../../src/mcp/tool-table.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { createGate, gateSource } from '../helpers/gate.js';
import { connectHttp, type HttpClient, textOf } from '../helpers/mcp.js';
import { connectStdio } from '../helpers/stdio.js';

const roots: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(roots.map((d) => rm(d, { recursive: true, force: true })));
});

const LIMIT = { timeout: 60_000 };

interface DocsOptions {
  tag?: string;
  /** Adds a resource: a change of the resource list. */
  moreResources?: boolean;
  /** Adds a prompt argument's description: a change of the prompt list. */
  morePrompts?: boolean;
  /** The name of a gate `docs://slow` waits on. */
  gate?: string;
}

/** A plugin serving every kind; each option changes exactly one list. */
function docs(o: DocsOptions = {}): string {
  const tag = JSON.stringify(o.tag ?? 'v1');
  return `${o.gate === undefined ? '' : gateSource}
const ids = Array.from({ length: 150 }, (_, i) => 'd' + i);
export default {
  tools: {
    touch: { handler: ({ uri }, ctx) => { ctx.resourceUpdated(uri); return 'touched'; } },
  },
  resources: {
    'docs://all': { description: 'every doc', read: () => 'all of ' + ${tag} },
    'docs://logo': { mimeType: 'image/png', read: () => ({ blob: 'aGVsbG8=', mimeType: 'image/png' }) },
    'docs://doc/{id}': {
      name: 'doc',
      mimeType: 'text/markdown',
      read: (uri, _ctx, vars) => '# ' + vars.id + ' ' + ${tag},
      complete: { id: (value) => ids.filter((d) => d.startsWith(value)) },
    },
    ${o.gate === undefined ? '' : `'docs://slow': { read: async () => { await gate(${JSON.stringify(o.gate)}); return 'slow ' + ${tag}; } },`}
    ${o.moreResources ? `'docs://extra': { read: () => 'extra' },` : ''}
  },
  prompts: {
    summarize: {
      description: 'summarizes a topic',
      arguments: [{ name: 'topic', required: true }, { name: 'style'${o.morePrompts ? ", description: 'how'" : ''} }],
      get: ({ topic, style }) => 'Summarize ' + topic + (style ? ' (' + style + ')' : '') + ' ' + ${tag},
      complete: { style: (value) => ['short', 'long', 'bullets'].filter((s) => s.startsWith(value)) },
    },
    greet: { get: () => ({ description: 'a greeting', messages: [{ role: 'assistant', content: { type: 'text', text: 'hi' } }] }) },
  },
};`;
}

interface Served {
  host: Host;
  http: McpHttpServer;
  problems: TableProblem[];
  connect(): Promise<HttpClient>;
  close(): Promise<void>;
}

async function serve(
  plugins: { name: string; source: string }[],
  options: FrontDoorOptions = {},
): Promise<Served> {
  const host = await createHost({ probationMs: 0 });
  for (const p of plugins) await host.load(await writeArtifact(p));
  const problems: TableProblem[] = [];
  const door = new McpFrontDoor(host, { ...options, onProblem: (p) => problems.push(p) });
  const http = await startMcpHttp(door, { port: 0 });
  const clients: HttpClient[] = [];
  return {
    host,
    http,
    problems,
    async connect() {
      const c = await connectHttp(http.url);
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await http.close();
      await door.close();
      await host.close();
    },
  };
}

/** Counts a notification kind and waits for counts, like `watchListChanged` for tools. */
function counter(
  client: Client,
  schema:
    | typeof ResourceListChangedNotificationSchema
    | typeof PromptListChangedNotificationSchema
    | typeof ResourceUpdatedNotificationSchema,
) {
  const seen: unknown[] = [];
  let waiters: { n: number; resolve: () => void }[] = [];
  client.setNotificationHandler(schema, (n) => {
    seen.push(n.params);
    for (const w of waiters.filter((x) => seen.length >= x.n)) w.resolve();
    waiters = waiters.filter((x) => seen.length < x.n);
  });
  return {
    seen,
    reached(n: number): Promise<void> {
      if (seen.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
}

/** The text of a read's first item. */
function readText(result: {
  contents: ({ text: string } | { blob: string })[];
}): string | undefined {
  const [first] = result.contents;
  return first !== undefined && 'text' in first ? first.text : undefined;
}

async function rejectsWith(promise: Promise<unknown>, code: number, message?: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof McpError, String(err));
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

test(
  'resources and templates: listed, read as text and blob, unknown URI is -32002',
  LIMIT,
  async () => {
    const s = await serve([{ name: 'docs', source: docs() }]);
    try {
      const { client } = await s.connect();
      const caps = client.getServerCapabilities();
      assert.deepEqual(caps?.resources, { subscribe: true, listChanged: true });
      assert.deepEqual(caps?.prompts, { listChanged: true });
      assert.deepEqual(caps?.completions, {});

      const { resources } = await client.listResources();
      assert.deepEqual(resources, [
        { uri: 'docs://all', name: 'docs://all', description: 'every doc' },
        { uri: 'docs://logo', name: 'docs://logo', mimeType: 'image/png' },
      ]);
      const { resourceTemplates } = await client.listResourceTemplates();
      assert.deepEqual(resourceTemplates, [
        { uriTemplate: 'docs://doc/{id}', name: 'doc', mimeType: 'text/markdown' },
      ]);

      assert.deepEqual((await client.readResource({ uri: 'docs://all' })).contents, [
        { uri: 'docs://all', mimeType: 'text/plain', text: 'all of v1' },
      ]);
      assert.deepEqual((await client.readResource({ uri: 'docs://logo' })).contents, [
        { uri: 'docs://logo', mimeType: 'image/png', blob: 'aGVsbG8=' },
      ]);
      // The template's variable reaches read(); the template's mimeType types the text.
      assert.deepEqual((await client.readResource({ uri: 'docs://doc/42' })).contents, [
        { uri: 'docs://doc/42', mimeType: 'text/markdown', text: '# 42 v1' },
      ]);
      await rejectsWith(client.readResource({ uri: 'docs://nothing' }), -32002);
      await rejectsWith(client.readResource({ uri: 'docs://doc/a/b' }), -32002);

      // Every door: the host API answers the same.
      assert.deepEqual(await s.host.readResource('docs', 'docs://doc/7'), {
        contents: [{ uri: 'docs://doc/7', mimeType: 'text/markdown', text: '# 7 v1' }],
      });
      const info = s.host.plugin('docs');
      assert.equal(info?.resources.length, 2);
      assert.equal(info?.resourceTemplates[0]?.uriTemplate, 'docs://doc/{id}');
      assert.deepEqual(
        info?.prompts.map((p) => p.name),
        ['summarize', 'greet'],
      );
    } finally {
      await s.close();
    }
  },
);

test(
  'subscribe: ctx.resourceUpdated reaches only the sessions subscribed to that URI',
  LIMIT,
  async () => {
    const s = await serve([{ name: 'docs', source: docs() }]);
    try {
      const a = await s.connect();
      const b = await s.connect();
      await Promise.all([a.streamOpen, b.streamOpen]);
      const aSeen = counter(a.client, ResourceUpdatedNotificationSchema);
      const bSeen = counter(b.client, ResourceUpdatedNotificationSchema);
      await a.client.subscribeResource({ uri: 'docs://doc/1' });
      await b.client.subscribeResource({ uri: 'docs://doc/2' });
      await rejectsWith(b.client.subscribeResource({ uri: 'nope://x' }), -32002);

      let events = 0;
      const off = s.host.on('resource.updated', (e) => {
        assert.equal(e.name, 'docs');
        events++;
      });
      textOf(await a.client.callTool({ name: 'docs__touch', arguments: { uri: 'docs://doc/1' } }));
      await aSeen.reached(1);
      // b's stream carries its own note after any it was wrongly sent: order proves the absence.
      textOf(await a.client.callTool({ name: 'docs__touch', arguments: { uri: 'docs://doc/2' } }));
      await bSeen.reached(1);
      assert.deepEqual(aSeen.seen, [{ uri: 'docs://doc/1' }]);
      assert.deepEqual(bSeen.seen, [{ uri: 'docs://doc/2' }]);

      await a.client.unsubscribeResource({ uri: 'docs://doc/1' });
      await a.client.subscribeResource({ uri: 'docs://doc/2' });
      textOf(await b.client.callTool({ name: 'docs__touch', arguments: { uri: 'docs://doc/1' } }));
      textOf(await b.client.callTool({ name: 'docs__touch', arguments: { uri: 'docs://doc/2' } }));
      await Promise.all([aSeen.reached(2), bSeen.reached(2)]);
      assert.deepEqual(aSeen.seen, [{ uri: 'docs://doc/1' }, { uri: 'docs://doc/2' }]);
      assert.equal(events, 4);
      off();
    } finally {
      await s.close();
    }
  },
);

test(
  'prompts: listed with arguments, got with them, a missing one or an unknown prompt is -32602',
  LIMIT,
  async () => {
    const s = await serve([{ name: 'docs', source: docs() }]);
    try {
      const { client } = await s.connect();
      const { prompts } = await client.listPrompts();
      assert.deepEqual(prompts, [
        { name: 'docs__greet', arguments: [] },
        {
          name: 'docs__summarize',
          description: 'summarizes a topic',
          arguments: [{ name: 'topic', required: true }, { name: 'style' }],
        },
      ]);
      const got = await client.getPrompt({
        name: 'docs__summarize',
        arguments: { topic: 'moulting', style: 'short' },
      });
      assert.deepEqual(got.messages, [
        { role: 'user', content: { type: 'text', text: 'Summarize moulting (short) v1' } },
      ]);
      const greet = await client.getPrompt({ name: 'docs__greet' });
      assert.equal(greet.description, 'a greeting');
      assert.equal(greet.messages[0]?.role, 'assistant');

      await rejectsWith(
        client.getPrompt({ name: 'docs__summarize', arguments: { style: 'short' } }),
        -32602,
        /INVALID_INPUT: .*missing topic/,
      );
      await rejectsWith(client.getPrompt({ name: 'docs__nope' }), -32602, /Unknown prompt/);
      await assert.rejects(s.host.getPrompt('docs', 'summarize', {}), { code: 'INVALID_INPUT' });
      await assert.rejects(s.host.getPrompt('docs', 'nope'), { code: 'UNKNOWN_PROMPT' });
    } finally {
      await s.close();
    }
  },
);

test(
  'completion: a template variable (capped at 100, with total) and a prompt argument',
  LIMIT,
  async () => {
    const s = await serve([{ name: 'docs', source: docs() }]);
    try {
      const { client } = await s.connect();
      const all = await client.complete({
        ref: { type: 'ref/resource', uri: 'docs://doc/{id}' },
        argument: { name: 'id', value: 'd' },
      });
      assert.equal(all.completion.values.length, 100);
      assert.equal(all.completion.total, 150);
      assert.equal(all.completion.hasMore, true);
      const few = await client.complete({
        ref: { type: 'ref/resource', uri: 'docs://doc/{id}' },
        argument: { name: 'id', value: 'd14' },
      });
      assert.deepEqual(few.completion, {
        values: [
          'd14',
          'd140',
          'd141',
          'd142',
          'd143',
          'd144',
          'd145',
          'd146',
          'd147',
          'd148',
          'd149',
        ],
        total: 11,
        hasMore: false,
      });
      const style = await client.complete({
        ref: { type: 'ref/prompt', name: 'docs__summarize' },
        argument: { name: 'style', value: 'b' },
      });
      assert.deepEqual(style.completion.values, ['bullets']);
      // An argument without a completer: no values.
      const none = await client.complete({
        ref: { type: 'ref/prompt', name: 'docs__summarize' },
        argument: { name: 'topic', value: 'x' },
      });
      assert.deepEqual(none.completion.values, []);
      await rejectsWith(
        client.complete({
          ref: { type: 'ref/resource', uri: 'docs://x/{y}' },
          argument: { name: 'y', value: '' },
        }),
        -32002,
      );
    } finally {
      await s.close();
    }
  },
);

test(
  'a reload sends resources/list_changed or prompts/list_changed only for the kind that changed',
  LIMIT,
  async () => {
    const s = await serve([{ name: 'docs', source: docs() }]);
    try {
      const c = await s.connect();
      await c.streamOpen;
      const resourcesChanged = counter(c.client, ResourceListChangedNotificationSchema);
      const promptsChanged = counter(c.client, PromptListChangedNotificationSchema);
      const events = { resources: 0, prompts: 0, tools: 0 };
      s.host.on('resources.changed', () => events.resources++);
      s.host.on('prompts.changed', () => events.prompts++);
      s.host.on('tools.changed', () => events.tools++);
      const reload = async (version: string, o: DocsOptions) =>
        s.host.reload('docs', await writeArtifact({ name: 'docs', version, source: docs(o) }));

      // Only code changed: counted at the host, where the swap emits synchronously.
      await reload('1.0.1', { tag: 'v2' });
      assert.deepEqual(events, { resources: 0, prompts: 0, tools: 0 });
      assert.equal(readText(await c.client.readResource({ uri: 'docs://all' })), 'all of v2');

      await reload('1.0.2', { tag: 'v2', moreResources: true });
      assert.deepEqual(events, { resources: 1, prompts: 0, tools: 0 });
      await resourcesChanged.reached(1);
      assert.equal((await c.client.listResources()).resources.length, 3);

      await reload('1.0.3', { tag: 'v2', moreResources: true, morePrompts: true });
      assert.deepEqual(events, { resources: 1, prompts: 1, tools: 0 });
      await promptsChanged.reached(1);
      // The stream is ordered: had the first reload also sent prompts/list_changed, or the
      // second resources/list_changed, the counts would be over by now.
      assert.equal(resourcesChanged.seen.length, 1);
      assert.equal(promptsChanged.seen.length, 1);
      const { prompts } = await c.client.listPrompts();
      assert.equal(
        prompts.find((p) => p.name === 'docs__summarize')?.arguments?.[1]?.description,
        'how',
      );
    } finally {
      await s.close();
    }
  },
);

test(
  'a resource read in flight during a reload is answered by the generation it started on',
  LIMIT,
  async () => {
    const gate = createGate('slow-read');
    const s = await serve([{ name: 'docs', source: docs({ gate: gate.name }) }]);
    try {
      const { client } = await s.connect();
      const inFlight = client.readResource({ uri: 'docs://slow' });
      await gate.entered(1);
      await s.host.reload(
        'docs',
        await writeArtifact({
          name: 'docs',
          version: '1.0.1',
          source: docs({ tag: 'v2', gate: gate.name }),
        }),
      );
      assert.equal(readText(await client.readResource({ uri: 'docs://all' })), 'all of v2');
      gate.open();
      assert.equal(readText(await inFlight), 'slow v1');
    } finally {
      gate.close();
      await s.close();
    }
  },
);

const calc = (extra = '') => `export default {
  tools: { add: { handler: ({ a, b }) => a + b } },
  prompts: { explain: { get: () => 'explain' } },
  ${extra}
};`;

test(
  '--tool-names bare: tools and prompts under their own names; a collision is reported and left out',
  LIMIT,
  async () => {
    const s = await serve(
      [
        { name: 'calc', source: calc() },
        { name: 'math', source: calc() },
      ],
      { toolNames: 'bare' },
    );
    try {
      const { client } = await s.connect();
      const { tools } = await client.listTools();
      assert.deepEqual(
        tools.map((t) => t.name),
        ['add'],
      );
      assert.equal(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })), '5');
      assert.deepEqual(
        (await client.listPrompts()).prompts.map((p) => p.name),
        ['explain'],
      );
      assert.deepEqual(
        s.problems.map((p) => [p.code, p.plugin, p.tool]),
        [
          ['TOOL_NAME_COLLISION', 'math', 'add'],
          ['PROMPT_NAME_COLLISION', 'math', 'explain'],
        ],
      );
    } finally {
      await s.close();
    }
  },
);

test(
  'a URI or template two plugins serve goes to the first by name; the other is reported',
  LIMIT,
  async () => {
    const both = `resources: { 'shared://x': { read: () => 'X' }, 'shared://t/{v}': { read: () => 'T' } },`;
    const s = await serve([
      { name: 'zeta', source: calc(both.replace(/'X'/, "'zeta'")) },
      { name: 'alpha', source: calc(both.replace(/'X'/, "'alpha'")) },
    ]);
    try {
      const { client } = await s.connect();
      assert.equal(readText(await client.readResource({ uri: 'shared://x' })), 'alpha');
      assert.deepEqual(
        s.problems.map((p) => [p.code, p.plugin, p.tool]),
        [
          ['RESOURCE_URI_COLLISION', 'zeta', 'shared://x'],
          ['RESOURCE_URI_COLLISION', 'zeta', 'shared://t/{v}'],
        ],
      );
      // Prefixed prompt names do not collide.
      assert.deepEqual(
        (await client.listPrompts()).prompts.map((p) => p.name),
        ['alpha__explain', 'zeta__explain'],
      );
      // An unload takes alpha's resources out at once: zeta's, left out until now, are served.
      await s.host.unload('alpha');
      assert.equal(readText(await client.readResource({ uri: 'shared://x' })), 'zeta');
      assert.deepEqual(
        (await client.listPrompts()).prompts.map((p) => p.name),
        ['zeta__explain'],
      );
    } finally {
      await s.close();
    }
  },
);

test(
  'over stdio: resources, a template, a prompt and a completion with molt serve --stdio --tool-names bare',
  LIMIT,
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'molt-res-stdio-'));
    roots.push(root);
    const plugins = join(root, 'plugins');
    await mkdir(plugins);
    await rename(await writeArtifact({ name: 'docs', source: docs() }), join(plugins, 'docs'));
    const session = await connectStdio([
      plugins,
      '--data',
      join(root, 'data'),
      '--tool-names',
      'bare',
    ]);
    try {
      const { client } = session;
      assert.deepEqual(
        (await client.listResources()).resources.map((r) => r.uri),
        ['docs://all', 'docs://logo'],
      );
      assert.equal(readText(await client.readResource({ uri: 'docs://doc/3' })), '# 3 v1');
      const got = await client.getPrompt({ name: 'summarize', arguments: { topic: 'stdio' } });
      assert.deepEqual(got.messages[0]?.content, { type: 'text', text: 'Summarize stdio v1' });
      const done = await client.complete({
        ref: { type: 'ref/prompt', name: 'summarize' },
        argument: { name: 'style', value: 'l' },
      });
      assert.deepEqual(done.completion.values, ['long']);
      assert.equal(
        textOf(await client.callTool({ name: 'touch', arguments: { uri: 'docs://all' } })),
        'touched',
      );
    } finally {
      await session.close();
    }
  },
);
