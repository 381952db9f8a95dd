/**
 * Every timeout on the host's clock: init, call, unresponsive sandbox, queue wait, drain,
 * handover drain, restart backoff. A manual clock stands in for time, so each test fires the
 * exact timer it means to, after gates have pinned the plugin code where it has to be.
 */
import assert from 'node:assert/strict';
import { after, type TestContext, test } from 'node:test';
import { createHost, type Host, type HostOptions, type MoltError } from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { ManualClock } from '../helpers/clock.js';
import {
  assertBystanderServes,
  faultyPlugin,
  loadBystander,
  nextEvent,
  withCode,
} from '../helpers/faults-plugins.js';
import { createGate, type Gate, gateSource, signalSource } from '../helpers/gate.js';

after(cleanArtifacts);

const NAME = 'slow';
const LIMIT = { timeout: 15_000 };

interface Setup {
  host: Host;
  clock: ManualClock;
  generation: number;
  gate: Gate;
}

/** A host on a manual clock, with the bystander loaded, and a gate closed after the test. */
async function setup(t: TestContext, options: HostOptions = {}): Promise<Setup> {
  const clock = new ManualClock();
  const host = await createHost({ ...options, clock });
  const gate = createGate('timeouts');
  t.after(async () => {
    gate.close();
    // A test that failed midway may leave a handler running: let the clock run the drain
    // timeouts out, or close() would wait on time that never passes.
    let closed = false;
    const closing = host.close().finally(() => {
      closed = true;
    });
    for (let i = 0; i < 50 && !closed; i++) {
      clock.advance(60_000);
      await new Promise((r) => setImmediate(r));
    }
    await closing;
  });
  return { host, clock, generation: await loadBystander(host), gate };
}

/** Lets every settled promise run its reactions, and the sandbox replies already sent arrive. */
const turns = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const starts = [
  {
    label: 'init never settles',
    source: (g: Gate) =>
      faultyPlugin('bad', {
        prelude: signalSource,
        init: `signal(${JSON.stringify(g.name)}); await new Promise(() => {});`,
      }),
  },
  {
    label: 'init blocks its event loop',
    source: (g: Gate) =>
      faultyPlugin('bad', {
        prelude: signalSource,
        init: `signal(${JSON.stringify(g.name)}); for (;;) {}`,
      }),
  },
  {
    label: 'the entry never finishes evaluating',
    source: (g: Gate) =>
      `${signalSource}signal(${JSON.stringify(g.name)});\nawait new Promise(() => {});\n${faultyPlugin('bad')}`,
  },
];

for (const fault of starts) {
  for (const kind of ['load', 'reload'] as const) {
    test(
      `${kind}: ${fault.label} → INIT_TIMEOUT at initTimeoutMs, old version and bystander serve`,
      LIMIT,
      async (t) => {
        const { host, clock, generation, gate } = await setup(t);
        if (kind === 'reload') {
          await host.load(await writeArtifact({ name: NAME, source: faultyPlugin('v1') }));
        }
        const dir = await writeArtifact({
          name: NAME,
          version: '1.0.1',
          source: fault.source(gate),
          manifest: { limits: { initTimeoutMs: 300 } },
        });
        let settled = false;
        const attempt = (kind === 'load' ? host.load(dir) : host.reload(NAME, dir)).finally(() => {
          settled = true;
        });
        await gate.entered();
        // The plugin is provably stuck, and no time has passed: nothing has given up yet.
        await assertBystanderServes(host, generation);
        clock.advance(299);
        await turns();
        assert.equal(settled, false, 'nothing gives up before initTimeoutMs');
        clock.advance(1);
        await assert.rejects(attempt, withCode('INIT_TIMEOUT'));
        if (kind === 'reload') assert.equal(await host.call(NAME, 'version', {}), 'v1');
        else assert.equal(host.plugin(NAME), undefined);
        await assertBystanderServes(host, generation);
      },
    );
  }
}

test(
  'an infinite loop in a handler: CALL_TIMEOUT at callTimeoutMs, ended once a ping goes unanswered, restarted after the backoff',
  LIMIT,
  async (t) => {
    const { host, clock, generation, gate } = await setup(t, {
      unresponsiveMs: 200,
      restartBackoff: { initialMs: 10 },
    });
    const spin = `spin: { handler: () => { signal(${JSON.stringify(gate.name)}); for (;;) {} } },`;
    await host.load(
      await writeArtifact({
        name: NAME,
        source: faultyPlugin('v1', { prelude: signalSource, tools: spin }),
        manifest: { limits: { callTimeoutMs: 300 } },
      }),
    );
    const before = host.plugin(NAME)?.generation;
    const crashed = nextEvent(host, 'plugin.crashed', (e) => e.name === NAME);
    const recovered = nextEvent(host, 'plugin.recovered', (e) => e.name === NAME);
    const call = host.call(NAME, 'spin', {});
    await gate.entered();
    clock.advance(300);
    await assert.rejects(call, withCode('CALL_TIMEOUT', /300 ms/));
    // The ping after the timeout: a blocked event loop cannot answer it.
    await clock.fire(200);
    const crash = await crashed;
    assert.match(crash.error.message, /blocked/);
    await assertBystanderServes(host, generation);
    assert.equal(host.plugin(NAME)?.state, 'recovering');
    await clock.fire(10);
    const recovery = await recovered;
    assert.notEqual(recovery.to.generation, before);
    assert.equal(await host.call(NAME, 'version', {}), 'v1');
  },
);

test('restarts after crashes back off: 10, 20, 40 ms, each on the clock', LIMIT, async (t) => {
  const { host, clock } = await setup(t, { restartBackoff: { initialMs: 10, maxMs: 30 } });
  await host.load(
    await writeArtifact({
      name: NAME,
      source: faultyPlugin('v1', { tools: 'exit: { handler: () => { process.exit(1); } },' }),
    }),
  );
  for (const delay of [10, 20, 30, 30]) {
    const recovered = nextEvent(host, 'plugin.recovered', (e) => e.name === NAME);
    await assert.rejects(host.call(NAME, 'exit', {}), withCode('PLUGIN_CRASHED'));
    await clock.whenArmed(delay);
    clock.advance(delay - 1);
    await turns();
    assert.equal(host.plugin(NAME)?.state, 'recovering', `not restarted before ${delay} ms`);
    clock.advance(1);
    await recovered;
    assert.equal(await host.call(NAME, 'version', {}), 'v1');
  }
});

test(
  'a call queued while the plugin recovers times out at its own callTimeoutMs',
  LIMIT,
  async (t) => {
    const { host, clock } = await setup(t, { restartBackoff: { initialMs: 60_000 } });
    await host.load(
      await writeArtifact({
        name: NAME,
        source: faultyPlugin('v1', { tools: 'exit: { handler: () => { process.exit(1); } },' }),
        manifest: { limits: { callTimeoutMs: 200 } },
      }),
    );
    const crashed = nextEvent(host, 'plugin.crashed', (e) => e.name === NAME);
    await assert.rejects(host.call(NAME, 'exit', {}), withCode('PLUGIN_CRASHED'));
    await crashed;
    assert.equal(host.plugin(NAME)?.state, 'recovering');
    const queued = host.call(NAME, 'version', {});
    await clock.fire(200);
    await assert.rejects(queued, withCode('CALL_TIMEOUT', /waited 200 ms/));
  },
);

test(
  'a call that outlives the drain timeout fails with DRAIN_TIMEOUT and the old sandbox is forced down',
  LIMIT,
  async (t) => {
    const { host, clock, gate } = await setup(t, { probationMs: 0, drainTimeoutMs: 100 });
    const stuck = `stuck: { handler: async () => { await gate(${JSON.stringify(gate.name)}); return 'late'; } },`;
    await host.load(
      await writeArtifact({
        name: NAME,
        source: faultyPlugin('v1', { prelude: gateSource, tools: stuck }),
      }),
    );
    const retired = nextEvent(host, 'generation.retired', (e) => e.name === NAME);
    const held = host.call(NAME, 'stuck', {});
    await gate.entered();
    await host.reload(
      NAME,
      await writeArtifact({ name: NAME, version: '2.0.0', source: faultyPlugin('v2') }),
    );
    assert.equal(await host.call(NAME, 'version', {}), 'v2');
    await clock.fire(100);
    await assert.rejects(held, withCode('DRAIN_TIMEOUT'));
    const e = await retired;
    assert.equal(e.forced, true);
    assert.equal(e.from.version, '1.0.0');
  },
);

/** A counter whose `late` tool increments only once the gate opens, ignoring its signal. */
function lateCounter(gate: Gate, tag: string, extra = ''): string {
  return `${gateSource}
let count = 0;
export default {
  tools: {
    late: { handler: async () => { await gate(${JSON.stringify(gate.name)}); return ++count; } },
    get: { handler: () => count },
    tag: { handler: () => ${JSON.stringify(tag)} },
    ${extra}
  },
  snapshot: () => count,
  restore: (n) => { count = n; },
};`;
}

for (const how of ['cancelled', 'timed out'] as const) {
  test(
    `a ${how} call stays in flight until its handler returns: the handover waits, and nothing it writes is lost`,
    LIMIT,
    async (t) => {
      const { host, clock, gate } = await setup(t, { probationMs: 0 });
      await host.load(
        await writeArtifact({
          name: 'c',
          source: lateCounter(gate, 'v1'),
          manifest: { limits: { callTimeoutMs: 100 } },
        }),
      );
      const ac = new AbortController();
      const call = host.call('c', 'late', {}, { signal: ac.signal });
      await gate.entered();
      if (how === 'cancelled') {
        ac.abort();
        await assert.rejects(call, withCode('CANCELLED'));
      } else {
        clock.advance(100);
        await assert.rejects(call, withCode('CALL_TIMEOUT'));
      }
      assert.equal(host.plugin('c')?.inFlight, 1, 'the handler still runs');
      let reloaded = false;
      const held = nextEvent(host, 'slot.state', (e) => e.name === 'c' && e.to === 'held');
      const reload = host
        .reload(
          'c',
          await writeArtifact({ name: 'c', version: '2.0.0', source: lateCounter(gate, 'v2') }),
        )
        .finally(() => {
          reloaded = true;
        });
      await held;
      await turns();
      assert.equal(reloaded, false, 'the handover waits for the handler');
      gate.open();
      await reload;
      assert.equal(await host.call('c', 'tag', {}), 'v2');
      assert.equal(
        await host.call('c', 'get', {}),
        1,
        "the abandoned handler's write was handed over",
      );
    },
  );
}

test(
  'a call that waited in a hold queue has one deadline, from when the host accepted it',
  LIMIT,
  async (t) => {
    const { host, clock } = await setup(t, { probationMs: 0 });
    const first = createGate('hold');
    const second = createGate('slow');
    t.after(() => {
      first.close();
      second.close();
    });
    const limits = { manifest: { limits: { callTimeoutMs: 100 } } };
    const hold = `hold: { handler: async () => { await gate(${JSON.stringify(first.name)}); return 'held'; } },`;
    // It stops when told to (its signal), so nothing runs on once the test is over.
    const slow = `slow: { handler: async (_args, ctx) => {
    await Promise.race([gate(${JSON.stringify(second.name)}), new Promise((r) => ctx.signal.addEventListener('abort', r))]);
    return 'slow';
  } },`;
    await host.load(
      await writeArtifact({ name: 'c', source: lateCounter(first, 'v1', hold), ...limits }),
    );
    const v2 = await writeArtifact({
      name: 'c',
      version: '2.0.0',
      source: lateCounter(second, 'v2', slow),
      ...limits,
    });
    const holding = host.call('c', 'hold', {});
    await first.entered();
    const held = nextEvent(host, 'slot.state', (e) => e.name === 'c' && e.to === 'held');
    const reload = host.reload('c', v2);
    await held;
    // Accepted at t=0 while the slot is held: its deadline is t=100, whatever happens next.
    let settled = false;
    const queued = host.call('c', 'slow', {}).finally(() => {
      settled = true;
    });
    clock.advance(60);
    first.open();
    assert.equal(await holding, 'held');
    await reload;
    await second.entered();
    clock.advance(39);
    await turns();
    assert.equal(settled, false, 'still within its one deadline at t=99');
    clock.advance(1);
    await assert.rejects(queued, (err: MoltError) => withCode('CALL_TIMEOUT')(err));
    second.open();
  },
);

test(
  'a stateful handover whose drain times out fails the reload; the old generation serves on',
  LIMIT,
  async (t) => {
    const { host, clock, gate } = await setup(t, { probationMs: 0, drainTimeoutMs: 50 });
    await host.load(await writeArtifact({ name: 'c', source: lateCounter(gate, 'v1') }));
    const late = host.call('c', 'late', {});
    await gate.entered();
    const held = nextEvent(host, 'slot.state', (e) => e.name === 'c' && e.to === 'held');
    const reload = host.reload(
      'c',
      await writeArtifact({ name: 'c', version: '2.0.0', source: lateCounter(gate, 'v2') }),
    );
    await held;
    await clock.fire(50);
    await assert.rejects(reload, withCode('DRAIN_TIMEOUT'));
    assert.equal(await host.call('c', 'tag', {}), 'v1');
    gate.open();
    assert.equal(await late, 1);
    assert.equal(await host.call('c', 'get', {}), 1);
  },
);

test(
  'probation ends on the clock: the warm version retires and the new one becomes known-good',
  LIMIT,
  async (t) => {
    const { host, clock } = await setup(t, { probationMs: 1_000 });
    await host.load(await writeArtifact({ name: NAME, source: faultyPlugin('v1') }));
    await host.reload(
      NAME,
      await writeArtifact({ name: NAME, version: '2.0.0', source: faultyPlugin('v2') }),
    );
    assert.equal(host.plugin(NAME)?.state, 'probation');
    assert.equal(host.plugin(NAME)?.knownGood?.version, '1.0.0');
    const retired = nextEvent(host, 'generation.retired', (e) => e.name === NAME);
    const changed = nextEvent(host, 'slot.changed', (e) => e.name === NAME);
    clock.advance(999);
    await turns();
    assert.equal(host.plugin(NAME)?.state, 'probation');
    clock.advance(1);
    assert.equal(host.plugin(NAME)?.state, 'active');
    assert.equal((await changed).knownGood?.version, '2.0.0');
    assert.equal((await retired).from.version, '1.0.0');
  },
);
