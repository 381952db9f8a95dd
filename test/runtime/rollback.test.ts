/** Step 10 and host.rollback(): back to the previous version, warm or cold, state kept. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost, type HostEvents } from '../../src/index.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';

after(cleanArtifacts);

test('rollback during probation swaps back to the warm previous generation', async () => {
  const host = await createHost({ probationMs: 60_000 });
  try {
    const v1 = await writeArtifact({ name: 'p', source: versionPlugin('v1') });
    const v2 = await writeArtifact({ name: 'p', version: '2.0.0', source: versionPlugin('v2') });
    await host.load(v1);
    let started = 0;
    host.on('generation.started', () => started++);
    await host.reload('p', v2);
    const events: HostEvents['reload.rolledBack'][] = [];
    host.on('reload.rolledBack', (e) => events.push(e));
    const back = await host.rollback('p');
    assert.equal(back.version, '1.0.0');
    assert.equal(await host.call('p', 'version', {}), 'v1');
    assert.equal(started, 1, 'the rollback reused the warm generation');
    assert.equal(events[0]?.reason, 'manual');
    assert.equal(events[0]?.from.version, '2.0.0');
    // Rolling back again returns to the version just left.
    assert.equal((await host.rollback('p')).version, '2.0.0');
    assert.equal(await host.call('p', 'version', {}), 'v2');
    assert.equal(host.plugins()[0]?.stats.rollbacks, 2);
  } finally {
    await host.close();
  }
});

test('rollback after probation starts the previous artifact afresh', async () => {
  const host = await createHost({ probationMs: 0 });
  try {
    const v1 = await writeArtifact({ name: 'p', source: versionPlugin('v1') });
    const v2 = await writeArtifact({ name: 'p', version: '2.0.0', source: versionPlugin('v2') });
    await host.load(v1);
    await host.reload('p', v2);
    let started = 0;
    host.on('generation.started', () => started++);
    assert.equal((await host.rollback('p')).version, '1.0.0');
    assert.equal(started, 1);
    assert.equal(await host.call('p', 'version', {}), 'v1');
  } finally {
    await host.close();
  }
});

test('rollback with nothing to go back to fails with NO_PREVIOUS and changes nothing', async () => {
  const host = await createHost();
  try {
    await host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
    await assert.rejects(host.rollback('p'), { code: 'NO_PREVIOUS' });
    assert.equal(await host.call('p', 'version', {}), 'v1');
    await assert.rejects(host.rollback('nope'), { code: 'UNKNOWN_PLUGIN' });
  } finally {
    await host.close();
  }
});

test('a stateful rollback carries the current state back to the previous version', async () => {
  const host = await createHost({ probationMs: 60_000 });
  try {
    const counter = (tag: string): string => `let n = 0; export default {
      tools: { inc: { handler: () => ++n }, tag: { handler: () => '${tag}' } },
      snapshot: () => n, restore: (s) => { n = s; } };`;
    await host.load(await writeArtifact({ name: 'c', source: counter('v1') }));
    await host.call('c', 'inc', {});
    await host.reload(
      'c',
      await writeArtifact({ name: 'c', version: '2.0.0', source: counter('v2') }),
    );
    await host.call('c', 'inc', {});
    await host.call('c', 'inc', {});
    await host.rollback('c');
    assert.equal(await host.call('c', 'tag', {}), 'v1');
    assert.equal(await host.call('c', 'inc', {}), 4);
  } finally {
    await host.close();
  }
});

test('unload drains in-flight work, then calls fail with UNKNOWN_PLUGIN', async () => {
  const host = await createHost();
  try {
    await host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
    const pending = host.call('p', 'version', {});
    await host.unload('p');
    assert.equal(await pending, 'v1');
    await assert.rejects(host.call('p', 'version', {}), { code: 'UNKNOWN_PLUGIN' });
    assert.deepEqual(host.plugins(), []);
    await assert.rejects(host.load('/nonexistent'), { code: 'MANIFEST_INVALID' });
  } finally {
    await host.close();
  }
  await assert.rejects(host.call('q', 'x', {}), { code: 'HOST_CLOSED' });
  await assert.rejects(host.load('/tmp'), { code: 'HOST_CLOSED' });
});
