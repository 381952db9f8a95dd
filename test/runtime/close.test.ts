/** host.close() against work under way: nothing outlives it, and what it refuses says why. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost } from '../../src/index.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { createGate, gateSource } from '../helpers/gate.js';
import { recordingFactory } from '../helpers/sandboxes.js';

after(cleanArtifacts);

test('a load racing close(): once close() resolves no plugin and no sandbox is alive', async () => {
  const dir = await writeArtifact({ name: 'p', source: versionPlugin('v1') });
  // Close in every phase of a load: before the manifest is read, while it is read, later.
  for (const delay of [0, 1, 2, 3, 5, 8]) {
    const { factory, made } = recordingFactory();
    const host = await createHost({ sandboxFactory: factory });
    const loading = host.load(dir).then(
      () => 'loaded',
      (err: { code?: string }) => err.code,
    );
    for (let i = 0; i < delay; i++) await new Promise((r) => setImmediate(r));
    await host.close();
    const outcome = await loading;
    assert.ok(outcome === 'HOST_CLOSED' || outcome === 'loaded', String(outcome));
    assert.deepEqual(host.plugins(), [], `delay ${delay}: nothing listed after close`);
    await Promise.all(made.map((s) => s.exited));
    assert.ok(
      made.every((s) => s.ended),
      `delay ${delay}: every sandbox ended`,
    );
    await assert.rejects(host.call('p', 'version', {}), { code: 'HOST_CLOSED' });
  }
});

test('a reload still queued when the host closes is refused with HOST_CLOSED', async () => {
  const host = await createHost({ probationMs: 0 });
  const gate = createGate('close-init');
  try {
    await host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
    const slowInit = `${gateSource}export default { async init() { await gate(${JSON.stringify(gate.name)}); }, tools: { version: { handler: () => 'v2' } } };`;
    const running = host.reload(
      'p',
      await writeArtifact({ name: 'p', version: '2.0.0', source: slowInit }),
    );
    await gate.entered();
    const queued = host.reload(
      'p',
      await writeArtifact({ name: 'p', version: '3.0.0', source: versionPlugin('v3') }),
    );
    const closing = host.close();
    gate.open();
    await assert.rejects(queued, { code: 'HOST_CLOSED', message: /the host is closed/ });
    await running.catch(() => undefined);
    await closing;
  } finally {
    gate.close();
    await host.close();
  }
});
