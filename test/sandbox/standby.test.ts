/** Warm standby: a blank sandbox is started ahead and the next load runs in it. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost } from '../../src/index.js';
import type { SandboxFactory } from '../../src/sandbox/pool.js';
import { WorkerSandbox } from '../../src/sandbox/worker-sandbox.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';

after(cleanArtifacts);

const threadPlugin = `import { threadId } from 'node:worker_threads';
export default { tools: { thread: { handler: () => threadId } } };`;

function recordingFactory(): { factory: SandboxFactory; made: WorkerSandbox[] } {
  const made: WorkerSandbox[] = [];
  return {
    made,
    factory: (limits, hooks) => {
      const s = new WorkerSandbox(limits, hooks);
      made.push(s);
      return s;
    },
  };
}

test('with standby on, the sandbox is started before the load and refilled after it', async () => {
  const { factory, made } = recordingFactory();
  const host = await createHost({ sandboxFactory: factory, standby: 1 });
  try {
    assert.equal(made.length, 1, 'one blank sandbox started ahead');
    const warm = made[0]!;
    await host.load(await writeArtifact({ name: 't', source: threadPlugin }));
    assert.equal(
      await host.call('t', 'thread', {}),
      warm.threadId,
      'the load ran in the warm sandbox',
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(made.length, 2, 'the standby was refilled');
    await host.reload(
      't',
      await writeArtifact({ name: 't', version: '1.0.1', source: threadPlugin }),
    );
    assert.equal(await host.call('t', 'thread', {}), made[1]!.threadId);
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
    await host.load(await writeArtifact({ name: 't', source: threadPlugin }));
    await new Promise((r) => setImmediate(r));
    assert.equal(made.length, 1);
  } finally {
    await host.close();
  }
});
