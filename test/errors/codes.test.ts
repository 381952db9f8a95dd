/**
 * Codes a user can meet that no other test reaches, each caused the way a user would cause it,
 * and the event bus's promise that a throwing listener never stops delivery to the others.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, type TestContext, test } from 'node:test';
import { errorAnswer } from '../../src/admin/answers.js';
import { Deployment } from '../../src/deploy/deployment.js';
import { createHost, type Host, MoltError, type PluginInfo } from '../../src/index.js';
import { McpFrontDoor } from '../../src/mcp/front-door.js';
import type { TableProblem } from '../../src/mcp/tool-table.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { withCode } from '../helpers/faults-plugins.js';
import { tempDir } from '../helpers/project.js';

const dirs: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function host(t: TestContext): Promise<Host> {
  const h = await createHost({ probationMs: 0 });
  t.after(() => h.close());
  return h;
}

test('LOAD_FAILED: an entry that throws, or whose default export is not a plugin', async (t) => {
  const h = await host(t);
  for (const [source, message] of [
    [`throw new Error('top-level boom');`, /top-level boom/],
    ['export default 42;', /default export must be a plugin object/],
    ['export default { name: "no tools" };', /has no "tools" object/],
    ['export default { tools: { t: { description: "no handler" } } };', /tool "t" has no handler/],
    ['export default {', /./],
  ] as const) {
    await assert.rejects(
      h.load(await writeArtifact({ name: 'bad', source })),
      withCode('LOAD_FAILED', message),
    );
  }
  assert.deepEqual(h.plugins(), []);
});

test('LOAD_FAILED: a tool list past its bounds (count, description, JSON size) is refused', async (t) => {
  const h = await host(t);
  for (const [tools, message] of [
    [
      `Object.fromEntries(Array.from({ length: 1025 }, (_, i) => ['t' + i, { handler: () => i }]))`,
      /more than 1024 tools/,
    ],
    [`{ t: { description: 'x'.repeat(20000), handler: () => 1 } }`, /description must be a string/],
    [
      `{ t: { inputSchema: { type: 'object', properties: { a: { enum: Array.from({ length: 300000 }, (_, i) => 'value-' + i) } } }, handler: () => 1 } }`,
      /tool list is larger than/,
    ],
  ] as const) {
    const source = `export default { tools: ${tools} };`;
    await assert.rejects(
      h.load(await writeArtifact({ name: 'big', source })),
      withCode('LOAD_FAILED', message),
    );
  }
  assert.equal(h.plugin('big'), undefined);
});

test('SNAPSHOT_FAILED: a snapshot that throws fails the reload; the old generation serves with its state', async (t) => {
  const h = await host(t);
  const counter = (tag: string, snapshot: string): string => `let n = 0; export default {
    tools: { inc: { handler: () => ++n }, tag: { handler: () => '${tag}' } },
    snapshot: ${snapshot}, restore: (s) => { n = s; } };`;
  await h.load(
    await writeArtifact({
      name: 'c',
      source: counter('v1', "() => { throw new Error('disk on fire'); }"),
    }),
  );
  await h.call('c', 'inc', {});
  await assert.rejects(
    h.reload(
      'c',
      await writeArtifact({ name: 'c', version: '2.0.0', source: counter('v2', '() => n') }),
    ),
    withCode('SNAPSHOT_FAILED', /disk on fire/),
  );
  assert.equal(await h.call('c', 'tag', {}), 'v1');
  assert.equal(await h.call('c', 'inc', {}), 2);
});

test('ALREADY_LOADED: load() of a name that is loaded; the loaded one is untouched', async (t) => {
  const h = await host(t);
  await h.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
  await assert.rejects(
    h.load(await writeArtifact({ name: 'p', version: '2.0.0', source: versionPlugin('v2') })),
    withCode('ALREADY_LOADED', /use reload\(\)/),
  );
  assert.equal(await h.call('p', 'version', {}), 'v1');
});

test('ARTIFACT_NOT_FOUND: installing a path that does not exist', async () => {
  const data = await tempDir('codes');
  dirs.push(data);
  const d = await Deployment.open({ dataDir: data });
  try {
    await assert.rejects(d.install(join(data, 'no-such.molt')), withCode('ARTIFACT_NOT_FOUND'));
  } finally {
    await d.close();
  }
});

test('TOOL_NAME_INVALID, TOOL_NAME_COLLISION, TOOL_SCHEMA_INVALID: left out of MCP, the rest served', async (t) => {
  const h = await host(t);
  const problems: TableProblem[] = [];
  const door = new McpFrontDoor(h, { onProblem: (p) => problems.push(p) });
  t.after(() => door.close());
  await h.load(
    await writeArtifact({
      name: 'a',
      source: `export default { tools: {
        'has space': { handler: () => 1 },
        b__c: { handler: () => 2 },
        scalar: { inputSchema: { type: 'string' }, handler: () => 3 },
        fine: { handler: () => 4 },
      } };`,
    }),
  );
  await h.load(
    await writeArtifact({
      name: 'a__b',
      source: `export default { tools: { c: { handler: () => 5 } } };`,
    }),
  );
  const codes = problems.map((p) => `${p.code} ${p.plugin}.${p.tool}`).sort();
  assert.deepEqual(codes, [
    'TOOL_NAME_COLLISION a__b.c',
    'TOOL_NAME_INVALID a.has space',
    'TOOL_SCHEMA_INVALID a.scalar',
  ]);
  assert.deepEqual(
    door
      .tools()
      .map((tool) => tool.name)
      .sort(),
    ['a__b__c', 'a__fine'],
  );
  // Left out of MCP only: the library door still calls them.
  assert.equal(await h.call('a', 'has space', {}), 1);
});

test('INTERNAL: a failure molt did not expect is answered 500 with a documented code', () => {
  assert.deepEqual(errorAnswer(new Error('EACCES: permission denied')), {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'EACCES: permission denied' } },
  });
  assert.equal(errorAnswer(new MoltError('UNKNOWN_PLUGIN', 'x')).status, 404);
  assert.equal(errorAnswer(new MoltError('INVALID_INPUT', 'x')).status, 400);
  assert.equal(errorAnswer(new MoltError('RESULT_UNSERIALIZABLE', 'x')).status, 502);
  assert.equal(errorAnswer(new MoltError('NO_PREVIOUS', 'x')).status, 409);
  assert.equal(errorAnswer('a bare string').body.error.code, 'INTERNAL');
});

test('a listener that throws never stops delivery to the others, nor a reload', async (t) => {
  const h = await host(t);
  const seen: string[] = [];
  h.on('reload.succeeded', () => {
    seen.push('first');
    throw new Error('a broken subscriber');
  });
  h.on('reload.succeeded', (e) => seen.push(`second ${e.to.version}`));
  h.on('tools.changed', () => {
    throw new Error('another broken subscriber');
  });
  const loaded = await h.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
  assert.equal(loaded.version, '1.0.0');
  await h.reload(
    'p',
    await writeArtifact({ name: 'p', version: '2.0.0', source: versionPlugin('v2') }),
  );
  assert.deepEqual(seen, ['first', 'second 1.0.0', 'first', 'second 2.0.0']);
  assert.equal(await h.call('p', 'version', {}), 'v2');
  assert.equal((h.plugin('p') as PluginInfo).state, 'active');
});
