/**
 * `npm start` on a fresh state: the compiled start script packs the example plugins, serves them
 * over MCP (HTTP) and a real MCP client calls a tool of each; SIGTERM stops it cleanly.
 */
import assert from 'node:assert/strict';
import { cp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { findRepoRoot } from '../../examples/example-plugins.js';
import { admin } from '../../src/admin/client.js';
import { pack } from '../../src/pack/index.js';
import { MoltProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';

const START = fileURLToPath(new URL('../../examples/start.js', import.meta.url));

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('npm start serves the example plugins over MCP and stops cleanly on SIGTERM', async () => {
  const demoDir = await tempDir('start');
  cleanup.push(() => rm(demoDir, { recursive: true, force: true }));
  const start = new MoltProcess(
    [],
    { MOLT_PORT: '0', MOLT_DEMO_DIR: demoDir, MOLT_REPO_ROOT: await findRepoRoot() },
    START,
  );
  cleanup.push(async () => {
    if (start.child.exitCode === null && start.child.signalCode === null)
      start.child.kill('SIGKILL');
    await start.exited;
  });

  const url = /^mcp: (http:\/\/127\.0\.0\.1:\d+\/mcp)$/.exec(
    await start.waitFor(/^mcp: http:\/\/127\.0\.0\.1:\d+\/mcp$/),
  )?.[1];
  assert.ok(url !== undefined);
  // The instructions: the URL, an HTTP config and a stdio command line, and the live change.
  await start.waitFor(/Press Ctrl-C to stop/);
  const printed = start.lines.join('\n');
  assert.ok(printed.includes(`"url":"${url}"`), 'an HTTP client config');
  assert.match(printed, /"--stdio"/);
  assert.match(printed, /npm run molt -- pack .*examples\/plugins\/text -o /);
  assert.match(printed, /npm run molt -- dev .*examples\/plugins --data /);
  assert.deepEqual((await readdir(join(demoDir, 'plugins'))).sort(), [
    'jobs-1.0.0.molt',
    'notes-1.0.0.molt',
    'text-1.0.0.molt',
  ]);

  const client = new Client({ name: 'start-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [
      'jobs__run',
      'notes__add',
      'notes__delete',
      'notes__list',
      'text__reverse',
      'text__slugify',
      'text__word_count',
    ]);

    const slug = await client.callTool({
      name: 'text__slugify',
      arguments: { text: 'Hello, molt World!' },
    });
    assert.deepEqual(slug.content, [{ type: 'text', text: 'hello-molt-world' }]);

    const added = await client.callTool({
      name: 'notes__add',
      arguments: { text: 'try molt', tags: ['todo'] },
    });
    assert.equal(added.isError, undefined);
    assert.equal((added.structuredContent as { id: number }).id, 1);
    const listed = await client.callTool({ name: 'notes__list', arguments: {} });
    assert.deepEqual(
      (listed.structuredContent as { notes: { text: string }[] }).notes.map((n) => n.text),
      ['try molt'],
    );

    const progress: Progress[] = [];
    const job = await client.callTool(
      { name: 'jobs__run', arguments: { steps: 3, stepMs: 1, label: 'test' } },
      undefined,
      { onprogress: (p) => progress.push(p) },
    );
    assert.equal(job.isError, undefined);
    assert.deepEqual(
      { ...(job.structuredContent as object), elapsedMs: 0 },
      { label: 'test', steps: 3, elapsedMs: 0 },
    );
    assert.ok(progress.length > 0, 'progress notifications arrive');
    for (const p of progress) assert.equal(p.total, 3);

    // Invalid input is a tool error; the session goes on.
    const bad = await client.callTool({ name: 'jobs__run', arguments: { steps: 1000 } });
    assert.equal(bad.isError, true);
    const again = await client.callTool({ name: 'text__reverse', arguments: { text: 'abc' } });
    assert.deepEqual(again.content, [{ type: 'text', text: 'cba' }]);
  } finally {
    await client.close();
  }

  start.child.kill('SIGTERM');
  assert.deepEqual(await start.exited, { code: 0, signal: null });
  assert.ok(start.lines.some((l) => l.startsWith('stopping:')));
});

test('a second npm start on the same folders fails with DATA_LOCKED having touched nothing', async () => {
  const demoDir = await tempDir('start-twice');
  cleanup.push(() => rm(demoDir, { recursive: true, force: true }));
  const env = { MOLT_PORT: '0', MOLT_DEMO_DIR: demoDir, MOLT_REPO_ROOT: await findRepoRoot() };
  const first = new MoltProcess([], env, START);
  cleanup.push(async () => {
    if (first.child.exitCode === null && first.child.signalCode === null)
      first.child.kill('SIGKILL');
    await first.exited;
  });
  await first.waitFor(/Press Ctrl-C to stop/);
  // A newer text than the sources say goes live in the first server (as a live change would).
  const newer = join(demoDir, 'text-src');
  await cp(join(await findRepoRoot(), 'examples', 'plugins', 'text'), newer, { recursive: true });
  const pkg = JSON.parse(await readFile(join(newer, 'package.json'), 'utf8')) as {
    version: string;
  };
  await writeFile(join(newer, 'package.json'), JSON.stringify({ ...pkg, version: '1.0.6' }));
  await pack(newer, { outDir: join(demoDir, 'plugins') });
  await first.waitFor(/✓ text@1\.0\.6 \w{12} reloaded/);
  const snapshot = async (): Promise<string[]> => {
    const dir = join(demoDir, 'plugins');
    const names = (await readdir(dir)).sort();
    return Promise.all(
      names.map(
        async (n) =>
          `${n} ${(await stat(join(dir, n))).mtimeMs} ${(await stat(join(dir, n))).size}`,
      ),
    );
  };
  const before = await snapshot();

  const second = new MoltProcess([], env, START);
  const { code } = await second.exited;
  assert.notEqual(code, 0);
  assert.ok(
    second.lines.some((l) => l.includes('DATA_LOCKED')),
    `the second start says why: ${second.lines.join('\n')}`,
  );
  assert.ok(!second.lines.some((l) => l.startsWith('packing')), 'it packed nothing');
  assert.deepEqual(await snapshot(), before, 'the served folder is untouched');
  const status = await admin<{ plugins: { name: string; version: string }[] }>(
    join(demoDir, 'data'),
    'GET',
    '/v1/plugins',
  );
  assert.equal(
    status.plugins.find((p) => p.name === 'text')?.version,
    '1.0.6',
    'the running server still serves what it served',
  );
  first.child.kill('SIGTERM');
  assert.deepEqual(await first.exited, { code: 0, signal: null });
});
