/** Warm standby: a blank sandbox is started ahead and the next load runs in it. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost } from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { recordingFactory } from '../helpers/sandboxes.js';

after(cleanArtifacts);

const plugin = `export default { tools: { ok: { handler: () => 'ok' } } };`;

test('with standby on, the sandbox is started before the load and refilled after it', async () => {
  const { factory, made } = recordingFactory();
  const host = await createHost({ sandboxFactory: factory, standby: 1 });
  try {
    assert.equal(made.length, 1, 'one blank sandbox started ahead');
    const warm = made[0]!;
    await host.load(await writeArtifact({ name: 't', source: plugin }));
    assert.equal(await host.call('t', 'ok', {}), 'ok');
    await new Promise((r) => setImmediate(r));
    assert.equal(
      made.length,
      2,
      'the standby was refilled, and the load made no sandbox of its own',
    );
    // The plugin ran in the warm sandbox: unloading it ends that one, not the refilled standby.
    await host.unload('t');
    assert.equal(warm.ended, true, 'the load ran in the warm sandbox');
    assert.equal(made[1]!.ended, false, 'the refilled standby waits for the next load');
    await host.load(await writeArtifact({ name: 't', version: '1.0.1', source: plugin }));
    await host.unload('t');
    assert.equal(made[1]!.ended, true, 'the next load ran in the refilled standby');
  } finally {
    await host.close();
  }
  assert.ok(
    made.every((s) => s.ended),
    'close ends the standby too',
  );
});

test('with standby off, nothing is started ahead', async () => {
  const { factory, made } = recordingFactory();
  const host = await createHost({ sandboxFactory: factory, standby: 0 });
  try {
    assert.equal(made.length, 0);
    await host.load(await writeArtifact({ name: 't', source: plugin }));
    await new Promise((r) => setImmediate(r));
    assert.equal(made.length, 1);
  } finally {
    await host.close();
  }
});
