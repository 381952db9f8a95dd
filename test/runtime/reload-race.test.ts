/** G1 and the drain: no call lost across reloads, calls pinned to the generation they start on. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost, type HostEvents } from '../../src/index.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { createGate, gatedVersions, gateSource } from '../helpers/gate.js';

after(cleanArtifacts);

test('G1: 64 callers through 30 reloads, calls in flight at every swap: none lost, none on a stale version', async () => {
  const host = await createHost({ probationMs: 0 });
  const RELOADS = 30;
  const CLIENTS = 64;
  const HELD = 4;
  // One gate per version: its `hold` calls stay in flight on that version until it opens.
  const { gates, dirs } = await gatedVersions('counter', RELOADS + 1, 'g1');
  try {
    await host.load(dirs[0]!);
    // Updated in the turn of each swap (reload.succeeded is emitted in it): a call started after
    // this line ran must be answered by that version or a newer one.
    let current = 0;
    const swaps: HostEvents['reload.succeeded']['atSwap'][] = [];
    host.on('reload.succeeded', (e) => {
      current = Number(e.to.version.split('.')[2]);
      swaps.push(e.atSwap);
    });
    let done = false;
    let calls = 0;
    const perReload = Array<number>(RELOADS + 1).fill(0);
    const failures: unknown[] = [];
    const client = async (): Promise<void> => {
      // Bounded in count; it runs until the last reload is over.
      for (let n = 0; n < 200_000 && !done; n++) {
        const floor = current;
        try {
          const got = Number(await host.call('counter', 'version', {}));
          calls++;
          perReload[floor]!++;
          if (got < floor)
            failures.push(new Error(`call started after reload ${floor} answered by ${got}`));
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);
    for (let i = 1; i <= RELOADS; i++) {
      const held = Array.from({ length: HELD }, () => host.call('counter', 'hold', {}));
      await gates[i - 1]!.entered(HELD);
      await host.reload('counter', dirs[i]!);
      assert.equal(current, i);
      assert.equal(await host.call('counter', 'version', {}), String(i));
      gates[i - 1]!.open();
      // The calls held across the swap finish on the version they started on (G1, drain).
      assert.deepEqual(await Promise.all(held), Array(HELD).fill(String(i - 1)));
    }
    done = true;
    await Promise.all(clients);
    assert.deepEqual(failures, []);
    assert.equal(swaps.length, RELOADS);
    for (const [i, s] of swaps.entries()) {
      assert.ok(
        s.inFlight >= HELD,
        `reload ${i + 1}: only ${s.inFlight} call(s) in flight at the swap`,
      );
    }
    // The load ran through every reload, not just the first few.
    for (let i = 0; i < RELOADS; i++)
      assert.ok(perReload[i]! > 0, `no call between reloads ${i} and ${i + 1}`);
    assert.ok(calls >= CLIENTS * RELOADS, `only ${calls} calls ran`);
    const info = host.plugin('counter');
    assert.equal(info?.version, `1.0.${RELOADS}`);
    assert.equal(info?.stats.reloads, RELOADS);
    assert.equal(info?.stats.errors, 0);
  } finally {
    for (const g of gates) g.close();
    await host.close();
  }
});

test('a long call started before a reload finishes on the old version; the old worker ends after it', async () => {
  const host = await createHost({ probationMs: 0 });
  const gate = createGate('long');
  try {
    const slow = `slow: { handler: async () => { await gate(${JSON.stringify(gate.name)}); return 'v1-slow'; } },`;
    const v1 = await writeArtifact({ name: 'p', source: gateSource + versionPlugin('v1', slow) });
    const v2 = await writeArtifact({ name: 'p', version: '2.0.0', source: versionPlugin('v2') });
    await host.load(v1);
    const retired: HostEvents['generation.retired'][] = [];
    host.on('generation.retired', (e) => retired.push(e));
    const held = host.call('p', 'slow', {});
    await gate.entered();
    await host.reload('p', v2);
    assert.equal(await host.call('p', 'version', {}), 'v2');
    assert.equal(retired.length, 0, 'the old generation must outlive its in-flight call');
    const retiredNow = new Promise<HostEvents['generation.retired']>((r) =>
      host.once('generation.retired', r),
    );
    gate.open();
    assert.equal(await held, 'v1-slow');
    const e = await retiredNow;
    assert.equal(e.from.version, '1.0.0');
    assert.equal(e.forced, false);
  } finally {
    gate.close();
    await host.close();
  }
});

test('a burst of reload requests coalesces into one reload of the newest', async () => {
  const host = await createHost({ probationMs: 0 });
  const gate = createGate('init');
  try {
    const v1 = await writeArtifact({ name: 'p', source: versionPlugin('v1') });
    const slowInit = `${gateSource}export default { async init() { await gate(${JSON.stringify(gate.name)}); }, tools: { version: { handler: () => 'v2' } } };`;
    const v2 = await writeArtifact({ name: 'p', version: '2.0.0', source: slowInit });
    const burst = await Promise.all(
      [3, 4, 5].map((n) =>
        writeArtifact({ name: 'p', version: `${n}.0.0`, source: versionPlugin(`v${n}`) }),
      ),
    );
    await host.load(v1);
    const succeeded: string[] = [];
    host.on('reload.succeeded', (e) => succeeded.push(e.to.version));
    const first = host.reload('p', v2);
    await gate.entered();
    const queued = burst.map((dir) => host.reload('p', dir));
    gate.open();
    assert.equal((await first).version, '2.0.0');
    const results = await Promise.all(queued);
    assert.deepEqual(
      results.map((r) => r.version),
      ['5.0.0', '5.0.0', '5.0.0'],
    );
    assert.deepEqual(succeeded, ['2.0.0', '5.0.0']);
    assert.equal(await host.call('p', 'version', {}), 'v5');
  } finally {
    gate.close();
    await host.close();
  }
});

test('G7: a plugin stuck in init delays neither calls to nor reloads of another plugin', async () => {
  const host = await createHost({ probationMs: 0 });
  const gate = createGate('stuck-init');
  try {
    const stuck = `${gateSource}export default { async init() { await gate(${JSON.stringify(gate.name)}); }, tools: { version: { handler: () => 'slow' } } };`;
    const slowDir = await writeArtifact({ name: 'slow', source: stuck });
    const a1 = await writeArtifact({ name: 'other', source: versionPlugin('a1') });
    const a2 = await writeArtifact({
      name: 'other',
      version: '2.0.0',
      source: versionPlugin('a2'),
    });
    await host.load(a1);
    const slowLoad = host.load(slowDir);
    await gate.entered();
    assert.equal(await host.call('other', 'version', {}), 'a1');
    await host.reload('other', a2);
    assert.equal(await host.call('other', 'version', {}), 'a2');
    gate.open();
    await slowLoad;
    assert.equal(await host.call('slow', 'version', {}), 'slow');
  } finally {
    gate.close();
    await host.close();
  }
});
