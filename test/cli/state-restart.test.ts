/**
 * State survives the host: through the real CLI, a stateful plugin's writes are checkpointed to
 * the data folder, and a `molt serve` SIGKILLed after one checkpoint interval comes back with
 * every write.
 */
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { admin } from '../../src/admin/client.js';
import { sha256 } from '../helpers/artifact.js';
import { MoltProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const source = `let count = 0;
export default {
  tools: {
    inc: { handler: () => ++count },
    get: { handler: () => count },
  },
  snapshot: () => ({ count }),
  restore: (s) => { count = s.count; },
};`;

/** Resolves once `file` (in an existing folder) holds a checkpoint whose state `done` accepts. */
function checkpointOn(file: string, done: (state: unknown) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = async (): Promise<boolean> => {
      try {
        return done(JSON.parse(await readFile(file, 'utf8')).state);
      } catch {
        return false;
      }
    };
    const watcher = watch(join(file, '..'), () => {
      void check().then((ok) => {
        if (ok) {
          watcher.close();
          resolve();
        }
      });
    });
    void check().then((ok) => {
      if (ok) {
        watcher.close();
        resolve();
      }
    });
  });
}

test('molt serve SIGKILLed after a checkpoint interval comes back with every write', async () => {
  const root = await tempDir('state-restart');
  dirs.push(root);
  const plugins = join(root, 'plugins');
  const data = join(root, 'data');
  await mkdir(plugins);
  await mkdir(join(data, 'state'), { recursive: true });
  const staged = join(root, 'counter');
  await mkdir(staged);
  await writeFile(join(staged, 'index.mjs'), source);
  await writeFile(
    join(staged, 'molt.json'),
    JSON.stringify({
      name: 'counter',
      version: '1.0.0',
      entry: 'index.mjs',
      buildId: sha256(source),
      limits: { checkpointMs: 100 },
    }),
  );
  await rename(staged, join(plugins, 'counter'));
  const args = ['serve', plugins, '--data', data];
  const call = (tool: string) =>
    admin<{ result: unknown }>(data, 'POST', `/v1/plugins/counter/tools/${tool}`, {});

  const first = new MoltProcess(args);
  try {
    await first.waitFor(/^ready: serving 1 plugin/);
    for (let i = 0; i < 7; i++) await call('inc');
    await checkpointOn(join(data, 'state', 'counter.json'), (s) => {
      return (s as { count: number }).count === 7;
    });
    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
  } finally {
    await first.stop();
  }

  const second = new MoltProcess(args);
  try {
    await second.waitFor(/^ready: serving 1 plugin/);
    assert.deepEqual(await call('get'), { result: 7 });
  } finally {
    await second.stop();
  }
});
