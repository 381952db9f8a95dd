/**
 * `molt dev --http` and `molt dev --stdio`: the dev loop reaches a connected MCP client. A save
 * changes the answer the same session gets, a tool added on save is announced with
 * `list_changed` and callable, all without reconnecting. Waits on the dev host's own lines
 * (a `✓ … reloaded` line is printed once the new build serves) and on notifications: no sleeps.
 */
import assert from 'node:assert/strict';
import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MoltProcess, molt } from '../helpers/cli.js';
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
    undefined,
    'dev',
  );
  try {
    const version = async (): Promise<string> =>
      textOf(await session.client.callTool({ name: 'calc__version', arguments: {} }));
    assert.equal(await version(), 'first');
    // The new build writes to fd 1 at import: that must not reach the client's stdout.
    await writeFile(
      source,
      `${pluginSource('second')}\nimport { writeSync } from 'node:fs';\nwriteSync(1, 'calc: hello on fd 1\\n');\n`,
    );
    await session.onStderr(/✓ calc@0\.1\.0 \w{12} reloaded/);
    assert.equal(await version(), 'second');
    // dev's own lines and the plugin's went to stderr, the protocol alone to stdout.
    await session.onStderr(/calc: hello on fd 1/);
    assert.match(session.stderr, /^ready: watching/m);
    assert.match(session.stderr, /^mcp: stdio$/m);
    genuineMessages(session.stdout, session.sent);
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
  assert.equal((await session.exited).code, 0, 'dev exits 0 when the client closes stdin');
});

test('molt dev --http refuses what serve refuses, before it builds or opens anything', async () => {
  const { root } = await calcProject('dev-mcp-refused');
  const data = join(root, 'data');
  // No token anywhere, whatever the environment running the tests holds.
  const refused = await molt(
    ['dev', join(root, 'projects'), '--data', data, '--http', '0', '--host', '0.0.0.0'],
    { MOLT_MCP_TOKEN: '' },
  );
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /refusing to serve MCP on 0\.0\.0\.0 without authentication/);
  assert.doesNotMatch(refused.stderr, /✓ calc|ready:/);
  await assert.rejects(stat(data), 'nothing was opened, not even the data folder');
});
