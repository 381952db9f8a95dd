/**
 * Typed state and the way back across a state version: every state is checked against the
 * plugin's `stateSchema` before it is restored (STATE_INVALID, the old generation serving on with
 * its state), and a rollback to an older state version runs the newer version's `downgrade()`;
 * without one it is refused unless the caller discards the state.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost, type Host, type HostEvents, type HostOptions } from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { nextEvent, withCode } from '../helpers/faults-plugins.js';

after(cleanArtifacts);

const NAME = 'notes';

/** v1 keeps `{ notes: string[] }`. */
const v1Source = (schema = true) => `
let notes = [];
export default {
  stateVersion: 1,
  ${schema ? "stateSchema: { type: 'object', properties: { notes: { type: 'array', items: { type: 'string' } } }, required: ['notes'], additionalProperties: false }," : ''}
  tools: {
    add: { handler: ({ text }) => { notes.push(text); return notes.length; } },
    list: { handler: () => notes },
    version: { handler: () => 'v1' },
  },
  snapshot: () => ({ notes }),
  restore: (s) => { notes = s.notes; },
};
`;

/**
 * v2 keeps `{ items: [{ text, at }] }`: `migrate` up from v1, and (unless left out) `downgrade`
 * back to v1's shape. `badMigrate` returns a shape its own schema refuses.
 */
const v2Source = (opts: { downgrade?: boolean; badMigrate?: boolean } = {}) => `
let items = [];
export default {
  stateVersion: 2,
  stateSchema: {
    type: 'object',
    properties: { items: { type: 'array', items: { type: 'object', properties: { text: { type: 'string' }, at: { type: 'integer' } }, required: ['text', 'at'] } } },
    required: ['items'],
    additionalProperties: false,
  },
  tools: {
    add: { handler: ({ text }) => { items.push({ text, at: items.length }); return items.length; } },
    list: { handler: () => items.map((i) => i.text) },
    version: { handler: () => 'v2' },
  },
  snapshot: () => ({ items }),
  restore: (s) => { items = s.items; },
  migrate: (from, s) => ${opts.badMigrate ? '({ items: s.notes })' : '({ items: s.notes.map((text, at) => ({ text, at })) })'},
  ${opts.downgrade === false ? '' : 'downgrade: (to, s) => ({ notes: s.items.map((i) => i.text) }),'}
};
`;

async function setup(t: test.TestContext, options: HostOptions, v2 = v2Source()) {
  const host = await createHost(options);
  t.after(() => host.close());
  await host.load(await writeArtifact({ name: NAME, source: v1Source() }));
  await add(host, 'one', 'two');
  const v2Dir = await writeArtifact({ name: NAME, version: '2.0.0', source: v2 });
  return { host, v2Dir };
}

async function add(host: Host, ...texts: string[]): Promise<void> {
  for (const text of texts) await host.call(NAME, 'add', { text });
}

function succeeded(host: Host): Promise<HostEvents['reload.succeeded']> {
  return nextEvent(host, 'reload.succeeded', (e) => e.name === NAME);
}

for (const [label, options] of [
  ['to the warm generation', { probationMs: 60_000 }],
  ['to a fresh generation of the older artifact', { probationMs: 0 }],
] as const) {
  test(`a rollback across state versions ${label} runs the newer version's downgrade: every write is kept, in v1's shape`, async (t) => {
    const { host, v2Dir } = await setup(t, options);
    const up = succeeded(host);
    await host.reload(NAME, v2Dir);
    assert.equal((await up).state, 'migrated');
    await add(host, 'three', 'four');
    assert.deepEqual(await host.call(NAME, 'list', {}), ['one', 'two', 'three', 'four']);
    const down = succeeded(host);
    const rolledBack = nextEvent(host, 'reload.rolledBack', (e) => e.name === NAME);
    await host.rollback(NAME);
    assert.equal((await down).state, 'downgraded');
    assert.equal((await rolledBack).state, 'downgraded');
    assert.equal(await host.call(NAME, 'version', {}), 'v1');
    assert.deepEqual(await host.call(NAME, 'list', {}), ['one', 'two', 'three', 'four']);
  });

  test(`without downgrade, a rollback ${label} is MIGRATE_FAILED and v2 serves on with its state; with discardState it goes back and says which state it kept`, async (t) => {
    const { host, v2Dir } = await setup(t, options, v2Source({ downgrade: false }));
    await host.reload(NAME, v2Dir);
    await add(host, 'three');
    await assert.rejects(host.rollback(NAME), withCode('MIGRATE_FAILED', /no downgrade\(\)/));
    assert.equal(await host.call(NAME, 'version', {}), 'v2');
    assert.deepEqual(await host.call(NAME, 'list', {}), ['one', 'two', 'three']);
    const rolledBack = nextEvent(host, 'reload.rolledBack', (e) => e.name === NAME);
    await host.rollback(NAME, { discardState: true });
    assert.equal(await host.call(NAME, 'version', {}), 'v1');
    // v1's own state: a warm v1 still holds it; a fresh one gets the last checkpoint v1 took
    // (its snapshot at the handover to v2).
    assert.equal((await rolledBack).state, 'own');
    assert.deepEqual(await host.call(NAME, 'list', {}), ['one', 'two']);
  });
}

test('a migration that returns the wrong shape: STATE_INVALID listing the problems, v1 serves on with its state', async (t) => {
  const { host, v2Dir } = await setup(t, { probationMs: 0 }, v2Source({ badMigrate: true }));
  await assert.rejects(host.reload(NAME, v2Dir), (err: { code: string; details: unknown }) => {
    withCode('STATE_INVALID', /migrate\(1\).*stateSchema/)(err);
    const problems = (err.details as { problems: string[] }).problems;
    assert.ok(
      problems.some((p) => p.startsWith('/items/0')),
      problems.join('; '),
    );
    return true;
  });
  assert.equal(await host.call(NAME, 'version', {}), 'v1');
  assert.deepEqual(await host.call(NAME, 'list', {}), ['one', 'two']);
  await add(host, 'three');
  assert.deepEqual(await host.call(NAME, 'list', {}), ['one', 'two', 'three']);
});

test('a snapshot that does not match its own stateSchema is STATE_INVALID; the plugin serves on', async (t) => {
  const host = await createHost({ probationMs: 0 });
  t.after(() => host.close());
  const broken = v1Source().replace(
    'snapshot: () => ({ notes })',
    'snapshot: () => ({ notes: 42 })',
  );
  await host.load(await writeArtifact({ name: NAME, source: broken }));
  await add(host, 'one');
  await assert.rejects(
    host.reload(NAME, await writeArtifact({ name: NAME, version: '1.0.1', source: v1Source() })),
    withCode('STATE_INVALID', /snapshot\(\)/),
  );
  assert.deepEqual(await host.call(NAME, 'list', {}), ['one']);
});

test('a stateSchema that is not a usable schema fails the load with LOAD_FAILED', async (t) => {
  const host = await createHost();
  t.after(() => host.close());
  const bad = v1Source().replace(
    "stateSchema: { type: 'object',",
    "stateSchema: { type: 'objekt',",
  );
  await assert.rejects(
    host.load(await writeArtifact({ name: NAME, source: bad })),
    withCode('LOAD_FAILED', /stateSchema cannot be used/),
  );
});
