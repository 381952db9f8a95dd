/**
 * Checkpoints: a stateful plugin's state is snapshotted every `checkpointMs` when it was called
 * since, kept in memory and (with a data folder) on disk; a graceful close writes a last one; a
 * load restores it; a crash's swap back or recovery restores the newest one instead of older
 * state; a checkpoint that cannot be used is set aside and said so, never dropped silently.
 * Time is a manual clock: checkpoints happen when the test advances it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AuditLog } from '../../src/catalog/audit.js';
import { Deployment } from '../../src/deploy/deployment.js';
import { createHost, type Host, type HostOptions } from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { ManualClock } from '../helpers/clock.js';
import { nextEvent } from '../helpers/faults-plugins.js';

after(cleanArtifacts);

const NAME = 'counter';
const EVERY = 1_000;

const counter = (tag: string, stateVersion = 1) => `
let count = 0;
export default {
  stateVersion: ${stateVersion},
  tools: {
    inc: { handler: () => ++count },
    get: { handler: () => count },
    tag: { handler: () => ${JSON.stringify(tag)} },
    die: { handler: () => process.exit(1) },
  },
  snapshot: () => (${stateVersion === 1 ? '{ count }' : '{ value: count }'}),
  restore: (s) => { count = ${stateVersion === 1 ? 's.count' : 's.value'}; },
  ${stateVersion === 2 ? 'migrate: (from, s) => ({ value: s.count }), downgrade: (to, s) => ({ count: s.value }),' : ''}
};
`;

async function scratch(t: test.TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'molt-checkpoints-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function host(t: test.TestContext, options: HostOptions): Promise<Host> {
  const h = await createHost({ checkpointMs: EVERY, ...options });
  t.after(() => h.close());
  return h;
}

async function inc(h: Host, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await h.call(NAME, 'inc', {});
}

/** Advances past the checkpoint interval and waits for the checkpoint it triggers. */
async function checkpoint(h: Host, clock: ManualClock) {
  const done = nextEvent(h, 'state.checkpointed', (e) => e.name === NAME);
  await clock.fire(EVERY);
  return done;
}

test('a stateful plugin is checkpointed every checkpointMs when it was called since, to memory and disk', async (t) => {
  const data = await scratch(t);
  const clock = new ManualClock();
  const h = await host(t, { clock, dataDir: data });
  await h.load(await writeArtifact({ name: NAME, source: counter('v1') }));
  await inc(h, 3);
  const e = await checkpoint(h, clock);
  assert.equal(e.stateVersion, 1);
  assert.ok(e.bytes > 0);
  const file = JSON.parse(await readFile(join(data, 'state', `${NAME}.json`), 'utf8'));
  assert.deepEqual([file.name, file.stateVersion, file.state], [NAME, 1, { count: 3 }]);
  // No call since: the next interval takes no checkpoint.
  let more = 0;
  h.on('state.checkpointed', () => more++);
  await clock.fire(EVERY);
  await h.call(NAME, 'get', {});
  assert.equal(more, 0);
});

test('restart: a graceful close writes a last checkpoint; a new host on the same data folder has every write', async (t) => {
  const data = await scratch(t);
  const dir = await writeArtifact({ name: NAME, source: counter('v1') });
  const first = await createHost({ dataDir: data, checkpointMs: 0 });
  await first.load(dir);
  await first.call(NAME, 'inc', {});
  await inc(first, 4);
  await first.close();
  const second = await host(t, { dataDir: data });
  const restored = nextEvent(second, 'state.restored', (e) => e.name === NAME);
  await second.load(dir);
  assert.equal((await restored).from, 'disk');
  assert.equal(await second.call(NAME, 'get', {}), 5);
});

test('a checkpoint of an older state version is migrated up at load', async (t) => {
  const data = await scratch(t);
  const first = await createHost({ dataDir: data, checkpointMs: 0 });
  await first.load(await writeArtifact({ name: NAME, source: counter('v1') }));
  await inc(first, 2);
  await first.close();
  const second = await host(t, { dataDir: data });
  await second.load(
    await writeArtifact({ name: NAME, version: '2.0.0', source: counter('v2', 2) }),
  );
  assert.equal(await second.call(NAME, 'get', {}), 2);
});

test('a corrupt checkpoint: the plugin starts empty, the file is kept aside, state.rejected says why', async (t) => {
  const data = await scratch(t);
  await rm(join(data, 'state'), { recursive: true, force: true });
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(data, 'state'));
  await writeFile(join(data, 'state', `${NAME}.json`), '{ not json');
  const h = await host(t, { dataDir: data });
  const rejected = nextEvent(h, 'state.rejected', (e) => e.name === NAME);
  await h.load(await writeArtifact({ name: NAME, source: counter('v1') }));
  const e = await rejected;
  assert.match(e.reason, /not JSON/);
  assert.ok(e.keptAs?.includes('.rejected-'));
  assert.deepEqual(
    (await readdir(join(data, 'state'))).filter((f) => f.includes('rejected')).length,
    1,
  );
  assert.equal(await readFile(e.keptAs!, 'utf8'), '{ not json');
  assert.equal(await h.call(NAME, 'get', {}), 0);
});

test("a crash in probation: the warm v1 serves v2's last checkpoint, never its own pre-handover state", async (t) => {
  const clock = new ManualClock();
  const h = await host(t, { clock, probationMs: 60_000 });
  await h.load(await writeArtifact({ name: NAME, source: counter('v1') }));
  await inc(h, 5);
  await h.reload(
    NAME,
    await writeArtifact({ name: NAME, version: '1.1.0', source: counter('v2') }),
  );
  await inc(h, 3);
  await checkpoint(h, clock);
  const rolledBack = nextEvent(h, 'reload.rolledBack', (e) => e.name === NAME);
  await assert.rejects(h.call(NAME, 'die', {}), { code: 'PLUGIN_CRASHED' });
  const e = await rolledBack;
  assert.equal(e.reason, 'crash');
  assert.equal(e.state, 'checkpoint');
  assert.ok(typeof e.stateAgeMs === 'number' && e.stateAgeMs >= 0, 'says how old the state is');
  assert.equal(await h.call(NAME, 'tag', {}), 'v1');
  assert.equal(await h.call(NAME, 'get', {}), 8, 'not 5: the three writes on v2 are kept');
});

test("a crash in probation across a state version: v2's last checkpoint is downgraded by a fresh sandbox of v2 and restored into the warm v1", async (t) => {
  const clock = new ManualClock();
  const h = await host(t, { clock, probationMs: 60_000 });
  await h.load(await writeArtifact({ name: NAME, source: counter('v1') }));
  await inc(h, 2);
  await h.reload(
    NAME,
    await writeArtifact({ name: NAME, version: '2.0.0', source: counter('v2', 2) }),
  );
  await inc(h, 4);
  await checkpoint(h, clock);
  const rolledBack = nextEvent(h, 'reload.rolledBack', (e) => e.name === NAME);
  await assert.rejects(h.call(NAME, 'die', {}), { code: 'PLUGIN_CRASHED' });
  assert.equal((await rolledBack).state, 'checkpoint');
  assert.equal(await h.call(NAME, 'tag', {}), 'v1');
  assert.equal(await h.call(NAME, 'get', {}), 6, "v2's writes, in v1's shape");
});

test('a crash recovery restarts from the known-good version with the newest checkpoint', async (t) => {
  const clock = new ManualClock();
  const h = await host(t, { clock, probationMs: 0, restartBackoff: { initialMs: 10 } });
  await h.load(await writeArtifact({ name: NAME, source: counter('v1') }));
  await inc(h, 4);
  await checkpoint(h, clock);
  const recovered = nextEvent(h, 'plugin.recovered', (e) => e.name === NAME);
  const restored = nextEvent(h, 'state.restored', (e) => e.name === NAME);
  await assert.rejects(h.call(NAME, 'die', {}), { code: 'PLUGIN_CRASHED' });
  await clock.fire(10);
  assert.equal(typeof (await recovered).stateAgeMs, 'number');
  assert.equal((await restored).from, 'memory');
  assert.equal(await h.call(NAME, 'get', {}), 4);
});

test("molt serve's deployment: a restart keeps the state, and the audit log says it was restored", async (t) => {
  const data = await scratch(t);
  const first = await Deployment.open({ dataDir: data, probationMs: 0 });
  await first.install(await writeArtifact({ name: NAME, source: counter('v1') }));
  await inc(first.host, 3);
  await first.close();
  const second = await Deployment.open({ dataDir: data, probationMs: 0 });
  try {
    assert.equal(await second.host.call(NAME, 'get', {}), 3);
  } finally {
    await second.close();
  }
  const log = await AuditLog.read(join(data, 'audit.jsonl'));
  const restored = log.find((e) => e.action === 'state.restored');
  assert.equal(restored?.from, 'disk');
});
