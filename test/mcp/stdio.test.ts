/**
 * Issue 4 over stdio, end to end: the real `molt serve DIR --stdio` spawned by the MCP SDK's own
 * `StdioClientTransport`. Tools listed and called, a tool error that leaves the session alive,
 * a new version dropped into the watched folder announced with list_changed, and stdout that
 * carries JSON-RPC only, even when a plugin writes to its console.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { type ArtifactSpec, cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { MOLT_BIN } from '../helpers/cli.js';
import { errorText, textOf, watchListChanged } from '../helpers/mcp.js';

const roots: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(roots.map((d) => rm(d, { recursive: true, force: true })));
});

/** Writes an artifact aside, then renames it into the watched folder: it appears whole. */
async function drop(spec: ArtifactSpec, folder: string, as: string): Promise<void> {
  await rename(await writeArtifact(spec), join(folder, as));
}

const calcSchema = {
  type: 'object',
  properties: { a: { type: 'number' }, b: { type: 'number' } },
  required: ['a', 'b'],
};

function calc(tag: string, extra = ''): string {
  return `export default { tools: {
  add: { description: 'a + b', inputSchema: ${JSON.stringify(calcSchema)}, handler: ({ a, b }) => a + b },
  version: { description: 'which build answers', handler: () => ${JSON.stringify(tag)} },
  ${extra}
} };`;
}

/** A plugin that writes to stdout everywhere it can: at import, in init and in its handler. */
const chatty = `console.log('chatty: imported');
export default {
  init() { console.log('chatty: init'); },
  tools: {
    say: {
      description: 'talks on its console, answers over MCP',
      handler: () => {
        console.log('chatty: handler says hi');
        process.stdout.write('chatty: raw stdout write\\n');
        console.error('chatty: on stderr');
        return 'said';
      },
    },
  },
};`;

test('molt serve --stdio: list, call, tool error, a version dropped in adds a tool, stdout stays JSON-RPC', {
  timeout: 30_000,
}, async () => {
  const root = await mkdtemp(join(tmpdir(), 'molt-mcp-stdio-'));
  roots.push(root);
  const plugins = join(root, 'plugins');
  const data = join(root, 'data');
  await mkdir(plugins);
  await drop({ name: 'calc', version: '1.0.0', source: calc('one') }, plugins, 'calc-1.0.0');
  await drop({ name: 'chatty', source: chatty }, plugins, 'chatty-1.0.0');

  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MOLT_BIN, 'serve', plugins, '--stdio', '--data', data, '--stable', '50'],
    stderr: 'pipe',
  });
  let stderr = '';
  const stderrWaiters: { re: RegExp; resolve: () => void }[] = [];
  transport.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of stderrWaiters.filter((x) => x.re.test(stderr))) {
      stderrWaiters.splice(stderrWaiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const onStderr = (re: RegExp): Promise<void> =>
    re.test(stderr)
      ? Promise.resolve()
      : new Promise((resolve) => stderrWaiters.push({ re, resolve }));

  const client = new Client({ name: 'molt-stdio-test', version: '1.0.0' });
  const listChanged = watchListChanged(client);
  // A line on stdout that is not JSON-RPC makes the transport report an error here.
  const errors: unknown[] = [];
  let polluted!: (err: Error) => void;
  const stdoutPolluted = new Promise<never>((_, reject) => {
    polluted = reject;
  });
  stdoutPolluted.catch(() => {});
  client.onerror = (err) => {
    errors.push(err);
    polluted(new Error(`stdout carried something other than JSON-RPC: ${err.message}`));
  };
  try {
    await client.connect(transport);
    const names = async (): Promise<string[]> =>
      (await client.listTools()).tools.map((t) => t.name);

    const { tools } = await client.listTools();
    assert.deepEqual(
      tools.map((t) => t.name),
      ['calc__add', 'calc__version', 'chatty__say'],
    );
    assert.deepEqual(tools[0], {
      name: 'calc__add',
      description: 'a + b',
      inputSchema: calcSchema,
    });

    assert.equal(
      textOf(await client.callTool({ name: 'calc__add', arguments: { a: 2, b: 3 } })),
      '5',
    );
    const invalid = errorText(
      await client.callTool({ name: 'calc__add', arguments: { a: 'two' } }),
    );
    assert.match(invalid, /^INVALID_INPUT: invalid arguments for calc__add: /);
    assert.match(invalid, /\/a must be number/);
    assert.match(invalid, /required property 'b'/);
    assert.equal(textOf(await client.callTool({ name: 'calc__version', arguments: {} })), 'one');

    // The plugin's console goes to stderr, and the call still works.
    assert.equal(textOf(await client.callTool({ name: 'chatty__say', arguments: {} })), 'said');
    // Its lines surface on stderr, or (the bug this guards) break the JSON-RPC stream on stdout.
    await Promise.race([
      onStderr(/chatty: handler says hi[\s\S]*chatty: raw stdout write/),
      stdoutPolluted,
    ]);
    assert.match(stderr, /chatty: imported/);

    // A new version arrives in the folder: the client hears list_changed and calls the new tool.
    const notified = listChanged.reached(1);
    await drop(
      {
        name: 'calc',
        version: '1.1.0',
        source: calc(
          'two',
          `mul: { description: 'a * b', inputSchema: ${JSON.stringify(calcSchema)}, handler: ({ a, b }) => a * b },`,
        ),
      },
      plugins,
      'calc-1.1.0',
    );
    await notified;
    assert.deepEqual(await names(), ['calc__add', 'calc__mul', 'calc__version', 'chatty__say']);
    assert.equal(
      textOf(await client.callTool({ name: 'calc__mul', arguments: { a: 2, b: 3 } })),
      '6',
    );
    assert.equal(textOf(await client.callTool({ name: 'calc__version', arguments: {} })), 'two');
    assert.equal(textOf(await client.callTool({ name: 'chatty__say', arguments: {} })), 'said');
    assert.equal(listChanged.count, 1);

    assert.deepEqual(errors, [], `stdout carried something other than JSON-RPC:\n${stderr}`);
  } finally {
    await client.close();
  }
});
