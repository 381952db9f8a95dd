/**
 * Tool schema compatibility: each rule of `schemaChanges` on its own, then the reload that is
 * refused with SCHEMA_BREAKING within a major (before the new version's init runs, the old one
 * serving on) and allowed across one, or by a host with `schemaCompat: 'off'`.
 */
import assert from 'node:assert/strict';
import { after, type TestContext, test } from 'node:test';
import { createHost, type Host, type HostOptions, type ToolInfo } from '../../src/index.js';
import { mustStayCompatible } from '../../src/runtime/schema-compat.js';
import { type SchemaChange, schemaChanges } from '../../src/schema/compat.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { withCode } from '../helpers/faults-plugins.js';

after(cleanArtifacts);

const tool = (
  name: string,
  inputSchema: Record<string, unknown>,
  outputSchema?: Record<string, unknown>,
): ToolInfo => ({
  name,
  description: '',
  inputSchema,
  ...(outputSchema === undefined ? {} : { outputSchema }),
});

/** The changes from one input schema of tool `t` to another, as `kind path` strings. */
function inputChanges(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  return brief(schemaChanges([tool('t', before)], [tool('t', after)]));
}

function outputChanges(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const input = { type: 'object' };
  return brief(schemaChanges([tool('t', input, before)], [tool('t', input, after)]));
}

const brief = (changes: SchemaChange[]): string[] => changes.map((c) => `${c.kind} ${c.path}`);

const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  properties,
  ...extra,
});

test('a removed tool breaks its callers; an added one does not', () => {
  const a = tool('a', { type: 'object' });
  const b = tool('b', { type: 'object' });
  const changes = schemaChanges([a, b], [a, tool('c', { type: 'object' })]);
  assert.deepEqual(changes, [
    { tool: 'b', kind: 'toolRemoved', path: '', message: 'the tool was removed' },
  ]);
  assert.deepEqual(schemaChanges([a], [a, b]), []);
});

test('a new required input property breaks; a new optional one does not', () => {
  const before = obj({ a: { type: 'string' } });
  assert.deepEqual(inputChanges(before, obj({ a: { type: 'string' } }, { required: ['a'] })), [
    'requiredAdded /inputSchema/required',
  ]);
  assert.deepEqual(inputChanges(before, obj({ a: { type: 'string' }, b: { type: 'number' } })), []);
  // No longer required: callers that send it still may.
  assert.deepEqual(inputChanges(obj({ a: {} }, { required: ['a'] }), obj({ a: {} })), []);
});

test('a removed input property breaks', () => {
  assert.deepEqual(inputChanges(obj({ a: {}, b: {} }), obj({ a: {} })), [
    'propertyRemoved /inputSchema/properties/b',
  ]);
});

test('types: a shrinking set narrows, number → integer narrows, integer → number widens', () => {
  const n = (type: unknown) => obj({ n: { type } });
  assert.deepEqual(inputChanges(n('number'), n('integer')), [
    'typeNarrowed /inputSchema/properties/n/type',
  ]);
  assert.deepEqual(inputChanges(n('integer'), n('number')), []);
  assert.deepEqual(inputChanges(n(['string', 'null']), n('string')), [
    'typeNarrowed /inputSchema/properties/n/type',
  ]);
  assert.deepEqual(inputChanges(n('string'), n(['string', 'null'])), []);
  // No type at all took anything.
  assert.deepEqual(inputChanges(obj({ n: {} }), n('string')), [
    'typeNarrowed /inputSchema/properties/n/type',
  ]);
  assert.deepEqual(inputChanges(obj({ n: {} }), obj({ n: false })), [
    'typeNarrowed /inputSchema/properties/n',
  ]);
});

test('an enum (or const) losing values narrows; gaining values does not', () => {
  const e = (values: unknown[]) => obj({ mode: { enum: values } });
  const [narrowed] = schemaChanges([tool('t', e(['a', 'b', 'c']))], [tool('t', e(['a', 'c']))]);
  assert.equal(narrowed?.kind, 'enumNarrowed');
  assert.match(narrowed?.message ?? '', /"b"/);
  assert.deepEqual(inputChanges(e(['a']), e(['a', 'b'])), []);
  assert.deepEqual(inputChanges(obj({ mode: {} }), obj({ mode: { const: 'a' } })), [
    'enumNarrowed /inputSchema/properties/mode/enum',
  ]);
});

test('additionalProperties true or absent → false breaks', () => {
  for (const before of [obj({}), obj({}, { additionalProperties: true })]) {
    assert.deepEqual(inputChanges(before, obj({}, { additionalProperties: false })), [
      'additionalPropertiesClosed /inputSchema/additionalProperties',
    ]);
  }
  assert.deepEqual(
    inputChanges(obj({}, { additionalProperties: false }), obj({}, { additionalProperties: true })),
    [],
  );
  assert.deepEqual(
    inputChanges(
      obj({}, { additionalProperties: { type: 'number' } }),
      obj({}, { additionalProperties: { type: 'integer' } }),
    ),
    ['typeNarrowed /inputSchema/additionalProperties/type'],
  );
});

test('bounds moving inward narrow an input; a changed pattern is reported, an annotation is not', () => {
  assert.deepEqual(inputChanges(obj({ s: { maxLength: 10 } }), obj({ s: { maxLength: 5 } })), [
    'boundNarrowed /inputSchema/properties/s/maxLength',
  ]);
  assert.deepEqual(inputChanges(obj({ s: { maxLength: 5 } }), obj({ s: { maxLength: 10 } })), []);
  assert.deepEqual(inputChanges(obj({ n: {} }), obj({ n: { minimum: 0 } })), [
    'boundNarrowed /inputSchema/properties/n/minimum',
  ]);
  // Not modelled, so any change counts: conservative.
  assert.deepEqual(inputChanges(obj({ s: { pattern: '^a' } }), obj({ s: { pattern: '^[ab]' } })), [
    'constraintChanged /inputSchema/properties/s/pattern',
  ]);
  assert.deepEqual(
    inputChanges(
      obj({ s: { type: 'string', description: 'old' } }, { title: 'x' }),
      obj({ s: { type: 'string', description: 'new', examples: ['a'] } }, { title: 'y' }),
    ),
    [],
  );
});

test('nested properties and items are compared, with the path to the change', () => {
  const before = obj({
    user: obj({ name: { type: 'string' }, tags: { type: 'array', items: obj({ id: {} }) } }),
  });
  const after = obj({
    user: obj(
      { name: { type: 'string' }, tags: { type: 'array', items: obj({}, { required: ['id'] }) } },
      { required: ['name'] },
    ),
  });
  assert.deepEqual(inputChanges(before, after), [
    'requiredAdded /inputSchema/properties/user/required',
    'requiredAdded /inputSchema/properties/user/properties/tags/items/required',
    'propertyRemoved /inputSchema/properties/user/properties/tags/items/properties/id',
  ]);
});

test('a local $ref is resolved: a change in its target counts, a cycle ends', () => {
  const withDefs = (node: Record<string, unknown>, key = '$defs') => ({
    type: 'object',
    properties: { node: { $ref: `#/${key}/node` } },
    [key]: { node },
  });
  const node = (type: string) => obj({ v: { type }, next: { $ref: '#/$defs/node' } });
  assert.deepEqual(inputChanges(withDefs(node('number')), withDefs(node('number'))), []);
  assert.deepEqual(inputChanges(withDefs(node('number')), withDefs(node('integer'))), [
    'typeNarrowed /inputSchema/properties/node/properties/v/type',
  ]);
  // draft-07's definitions, and a ref on one side only (inlined on the other).
  assert.deepEqual(
    inputChanges(
      withDefs(obj({ v: { type: 'string' } }), 'definitions'),
      obj({ node: obj({ v: { type: 'string' } }, { required: ['v'] }) }),
    ),
    ['requiredAdded /inputSchema/properties/node/required'],
  );
  // A ref that cannot be resolved here and changed: reported, not guessed.
  assert.deepEqual(
    inputChanges(
      obj({ a: { $ref: 'https://x/a.json' } }),
      obj({ a: { $ref: 'https://x/b.json' } }),
    ),
    ['constraintChanged /inputSchema/properties/a'],
  );
});

test('output: a removed property, a dropped guarantee, a widened type or the schema gone break consumers', () => {
  const out = obj({ id: { type: 'integer' }, name: { type: 'string' } }, { required: ['id'] });
  assert.deepEqual(outputChanges(out, obj({ id: { type: 'integer' } }, { required: ['id'] })), [
    'propertyRemoved /outputSchema/properties/name',
  ]);
  assert.deepEqual(
    outputChanges(
      out,
      obj({ id: { type: 'number' }, name: { type: 'string' } }, { required: ['id'] }),
    ),
    ['typeWidened /outputSchema/properties/id/type'],
  );
  assert.deepEqual(outputChanges(out, obj({ id: { type: 'integer' }, name: { type: 'string' } })), [
    'requiredRemoved /outputSchema/required',
  ]);
  // Narrowing what is emitted, or promising more, is safe for consumers.
  assert.deepEqual(
    outputChanges(
      obj({ n: { type: 'number' } }),
      obj({ n: { type: 'integer' }, extra: {} }, { required: ['n'] }),
    ),
    [],
  );
  const input = { type: 'object' };
  assert.deepEqual(brief(schemaChanges([tool('t', input, out)], [tool('t', input)])), [
    'outputSchemaRemoved /outputSchema',
  ]);
});

test('the tools option restricts the comparison (a contract names its tools)', () => {
  const before = [tool('a', { type: 'object' }), tool('b', { type: 'object' })];
  assert.deepEqual(
    schemaChanges(before, [], { tools: ['a'] }).map((c) => c.tool),
    ['a'],
  );
  assert.deepEqual(schemaChanges(before, [before[0]!], { tools: ['a'] }), []);
});

test('hostile schemas: nesting past the bound is reported, not followed; the report and its texts are capped', () => {
  let deep: Record<string, unknown> = { type: 'string' };
  for (let i = 0; i < 200; i++) deep = obj({ x: deep });
  let deep2: Record<string, unknown> = { type: 'number' };
  for (let i = 0; i < 200; i++) deep2 = obj({ x: deep2 });
  const [change] = schemaChanges([tool('t', deep)], [tool('t', deep2)]);
  assert.equal(change?.kind, 'uncheckable');
  // Past the node budget the walk stops at one report, whatever else the list holds.
  const wide = (type: string) =>
    obj(Object.fromEntries(Array.from({ length: 25_000 }, (_, i) => [`p${i}`, { type }])));
  const spent = schemaChanges(
    [tool('t', wide('integer')), tool('gone', {})],
    [tool('t', wide('number'))],
  );
  assert.deepEqual(
    spent.map((c) => [c.kind, c.message]),
    [['uncheckable', 'too large to compare: treated as breaking']],
  );
  const long = 'k'.repeat(100_000);
  const [removed] = schemaChanges([tool('t', obj({ [long]: {} }))], [tool('t', obj({}))]);
  assert.equal(removed?.kind, 'propertyRemoved');
  assert.ok((removed?.path.length ?? 0) < 600 && (removed?.message.length ?? 0) < 600);
  const many = Array.from({ length: 500 }, (_, i) => tool(`t${i}`, { type: 'object' }));
  assert.equal(schemaChanges(many, []).length, 100);
  assert.equal(schemaChanges(many, [], { maxChanges: 7 }).length, 7);
});

test('same major: the new version must stay compatible when it satisfies ^old', () => {
  for (const [from, to, held] of [
    ['1.0.0', '1.1.0', true],
    ['1.0.0', '1.0.1', true],
    ['1.0.0', '1.1.0-beta.1', true],
    ['1.0.0', '2.0.0', false],
    ['1.0.0', '2.0.0-rc.1', false],
    ['1.2.0', '1.1.0', false],
    ['0.1.0', '0.1.5', true],
    ['0.1.0', '0.2.0', false],
    ['0.0.1', '0.0.2', false],
  ] as const) {
    assert.equal(mustStayCompatible(from, to), held, `${from} → ${to}`);
  }
});

async function host(t: TestContext, options: HostOptions = {}): Promise<Host> {
  const h = await createHost({ probationMs: 0, ...options });
  t.after(() => h.close());
  return h;
}

/** A plugin with tools `keep` and, unless left out, `drop`; `init` as given. */
function source(tag: string, { drop = true, init = '' } = {}): string {
  return `export default {
    ${init === '' ? '' : `init: ${init},`}
    tools: {
      keep: { inputSchema: { type: 'object', properties: { a: { type: 'string' } } }, handler: () => ${JSON.stringify(tag)} },
      ${drop ? `drop: { handler: () => 'dropped' },` : ''}
    },
  };`;
}

test('a reload within the major that removes a tool is SCHEMA_BREAKING, refused before init; the old version serves on', async (t) => {
  const h = await host(t);
  await h.load(await writeArtifact({ name: 'p', version: '1.0.0', source: source('v1') }));
  const failed: unknown[] = [];
  h.on('reload.failed', (e) => failed.push(e.error.code));
  // Its init throws: had it run, the reload would fail with INIT_FAILED instead.
  const next = await writeArtifact({
    name: 'p',
    version: '1.1.0',
    source: source('v2', { drop: false, init: "() => { throw new Error('init ran'); }" }),
  });
  let details: Record<string, unknown> | undefined;
  await assert.rejects(h.reload('p', next), (err: { details?: Record<string, unknown> }) => {
    withCode('SCHEMA_BREAKING', /p@1\.1\.0 .*1\.0\.0.*drop: the tool was removed/)(err);
    details = err.details;
    return true;
  });
  assert.deepEqual(details?.changes, [
    { tool: 'drop', kind: 'toolRemoved', path: '', message: 'the tool was removed' },
  ]);
  assert.equal(details?.from, '1.0.0');
  assert.equal(details?.to, '1.1.0');
  assert.deepEqual(failed, ['SCHEMA_BREAKING']);
  assert.equal(h.plugin('p')?.version, '1.0.0');
  assert.equal(await h.call('p', 'keep'), 'v1');
  assert.equal(await h.call('p', 'drop'), 'dropped');
});

test('the same change with a major bump is accepted; a rollback to the older major is never refused', async (t) => {
  const h = await host(t);
  await h.load(await writeArtifact({ name: 'p', version: '1.0.0', source: source('v1') }));
  const next = await writeArtifact({
    name: 'p',
    version: '2.0.0',
    source: source('v2', { drop: false }),
  });
  assert.equal((await h.reload('p', next)).version, '2.0.0');
  assert.equal(await h.call('p', 'keep'), 'v2');
  await assert.rejects(h.call('p', 'drop'), withCode('UNKNOWN_TOOL'));
  // 1.0.0 is outside ^2.0.0 anyway; a rollback is not a new promise, it is the old one.
  assert.equal((await h.rollback('p')).version, '1.0.0');
  assert.equal(await h.call('p', 'drop'), 'dropped');
});

test('within the major, adding a tool or an optional property is accepted', async (t) => {
  const h = await host(t);
  await h.load(await writeArtifact({ name: 'p', version: '1.0.0', source: source('v1') }));
  const widened = `export default { tools: {
    keep: { inputSchema: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'number' } } }, handler: () => 'v2' },
    drop: { handler: () => 'dropped' },
    added: { handler: () => 'new' },
  } };`;
  await h.reload('p', await writeArtifact({ name: 'p', version: '1.1.0', source: widened }));
  assert.equal(await h.call('p', 'keep'), 'v2');
  assert.equal(await h.call('p', 'added'), 'new');
});

test("schemaCompat: 'off' lets a breaking reload within the major through", async (t) => {
  const h = await host(t, { schemaCompat: 'off' });
  await h.load(await writeArtifact({ name: 'p', version: '1.0.0', source: source('v1') }));
  const next = await writeArtifact({
    name: 'p',
    version: '1.1.0',
    source: source('v2', { drop: false }),
  });
  assert.equal((await h.reload('p', next)).version, '1.1.0');
  await assert.rejects(h.call('p', 'drop'), withCode('UNKNOWN_TOOL'));
  await assert.rejects(
    createHost({ schemaCompat: 'never' as 'off' }),
    withCode('OPTIONS_INVALID', /schemaCompat/),
  );
});
