/**
 * Issue 12, item 5, with the SDK's own `Client` over Streamable HTTP and over stdio: a handler's
 * `ctx.sample` and `ctx.elicit` reach the client whose call it serves (across the sandbox, and
 * through `ctx.call` to another plugin), end with that call, and are CLIENT_UNSUPPORTED for a
 * client without the capability or a call no client made; `ctx.log` reaches that client at the
 * level it set, and only it; lines outside calls reach every session that set a level.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  type ClientCapabilities,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { type CallClient, createHost, ErrorCodes, type Host } from '../../src/index.js';
import { McpFrontDoor } from '../../src/mcp/front-door.js';
import { type McpHttpServer, startMcpHttp } from '../../src/mcp/http.js';

import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { connectHttp, type HttpClient, textOf } from '../helpers/mcp.js';
import { connectStdio, genuineMessages } from '../helpers/stdio.js';

const roots: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(roots.map((d) => rm(d, { recursive: true, force: true })));
});

const LIMIT = { timeout: 60_000 };
const BOTH: ClientCapabilities = { sampling: {}, elicitation: {} };

const ask = `
const question = (q) => ({ messages: [{ role: 'user', content: { type: 'text', text: q } }], maxTokens: 50 });
const form = (message) => ({
  message,
  requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
});
export default {
  tools: {
    sample: {
      handler: async ({ q }, ctx) => {
        const r = await ctx.sample(question(q));
        return r.model + ': ' + r.content.text;
      },
    },
    elicit: { handler: async ({ message }, ctx) => JSON.stringify(await ctx.elicit(form(message))) },
    codeOf: {
      handler: async ({ what }, ctx) => {
        try {
          await (what === 'sample' ? ctx.sample(question('?')) : ctx.elicit(form('?')));
          return 'answered';
        } catch (e) {
          return e.code;
        }
      },
    },
    logs: {
      handler: (_args, ctx) => {
        ctx.log.debug('d');
        ctx.log.info('i');
        ctx.log.warn('w', { n: 1 });
        ctx.log.error('e');
        return 'logged';
      },
    },
  },
  resources: {
    'ask://sampled': { read: async (_uri, ctx) => (await ctx.sample(question('read'))).content.text },
  },
  prompts: {
    asked: { get: async (_args, ctx) => 'Hello ' + (await ctx.elicit(form('who?'))).content.name },
  },
};`;

/** Provides contract `llm` whose tool samples: reached through another plugin's `ctx.call`. */
const provider = `export default { tools: {
  complete: { handler: async ({ q }, ctx) =>
    (await ctx.sample({ messages: [{ role: 'user', content: { type: 'text', text: q } }], maxTokens: 9 })).content.text },
} };`;
const consumer = `export default { tools: {
  viaContract: { handler: ({ q }, ctx) => ctx.call('llm', 'complete', { q }) },
} };`;

/** Logs at init: a line outside any call. */
const initLogger = `export default {
  init(ctx) { ctx.log.warn('barrier'); },
  tools: { noop: { handler: () => 'ok' } },
};`;

interface Served {
  host: Host;
  http: McpHttpServer;
  connect(capabilities?: ClientCapabilities): Promise<HttpClient>;
  close(): Promise<void>;
}

async function serve(): Promise<Served> {
  const host = await createHost({ probationMs: 0 });
  await host.load(await writeArtifact({ name: 'ask', source: ask }));
  await host.load(
    await writeArtifact({
      name: 'llm',
      source: provider,
      manifest: { provides: { llm: '1.0.0' } },
    }),
  );
  await host.load(
    await writeArtifact({
      name: 'agent',
      source: consumer,
      manifest: { requires: { llm: '^1' } },
    }),
  );
  const door = new McpFrontDoor(host);
  const http = await startMcpHttp(door, { port: 0 });
  const clients: HttpClient[] = [];
  return {
    host,
    http,
    async connect(capabilities) {
      const c = await connectHttp(http.url, capabilities === undefined ? {} : { capabilities });
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

/** A sampling client that answers with the question's text, upper-cased, from `model`. */
function answerSampling(client: Client, model = 'test-model'): string[] {
  const asked: string[] = [];
  client.setRequestHandler(CreateMessageRequestSchema, (req) => {
    const content = req.params.messages[0]?.content;
    const text = content !== undefined && 'text' in content ? String(content.text) : '';
    asked.push(text);
    return {
      model,
      role: 'assistant',
      content: { type: 'text', text: text.toUpperCase() },
    };
  });
  return asked;
}

/** Accepts with name "Ada", unless the message says "decline". */
function answerElicitation(client: Client): void {
  client.setRequestHandler(ElicitRequestSchema, (req) =>
    req.params.message.includes('decline')
      ? { action: 'decline' }
      : { action: 'accept', content: { name: 'Ada' } },
  );
}

/** The log notifications a client received. */
function logsOf(client: Client) {
  const seen: { level: string; logger?: string; data: unknown }[] = [];
  let waiters: { re: RegExp; resolve: () => void }[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    seen.push(n.params);
    const text = JSON.stringify(n.params.data);
    for (const w of waiters.filter((x) => x.re.test(text))) w.resolve();
    waiters = waiters.filter((x) => !x.re.test(text));
  });
  return {
    seen,
    /** Resolves once a line whose data matches `re` arrived. */
    arrived(re: RegExp): Promise<void> {
      if (seen.some((s) => re.test(JSON.stringify(s.data)))) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ re, resolve }));
    },
  };
}

test(
  'ctx.sample and ctx.elicit get the calling client answers: tools, a read, a prompt, and through ctx.call',
  LIMIT,
  async () => {
    const s = await serve();
    try {
      const { client } = await s.connect(BOTH);
      const asked = answerSampling(client);
      answerElicitation(client);
      const sampled = await client.callTool({ name: 'ask__sample', arguments: { q: 'hi' } });
      assert.equal(textOf(sampled), 'test-model: HI');
      assert.deepEqual(asked, ['hi']);

      const accepted = await client.callTool({
        name: 'ask__elicit',
        arguments: { message: 'name?' },
      });
      assert.deepEqual(JSON.parse(textOf(accepted)), {
        action: 'accept',
        content: { name: 'Ada' },
      });
      const declined = await client.callTool({
        name: 'ask__elicit',
        arguments: { message: 'please decline' },
      });
      assert.deepEqual(JSON.parse(textOf(declined)), { action: 'decline' });

      const read = await client.readResource({ uri: 'ask://sampled' });
      assert.deepEqual(read.contents[0], {
        uri: 'ask://sampled',
        mimeType: 'text/plain',
        text: 'READ',
      });
      const prompt = await client.getPrompt({ name: 'ask__asked' });
      assert.deepEqual(prompt.messages[0]?.content, { type: 'text', text: 'Hello Ada' });

      // agent's handler calls llm's through the host: llm's ctx.sample asks the same client.
      const chained = await client.callTool({
        name: 'agent__viaContract',
        arguments: { q: 'chain' },
      });
      assert.equal(textOf(chained), 'CHAIN');
      assert.deepEqual(asked, ['hi', 'read', 'chain']);
    } finally {
      await s.close();
    }
  },
);

test(
  'CLIENT_UNSUPPORTED: a client without the capability, and a call no client made (host.call)',
  LIMIT,
  async () => {
    const s = await serve();
    try {
      const { client: bare } = await s.connect();
      for (const what of ['sample', 'elicit'])
        assert.equal(
          textOf(await bare.callTool({ name: 'ask__codeOf', arguments: { what } })),
          ErrorCodes.CLIENT_UNSUPPORTED,
        );
      const { client: samplerOnly } = await s.connect({ sampling: {} });
      answerSampling(samplerOnly);
      const codeOf = (what: string) =>
        samplerOnly.callTool({ name: 'ask__codeOf', arguments: { what } }).then(textOf);
      assert.equal(await codeOf('sample'), 'answered');
      assert.equal(await codeOf('elicit'), ErrorCodes.CLIENT_UNSUPPORTED);
      for (const what of ['sample', 'elicit'])
        assert.equal(await s.host.call('ask', 'codeOf', { what }), ErrorCodes.CLIENT_UNSUPPORTED);
    } finally {
      await s.close();
    }
  },
);

test('a client that answers with an error: the handler sees CLIENT_ERROR', LIMIT, async () => {
  const s = await serve();
  try {
    const { client } = await s.connect({ sampling: {} });
    client.setRequestHandler(CreateMessageRequestSchema, () => {
      throw new Error('the user said no');
    });
    assert.equal(
      textOf(await client.callTool({ name: 'ask__codeOf', arguments: { what: 'sample' } })),
      ErrorCodes.CLIENT_ERROR,
    );
  } finally {
    await s.close();
  }
});

test('cancelling the tool call aborts the client request it is waiting on', LIMIT, async () => {
  const s = await serve();
  try {
    const { client } = await s.connect({ sampling: {} });
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const aborted = new Promise<unknown>((resolve) => {
      client.setRequestHandler(CreateMessageRequestSchema, (req, extra) => {
        const content = req.params.messages[0]?.content;
        if (content !== undefined && 'text' in content && content.text !== 'slow')
          return { model: 'm', role: 'assistant', content: { type: 'text', text: 'fast' } };
        entered();
        return new Promise((_ok, fail) => {
          extra.signal.addEventListener('abort', () => {
            resolve(extra.signal.reason);
            fail(new Error('aborted'));
          });
        });
      });
    });
    // The SDK's client ignores notifications/cancelled for request id 0 (a falsy check in
    // Protocol._oncancel): one answered request first, so the one cancelled has id 1.
    assert.equal(
      textOf(await client.callTool({ name: 'ask__sample', arguments: { q: 'first' } })),
      'm: fast',
    );
    const caller = new AbortController();
    const call = client.callTool({ name: 'ask__sample', arguments: { q: 'slow' } }, undefined, {
      signal: caller.signal,
    });
    await inHandler;
    caller.abort('the user moved on');
    await assert.rejects(call);
    // The server sent notifications/cancelled for its sampling request: the handler's signal.
    assert.match(String(await aborted), /the call that asked has ended/);
  } finally {
    await s.close();
  }
});

test(
  "logging: a call's lines reach its own session at the level it set; init's reach every session with a level",
  LIMIT,
  async () => {
    const s = await serve();
    try {
      const a = await s.connect();
      const b = await s.connect();
      const c = await s.connect();
      const aLogs = logsOf(a.client);
      const bLogs = logsOf(b.client);
      const cLogs = logsOf(c.client);
      await a.client.setLoggingLevel('warning');
      await c.client.setLoggingLevel('debug');
      await Promise.all([a.streamOpen, c.streamOpen]);

      assert.equal(textOf(await a.client.callTool({ name: 'ask__logs', arguments: {} })), 'logged');
      // A call's lines travel on its own response stream, ahead of its result.
      assert.deepEqual(aLogs.seen, [
        { level: 'warning', logger: 'ask', data: { message: 'w', data: { n: 1 } } },
        { level: 'error', logger: 'ask', data: 'e' },
      ]);

      // A line outside any call goes to every session with a level (on its GET stream), in
      // order after whatever was sent before: once c has it, c would have had a's lines too.
      await s.host.load(await writeArtifact({ name: 'init-logger', source: initLogger }));
      await cLogs.arrived(/barrier/);
      await aLogs.arrived(/barrier/);
      assert.deepEqual(cLogs.seen, [{ level: 'warning', logger: 'init-logger', data: 'barrier' }]);

      // b set no level: neither its own call's lines nor anyone else's reach it.
      assert.equal(textOf(await b.client.callTool({ name: 'ask__logs', arguments: {} })), 'logged');
      assert.deepEqual(bLogs.seen, []);
    } finally {
      await s.close();
    }
  },
);

test(
  'molt serve --stdio: sampling, elicitation and logging with a real client; stdout stays JSON-RPC',
  LIMIT,
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'molt-clientctx-stdio-'));
    roots.push(root);
    const plugins = join(root, 'plugins');
    await mkdir(plugins);
    await rename(await writeArtifact({ name: 'ask', source: ask }), join(plugins, 'ask'));
    const session = await connectStdio(
      [plugins, '--data', join(root, 'data')],
      'clientctx-stdio',
      BOTH,
    );
    try {
      const { client } = session;
      answerSampling(client, 'stdio-model');
      answerElicitation(client);
      const logs = logsOf(client);
      await client.setLoggingLevel('info');
      assert.equal(
        textOf(await client.callTool({ name: 'ask__sample', arguments: { q: 'pipe' } })),
        'stdio-model: PIPE',
      );
      const elicited = await client.callTool({ name: 'ask__elicit', arguments: { message: 'x' } });
      assert.deepEqual(JSON.parse(textOf(elicited)), {
        action: 'accept',
        content: { name: 'Ada' },
      });
      assert.equal(textOf(await client.callTool({ name: 'ask__logs', arguments: {} })), 'logged');
      assert.deepEqual(
        logs.seen.map((l) => l.level),
        ['info', 'warning', 'error'],
      );
      const messages = genuineMessages(session.stdout, session.sent);
      assert.ok(messages.some((m) => 'method' in m && m.method === 'sampling/createMessage'));
    } finally {
      await session.close();
    }
  },
);

test(
  "host.call with a client of the embedder's own, in a process sandbox: sample, elicit and log reach it",
  LIMIT,
  async () => {
    const host = await createHost({ probationMs: 0 });
    try {
      await host.load(
        await writeArtifact({ name: 'ask', source: ask, manifest: { isolation: 'process' } }),
      );
      assert.equal(host.plugin('ask')?.isolation, 'process');
      const lines: string[] = [];
      const events: unknown[] = [];
      host.on('plugin.log', (e) => events.push(e.toCaller));
      const client: CallClient = {
        sample: async (params) => ({
          model: 'embedded',
          role: 'assistant',
          content: { type: 'text', text: `${(params.messages as unknown[]).length} message` },
        }),
        elicit: async () => ({ action: 'cancel' }),
        log: (plugin, level, msg) => lines.push(`${plugin}:${level}:${msg}`),
      };
      assert.equal(await host.call('ask', 'sample', { q: 'x' }, { client }), 'embedded: 1 message');
      assert.equal(
        await host.call('ask', 'elicit', { message: 'm' }, { client }),
        '{"action":"cancel"}',
      );
      assert.equal(await host.call('ask', 'logs', {}, { client }), 'logged');
      assert.deepEqual(lines, ['ask:debug:d', 'ask:info:i', 'ask:warn:w', 'ask:error:e']);
      assert.deepEqual(events, [true, true, true, true]);
      // A client that offers no sampling: the plugin sees CLIENT_UNSUPPORTED, not a crash.
      assert.equal(
        await host.call('ask', 'codeOf', { what: 'sample' }, { client: {} }),
        ErrorCodes.CLIENT_UNSUPPORTED,
      );
    } finally {
      await host.close();
    }
  },
);
