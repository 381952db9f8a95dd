/** Step 6: state handover — snapshot, migrate, restore — under concurrent calls. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost, type HostEvents } from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { createGate, type Gate, gateSource } from '../helpers/gate.js';

after(cleanArtifacts);

/** A counter whose state shape is `{ count }` (v1) or `{ value }` (v2, migrated). */
function counter(
  tag: string,
  opts: { stateVersion?: 1 | 2; restore?: string; extra?: string } = {},
): string {
  const v2 = opts.stateVersion === 2;
  return `
let count = 0;
let migratedFrom = null;
export default {
  stateVersion: ${opts.stateVersion ?? 1},
  tools: {
    inc: { handler: () => ++count },
    get: { handler: () => count },
    tag: { handler: () => ${JSON.stringify(tag)} },
    migratedFrom: { handler: () => migratedFrom },
    ${opts.extra ?? ''}
  },
  snapshot: () => (${v2 ? '{ value: count }' : '{ count }'}),
  restore: ${opts.restore ?? (v2 ? '(s) => { count = s.value; }' : '(s) => { count = s.count; }')},
  ${v2 ? 'migrate: (from, s) => { migratedFrom = from; return { value: s.count }; },' : ''}
};
`;
}

/**
 * v1 with a `hold` tool that blocks on `gate` until the test opens it, and a plain v2: a new
 * major, since dropping `hold` within 1.x would be refused (SCHEMA_BREAKING).
 */
async function gatedCounters(gate: Gate): Promise<{ v1: string; v2: string }> {
  const hold = `hold: { handler: async () => { await gate(${JSON.stringify(gate.name)}); return ++count; } },`;
  return {
    v1: await writeArtifact({ name: 'c', source: gateSource + counter('v1', { extra: hold }) }),
    v2: await writeArtifact({ name: 'c', version: '2.0.0', source: counter('v2') }),
  };
}

/**
 * Version `i` of a counter whose state version is `i + 1` (state `{ c<version>: count }`,
 * checked by its stateSchema): it migrates up from any older version and downgrades to any.
 */
function versionedCounter(tag: string, stateVersion: number, extra: string): string {
  const key = `c${stateVersion}`;
  return `
let count = 0;
export default {
  stateVersion: ${stateVersion},
  stateSchema: { type: 'object', properties: { ${key}: { type: 'integer' } }, required: ['${key}'], additionalProperties: false },
  tools: {
    inc: { handler: () => ++count },
    get: { handler: () => count },
    tag: { handler: () => ${JSON.stringify(tag)} },
    ${extra}
  },
  snapshot: () => ({ ${key}: count }),
  restore: (s) => { count = s.${key}; },
  migrate: (from, s) => ({ ${key}: s['c' + from] }),
  downgrade: (to, s) => ({ ['c' + to]: s.${key} }),
};
`;
}

for (const migrations of [false, true]) {
  test(`a counter survives 20 reloads${migrations ? ', each migrating its state up, and a rollback that downgrades it,' : ''} with increments held in flight and queued at every swap: none lost`, async () => {
    const host = await createHost({ probationMs: 0 });
    const RELOADS = 20;
    const CLIENTS = 16;
    const gates = Array.from({ length: RELOADS + 1 }, (_, i) => createGate(`state-${i}`));
    try {
      const dirs = await Promise.all(
        gates.map((gate, i) => {
          const hold = `hold: { handler: async () => { await gate(${JSON.stringify(gate.name)}); return ++count; } },`;
          return writeArtifact({
            name: 'counter',
            version: `1.0.${i}`,
            source:
              gateSource +
              (migrations
                ? versionedCounter(`r${i}`, i + 1, hold)
                : counter(`r${i}`, { extra: hold })),
          });
        }),
      );
      await host.load(dirs[0]!);
      const swaps: HostEvents['reload.succeeded'][] = [];
      host.on('reload.succeeded', (e) => swaps.push(e));
      // While a handover holds the slot, each client's next call waits in the queue; the test
      // learns when every client has one waiting, so the swap provably has calls queued.
      let holding = false;
      let waiting = 0;
      let allWaiting = (): void => {};
      host.on('slot.state', (e) => {
        holding = e.to === 'held';
        waiting = 0;
      });
      let issued = 0;
      let done = false;
      const seen = new Set<number>();
      const failures: unknown[] = [];
      const client = async (): Promise<void> => {
        for (let n = 0; n < 100_000 && !done; n++) {
          issued++;
          const call = host.call('counter', 'inc', {});
          if (holding && ++waiting === CLIENTS) allWaiting();
          try {
            const value = (await call) as number;
            if (seen.has(value)) failures.push(new Error(`increment ${value} answered twice`));
            seen.add(value);
          } catch (err) {
            failures.push(err);
          }
        }
      };
      const clients = Array.from({ length: CLIENTS }, client);
      for (let i = 1; i <= RELOADS; i++) {
        // Increments in flight on the old generation, which the handover's drain must wait for.
        const held = [host.call('counter', 'hold', {}), host.call('counter', 'hold', {})];
        await gates[i - 1]!.entered(2);
        const everyoneWaits = new Promise<void>((resolve) => {
          allWaiting = resolve;
        });
        const reload = host.reload('counter', dirs[i]!);
        await everyoneWaits;
        gates[i - 1]!.open();
        const r = await reload;
        assert.equal(r.version, `1.0.${i}`);
        for (const value of await Promise.all(held)) seen.add(value as number);
        issued += held.length;
      }
      if (migrations) {
        // One way back, state version 21 → 20, with increments in flight at its swap too.
        const held = [host.call('counter', 'hold', {}), host.call('counter', 'hold', {})];
        await gates[RELOADS]!.entered(2);
        const everyoneWaits = new Promise<void>((resolve) => {
          allWaiting = resolve;
        });
        const back = host.rollback('counter');
        await everyoneWaits;
        gates[RELOADS]!.open();
        assert.equal((await back).version, `1.0.${RELOADS - 1}`);
        for (const value of await Promise.all(held)) seen.add(value as number);
        issued += held.length;
      }
      done = true;
      await Promise.all(clients);
      assert.deepEqual(failures, []);
      assert.equal(swaps.length, RELOADS + (migrations ? 1 : 0));
      for (const [i, e] of swaps.entries()) {
        assert.equal(e.stateTransferred, true);
        const expected = !migrations ? 'handedOver' : i < RELOADS ? 'migrated' : 'downgraded';
        assert.equal(e.state, expected, `reload ${i + 1}`);
        assert.ok(
          e.atSwap.queued >= CLIENTS,
          `reload ${i + 1}: only ${e.atSwap.queued} call(s) queued at the swap`,
        );
      }
      assert.equal(await host.call('counter', 'tag', {}), `r${migrations ? RELOADS - 1 : RELOADS}`);
      assert.equal(await host.call('counter', 'get', {}), issued, 'every increment made it');
      assert.equal(seen.size, issued);
    } finally {
      for (const g of gates) g.close();
      await host.close();
    }
  });
}

test('migrate runs when the state version changes from 1 to 2', async () => {
  const host = await createHost({ probationMs: 0 });
  try {
    const v1 = await writeArtifact({ name: 'c', source: counter('v1') });
    const v2 = await writeArtifact({
      name: 'c',
      version: '2.0.0',
      source: counter('v2', { stateVersion: 2 }),
    });
    await host.load(v1);
    for (let i = 0; i < 5; i++) await host.call('c', 'inc', {});
    let transferred: boolean | undefined;
    host.once('reload.succeeded', (e) => {
      transferred = e.stateTransferred;
      assert.equal(typeof e.timings.migrate, 'number');
    });
    await host.reload('c', v2);
    assert.equal(transferred, true);
    assert.equal(await host.call('c', 'migratedFrom', {}), 1);
    assert.equal(await host.call('c', 'get', {}), 5);
    assert.equal(await host.call('c', 'inc', {}), 6);
  } finally {
    await host.close();
  }
});

test('a failing restore leaves the old generation serving with its state', async () => {
  const host = await createHost({ probationMs: 0 });
  try {
    const v1 = await writeArtifact({ name: 'c', source: counter('v1') });
    const bad = await writeArtifact({
      name: 'c',
      version: '1.1.0',
      source: counter('bad', { restore: "() => { throw new Error('cannot restore'); }" }),
    });
    await host.load(v1);
    for (let i = 0; i < 7; i++) await host.call('c', 'inc', {});
    await assert.rejects(host.reload('c', bad), {
      code: 'RESTORE_FAILED',
      message: /cannot restore/,
    });
    assert.equal(await host.call('c', 'tag', {}), 'v1');
    assert.equal(await host.call('c', 'get', {}), 7);
    assert.equal(await host.call('c', 'inc', {}), 8);
    assert.equal(host.plugins()[0]?.stats.reloadFailures, 1);
  } finally {
    await host.close();
  }
});

test('a missing migrate fails the reload with MIGRATE_FAILED and keeps the old state', async () => {
  const host = await createHost({ probationMs: 0 });
  try {
    const v1 = await writeArtifact({ name: 'c', source: counter('v1') });
    const noMigrate = counter('v2', { stateVersion: 2 }).replace(/migrate: .*\n/, '');
    const v2 = await writeArtifact({ name: 'c', version: '2.0.0', source: noMigrate });
    await host.load(v1);
    await host.call('c', 'inc', {});
    await assert.rejects(host.reload('c', v2), { code: 'MIGRATE_FAILED' });
    assert.equal(await host.call('c', 'get', {}), 1);
  } finally {
    await host.close();
  }
});

test('calls wait in a bounded queue during the handover, then run on the new generation', async () => {
  const host = await createHost({ probationMs: 0, maxQueuedCalls: 2 });
  const gate = createGate('handover');
  try {
    const { v1, v2 } = await gatedCounters(gate);
    await host.load(v1);
    const held = host.call('c', 'hold', {});
    await gate.entered();
    const reload = host.reload('c', v2);
    // The handover holds intake in the microtasks right after v2 has started, and then waits
    // for v1 to drain: one turn later the slot is held, and these calls queue.
    await new Promise<void>((r) => host.once('generation.started', () => r()));
    await new Promise((r) => setImmediate(r));
    assert.equal(host.plugins()[0]?.state, 'held');
    const q1 = host.call('c', 'inc', {});
    const q2 = host.call('c', 'tag', {});
    await assert.rejects(host.call('c', 'get', {}), { code: 'QUEUE_FULL' });
    gate.open();
    assert.equal(await held, 1);
    await reload;
    assert.equal(await q1, 2);
    assert.equal(await q2, 'v2');
  } finally {
    gate.close();
    await host.close();
  }
});
