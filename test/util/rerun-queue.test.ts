import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RerunQueue } from '../../src/util/rerun-queue.js';

test('one run per key at a time; a burst during a run collapses into one more run', async () => {
  const gates: (() => void)[] = [];
  const runs: string[] = [];
  const q = new RerunQueue<string>(async (key) => {
    runs.push(key);
    await new Promise<void>((r) => gates.push(r));
  });
  const first = q.request('a');
  const burst = [q.request('a'), q.request('a'), q.request('a')];
  const other = q.request('b');
  assert.deepEqual(runs, ['a', 'b'], 'keys run independently; the burst waits');
  assert.equal(q.size, 2);
  gates.shift()!(); // end a's first run → exactly one rerun starts
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(runs, ['a', 'b', 'a']);
  gates.shift()!(); // b
  gates.shift()!(); // a's rerun
  await Promise.all([first, ...burst, other]);
  assert.deepEqual(runs, ['a', 'b', 'a']);
  assert.equal(q.size, 0);
  assert.deepEqual(q.pending(), []);
});
