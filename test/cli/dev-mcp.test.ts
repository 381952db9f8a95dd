/**
 * `molt dev --http` and `molt dev --stdio`: the dev loop reaches a connected MCP client. A save
 * changes the answer the same session gets, a tool added on save is announced with
 * `list_changed` and callable, all without reconnecting. Waits on the dev host's own lines
 * (a `✓ … reloaded` line is printed once the new build serves) and on notifications: no sleeps.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MoltProcess } from '../helpers/cli.js';
import { connectHttp, textOf } from '../helpers/mcp.js';
import { pluginSource, tempDir, writeProject } from '../helpers/project.js';
import { connectStdio, genuineMessages } from '../helpers/stdio.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** pluginSource(tag) with one more tool, `double`. */
const withDouble = (tag: string): string =>
  pluginSource(tag).replace(
    'tools: {',
    `tools: {
    double: {
      description: 'twice n',
      inputSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
      handler: ({ n }: { n: number }) => n * 2,
    },`,
  );

async function calcProject(label: string): Promise<{ root: string; source: string }> {
  const root = await tempDir(label);
  dirs.push(root);
  const project = await writeProject(
    join(root, 'projects', 'calc'),
    'calc',
    '0.1.0',
    pluginSource('first'),
  );
  return { root, source: join(project, 'src', 'index.ts') };
}

test('molt dev --http: a connected client gets the new answer, list_changed and the new tool after saves', {
  timeout: 60_000,
}, async () => {
  const { root, source } = await calcProject('dev-mcp-http');
  const dev = new MoltProcess([
    'dev',
    join(root, 'projects'),
    '--data',
    join(root, 'data'),
    '--http',
    '0',
  ]);
  try {
    await dev.waitFor(/✓ calc@0\.1\.0 \w{12} loaded/);
    const url = (await dev.waitFor(/^mcp: http:\/\//)).slice('mcp: '.length);
    const mcp = await connectHttp(url);
    try {
      await mcp.streamOpen;
      const version = async (): Promise<string> =>
        textOf(await mcp.client.callTool({ name: 'calc__version', arguments: {} }));
      assert.equal(await version(), 'first');
      const before = (await mcp.client.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(before, ['calc__add', 'calc__slow', 'calc__version']);

      // An answer changes: the same session gets it.
      await writeFile(source, pluginSource('second'));
      await dev.waitFor(/✓ calc@0\.1\.0 \w{12} reloaded/);
      assert.equal(await version(), 'second');

      // A tool is added: announced to the session, listed, callable.
      const announced = mcp.listChanged.reached(mcp.listChanged.count + 1);
      await writeFile(source, withDouble('third'));
      await announced;
      const names = (await mcp.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('calc__double'), `calc__double listed: ${names.join(', ')}`);
      assert.equal(
        textOf(await mcp.client.callTool({ name: 'calc__double', arguments: { n: 21 } })),
        '42',
      );
      assert.equal(await version(), 'third');
      assert.deepEqual(mcp.errors, [], 'the session never broke');
    } finally {
      await mcp.close();
    }
  } finally {
    await dev.stop();
  }
});

test('molt dev --stdio: the answer changes after a save; stdout carries JSON-RPC only', {
  timeout: 60_000,
}, async () => {
  const { root, source } = await calcProject('dev-mcp-stdio');
  const session = await connectStdio(
    [join(root, 'projects'), '--data', join(root, 'data')],
    'molt-dev-stdio-test',
    'dev',
  );
  try {
    const version = async (): Promise<string> =>
      textOf(await session.client.callTool({ name: 'calc__version', arguments: {} }));
    assert.equal(await version(), 'first');
    await writeFile(source, pluginSource('second'));
    await session.onStderr(/✓ calc@0\.1\.0 \w{12} reloaded/);
    assert.equal(await version(), 'second');
    // dev's own lines went to stderr, the protocol alone to stdout.
    assert.match(session.stderr, /^ready: watching/m);
    assert.match(session.stderr, /^mcp: stdio$/m);
    genuineMessages(session.stdout, session.sent);
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
  assert.equal((await session.exited).code, 0, 'dev exits 0 when the client closes stdin');
});
