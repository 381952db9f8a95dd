import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost } from '../src/index.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from './helpers/artifact.js';

after(cleanArtifacts);

test('load, call, reload, call', async () => {
  const host = await createHost({ probationMs: 0 });
  try {
    const v1 = await writeArtifact({ name: 'echo', source: versionPlugin('v1') });
    const v2 = await writeArtifact({ name: 'echo', version: '1.0.1', source: versionPlugin('v2') });
    const loaded = await host.load(v1);
    assert.equal(loaded.version, '1.0.0');
    assert.equal(await host.call('echo', 'version', {}), 'v1');
    assert.deepEqual(await host.call('echo', 'echo', { a: [1, 2] }), { a: [1, 2] });
    await host.reload('echo', v2);
    assert.equal(await host.call('echo', 'version', {}), 'v2');
  } finally {
    await host.close();
  }
});
