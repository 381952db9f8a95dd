/**
 * Shadow reloads (issue 11, item 3): a candidate gets mirrored copies of safe-to-repeat calls
 * before its swap, and only the current version ever answers a caller. The host runs on a
 * ManualClock (timeouts, progress and latency move only when told) and plugin code waits on
 * gates: no sleeps.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  createHost,
  type Host,
  type HostEvents,
  type HostOptions,
  isMoltError,
} from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { ManualClock } from '../helpers/clock.js';
import { nextEvent } from '../helpers/faults-plugins.js';
import { createGate, type Gate, gateSource } from '../helpers/gate.js';

after(cleanArtifacts);

/** A hang fails its own test with its name instead of holding the whole run. */
const LIMIT = { timeout: 60_000 };

const gates: Gate[] = [];
after(() => {
  for (const g of gates) g.close();
});

function gate(label: string): Gate {
  const g = createGate(label);
  gates.push(g);
  return g;
}

const READ_ONLY = 'annotations: { readOnlyHint: true }';

/**
 * Version `tag` of stateless plugin `p`: `version` (read-only) answers the tag, `bump` (no
 * hints: not safe to repeat) counts its calls, `bumps` (read-only) answers that count, `slow`
 * (idempotent) answers 'slow', after waiting on `slow` when given.
 */
function stateless(tag: string, opts: { slow?: Gate; crash?: boolean } = {}): Promise<string> {
  const wait = opts.slow === undefined ? '' : `await gate(${JSON.stringify(opts.slow.name)});`;
  const crash = opts.crash === true ? 'process.exit(1);' : '';
  return writeArtifact({
    name: 'p',
    version: tag === 'v1' ? '1.0.0' : '2.0.0',
    source: `${gateSource}
let bumps = 0;
export default { tools: {
  version: { ${READ_ONLY}, handler: (args) => { ${crash} return ${JSON.stringify(tag)}; } },
  bump: { handler: () => ++bumps },
  bumps: { ${READ_ONLY}, handler: () => bumps },
  slow: { annotations: { idempotentHint: true }, handler: async () => { ${wait} return 'slow'; } },
} };`,
  });
}

/**
 * Version `tag` of stateful plugin `p`: `add` (no hints) adds one, `count` (read-only) answers
 * the count, `slow` (read-only) answers 'slow' after waiting on `slow` when given.
 */
function stateful(tag: string, opts: { slow?: Gate } = {}): Promise<string> {
  const wait = opts.slow === undefined ? '' : `await gate(${JSON.stringify(opts.slow.name)});`;
  return writeArtifact({
    name: 'p',
    version: tag === 'v1' ? '1.0.0' : '2.0.0',
    source: `${gateSource}
let n = 0;
export default {
  tools: {
    add: { handler: () => ++n },
    count: { ${READ_ONLY}, handler: () => n },
    version: { ${READ_ONLY}, handler: () => ${JSON.stringify(tag)} },
    slow: { ${READ_ONLY}, handler: async () => { ${wait} return 'slow'; } },
  },
  snapshot: () => ({ n }),
  restore: (s) => { n = s.n; },
};`,
  });
}

async function start(clock: ManualClock, options: HostOptions = {}): Promise<Host> {
  return createHost({ probationMs: 60_000, clock, ...options });
}

/** A host on a ManualClock for `run`, closed after it however it ends. */
async function withHost(
  run: (host: Host, clock: ManualClock) => Promise<void>,
  options: HostOptions = {},
): Promise<void> {
  const clock = new ManualClock();
  const host = await start(clock, options);
  try {
    await run(host, clock);
  } finally {
    await host.close();
  }
}

/** `host.reload` with a shadow, resolved once the shadow runs (or the reload failed). */
async function shadowReload(
  host: Host,
  dir: string,
  shadow: NonNullable<Parameters<Host['reload']>[2]>['shadow'],
): Promise<{ done: Promise<unknown> }> {
  const started = nextEvent(host, 'promotion.started', (e) => e.mode === 'shadow');
  const done = host.reload('p', dir, { shadow });
  // The caller awaits `done` later; a rejection before then is not unhandled.
  done.catch(() => {});
  await Promise.race([started, done]);
  return { done };
}

test(
  'callers get only the current version’s answers; a candidate whose outcomes match is promoted, then serves',
  LIMIT,
  async () => {
    await withHost(async (host) => {
      await host.load(await stateless('v1'));
      const before = host.plugin('p')!.generation;
      const promoted = nextEvent(host, 'promotion.promoted', (e) => e.mode === 'shadow');
      const { done } = await shadowReload(host, await stateless('v2'), {
        sample: 1,
        calls: 20,
        // Every copy mirrored however far the candidate's thread lags on a loaded machine: with
        // the default 16 a lagging candidate skips one, and the shadow waits for a 21st call.
        maxInFlight: 20,
      });
      assert.equal(host.plugin('p')?.shadow?.mode, 'shadow');
      assert.equal(host.plugin('p')?.shadow?.version, '2.0.0');
      // v2 answers 'v2' to every mirrored call: outcomes (ok) match, results are not compared.
      const answers: unknown[] = [];
      for (let i = 0; i < 20; i++) answers.push(await host.call('p', 'version', { i }));
      assert.deepEqual(new Set(answers), new Set(['v1']));
      assert.equal(host.plugin('p')?.generation, before, 'the current one served every call');
      await done;
      const e = await promoted;
      assert.equal(e.early, false);
      assert.equal(e.decision, 'healthy');
      assert.deepEqual(e.shadow, {
        calls: 20,
        compare: 'outcome',
        mirrored: 20,
        matched: 20,
        differing: 0,
        skipped: 0,
      });
      assert.equal(e.trial.calls, 20);
      assert.equal(e.baseline.calls, 20);
      assert.equal(await host.call('p', 'version', {}), 'v2');
      assert.equal(host.plugin('p')?.shadow, undefined);
    });
  },
);

test(
  'a candidate whose results differ is refused with SHADOW_MISMATCH naming the first difference; the current one serves on',
  LIMIT,
  async () => {
    await withHost(async (host) => {
      await host.load(await stateless('v1'));
      const before = host.plugin('p')!.generation;
      const aborted = nextEvent(host, 'promotion.aborted', (e) => e.mode === 'shadow');
      const { done } = await shadowReload(host, await stateless('v2'), {
        sample: 1,
        calls: 50,
        compare: 'result',
      });
      const answers: unknown[] = [];
      for (let i = 0; i < 5; i++) answers.push(await host.call('p', 'version', { i }));
      assert.deepEqual(answers, ['v1', 'v1', 'v1', 'v1', 'v1']);
      // Five differences decide it: the rest of the 50 calls need not come.
      await assert.rejects(done, (err) => {
        assert.ok(isMoltError(err, 'SHADOW_MISMATCH'), String(err));
        assert.match(
          err.message,
          /tool "version" \{"i":0\}: current "v1", candidate "v2" \(5 of 5 compared calls differed on result\)/,
        );
        const differences = err.details?.differences as unknown[];
        assert.equal(differences.length, 5);
        return true;
      });
      const e = await aborted;
      assert.equal(e.reason, 'mismatch');
      assert.equal(e.decision, 'regression');
      assert.deepEqual(e.differences?.[1], {
        tool: 'version',
        args: '{"i":1}',
        kind: 'result',
        current: '"v1"',
        candidate: '"v2"',
      });
      const info = host.plugin('p');
      assert.equal(info?.generation, before);
      assert.equal(info?.version, '1.0.0');
      assert.equal(info?.shadow, undefined);
      assert.equal(await host.call('p', 'version', {}), 'v1');
    });
  },
);

test(
  'a tool without readOnly/idempotent hints is never mirrored, and mirrored calls count nowhere in the current version’s figures',
  LIMIT,
  async () => {
    await withHost(async (host) => {
      await host.load(await stateless('v1'));
      const { done } = await shadowReload(host, await stateless('v2'), { sample: 1, calls: 3 });
      for (let i = 0; i < 10; i++) assert.equal(await host.call('p', 'bump', {}), i + 1);
      for (let i = 0; i < 3; i++) assert.equal(await host.call('p', 'bumps', {}), 10);
      await done;
      // The caller's calls, each once: 13 calls, none of the 3 mirrored copies.
      const stats = host.callStats('p')!;
      const ok = (tool: string) => stats.tools.find((t) => t.tool === tool)?.outcomes.ok;
      assert.equal(ok('bump'), 10);
      assert.equal(ok('bumps'), 3);
      assert.equal(host.plugin('p')?.stats.calls, 13);
      // v2 serves now, on trial: the mirrored calls are not its trial's calls either.
      assert.equal(host.plugin('p')?.trial?.trial.calls, 0);
      const own = stats.active!.tools.reduce((n, t) => n + t.latency.count, 0);
      assert.equal(own, 0);
      // v2 never got a bump: `bump` was never mirrored.
      assert.equal(await host.call('p', 'bumps', {}), 0);
    });
  },
);

test(
  'a stateful candidate starts from a copy of the state, and is promoted with the state handed over as usual',
  LIMIT,
  async () => {
    await withHost(async (host) => {
      const slow = gate('state-slow');
      await host.load(await stateful('v1'));
      for (let i = 0; i < 3; i++) await host.call('p', 'add', {});
      const succeeded = nextEvent(host, 'reload.succeeded');
      const promoted = nextEvent(host, 'promotion.promoted', (e) => e.mode === 'shadow');
      const { done } = await shadowReload(host, await stateful('v2', { slow }), {
        sample: 1,
        calls: 3,
        compare: 'result',
      });
      // The candidate answers 3 from its copy: a candidate started empty would answer 0.
      assert.equal(await host.call('p', 'count', {}), 3);
      assert.equal(await host.call('p', 'count', {}), 3);
      // The third mirrored call holds the candidate (and so the decision) until the gate opens.
      assert.equal(await host.call('p', 'slow', {}), 'slow');
      await slow.entered(1);
      // A change between the copy and the swap: never mirrored (`add` has no hint).
      assert.equal(await host.call('p', 'add', {}), 4);
      slow.open();
      await done;
      const e = await promoted;
      assert.equal(e.shadow?.matched, 3);
      assert.equal(e.shadow?.differing, 0);
      assert.equal((await succeeded).state, 'handedOver');
      assert.equal(await host.call('p', 'version', {}), 'v2');
      assert.equal(await host.call('p', 'count', {}), 4, 'the state at the swap, not the copy');
    });
  },
);

test(
  'bounded in flight: a sampled call past maxInFlight is skipped and counted',
  LIMIT,
  async () => {
    await withHost(async (host) => {
      const slow = gate('bounded');
      await host.load(await stateless('v1'));
      const promoted = nextEvent(host, 'promotion.promoted', (e) => e.mode === 'shadow');
      const { done } = await shadowReload(host, await stateless('v2', { slow }), {
        sample: 1,
        calls: 3,
        maxInFlight: 2,
      });
      // The current version answers at once; the candidate holds the first two copies.
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => host.call('p', 'slow', {})),
      );
      assert.deepEqual(answers, ['slow', 'slow', 'slow', 'slow', 'slow']);
      await slow.entered(2);
      const figures = host.plugin('p')?.shadow?.shadow;
      assert.equal(figures?.mirrored, 2);
      assert.equal(figures?.skipped, 3);
      // The two copies in flight are answered before the swap goes on.
      slow.open();
      await host.promote('p');
      await done;
      const e = await promoted;
      assert.equal(e.early, true);
      assert.equal(e.shadow?.mirrored, 2);
      assert.equal(e.shadow?.skipped, 3);
    });
  },
);

test(
  'sampling is deterministic and per tool: each tool gets its share, whatever the order of calls',
  LIMIT,
  async () => {
    await withHost(async (host) => {
      await host.load(await stateless('v1'));
      const { done } = await shadowReload(host, await stateless('v2'), {
        sample: 0.25,
        calls: 1_000,
        maxInFlight: 1_000,
      });
      // One `version` then three `slow`, ten times: every 4th call overall would always be a
      // `slow`; per tool, `version` gets 2 of its 10 (2.5 owed) and `slow` 7 of its 30 (7.5).
      for (let i = 0; i < 10; i++) {
        await host.call('p', 'version', {});
        for (let j = 0; j < 3; j++) await host.call('p', 'slow', {});
      }
      assert.equal(host.plugin('p')?.shadow?.shadow.mirrored, 9);
      await host.abort('p');
      await assert.rejects(done, (err) => isMoltError(err, 'SHADOW_INCOMPLETE'));
    });
  },
);

test('a slower candidate is refused on its p99 (latency on the host clock)', LIMIT, async () => {
  await withHost(async (host, clock) => {
    const slow = gate('latency');
    await host.load(await stateless('v1'));
    const { done } = await shadowReload(host, await stateless('v2', { slow }), {
      sample: 1,
      calls: 2,
    });
    await host.call('p', 'slow', {});
    await host.call('p', 'slow', {});
    await slow.entered(2);
    clock.advance(50);
    slow.open();
    await assert.rejects(done, (err) => {
      assert.ok(isMoltError(err, 'SHADOW_MISMATCH'), String(err));
      // From the histogram, as a trial's: 0 ms reads 0.02 (first bucket), 50 ms 49.75.
      assert.match(
        err.message,
        /latency: current p99 0\.02 ms, candidate p99 49\.75 ms \(at most 3×\)/,
      );
      return true;
    });
    assert.equal(host.plugin('p')?.version, '1.0.0');
  });
});

test(
  'too few mirrored calls within timeoutMs: SHADOW_INCOMPLETE, nothing swapped',
  LIMIT,
  async () => {
    await withHost(async (host, clock) => {
      await host.load(await stateless('v1'));
      const progress: HostEvents['promotion.progress'][] = [];
      host.on('promotion.progress', (e) => progress.push(e));
      const aborted = nextEvent(host, 'promotion.aborted');
      const { done } = await shadowReload(host, await stateless('v2'), {
        sample: 1,
        calls: 5,
        timeoutMs: 10_000,
      });
      await host.call('p', 'version', {});
      clock.advance(10_000);
      await assert.rejects(done, (err) => {
        assert.ok(isMoltError(err, 'SHADOW_INCOMPLETE'), String(err));
        assert.match(err.message, /of 5 mirrored calls compared within 10000 ms; nothing swapped/);
        assert.equal(err.details?.reason, 'timeout');
        return true;
      });
      assert.equal((await aborted).reason, 'timeout');
      // Once a second, never more: 9 ticks before the timeout.
      assert.equal(progress.length, 9);
      assert.equal(progress[0]?.mode, 'shadow');
      assert.equal(await host.call('p', 'version', {}), 'v1');
    });
  },
);

test(
  'molt abort during a shadow refuses the reload; molt promote lets it go on now',
  LIMIT,
  async () => {
    await withHost(async (host) => {
      await host.load(await stateless('v1'));
      const first = await shadowReload(host, await stateless('v2'), { sample: 1, calls: 100 });
      const aborted = nextEvent(host, 'promotion.aborted');
      const r = await host.abort('p');
      assert.equal(r.version, '1.0.0');
      await assert.rejects(first.done, (err) => {
        assert.ok(isMoltError(err, 'SHADOW_INCOMPLETE'));
        assert.equal(err.details?.reason, 'abort');
        return true;
      });
      assert.equal((await aborted).reason, 'abort');
      assert.equal(await host.call('p', 'version', {}), 'v1');

      const second = await shadowReload(host, await stateless('v2'), { sample: 1, calls: 100 });
      await host.call('p', 'version', {});
      const promoted = nextEvent(host, 'promotion.promoted', (e) => e.mode === 'shadow');
      const status = await host.promote('p');
      assert.equal(status.version, '2.0.0');
      await second.done;
      assert.equal((await promoted).early, true);
      assert.equal(await host.call('p', 'version', {}), 'v2');
    });
  },
);

test(
  'a candidate that crashes during its shadow is refused; the current one serves on',
  LIMIT,
  async () => {
    await withHost(async (host) => {
      await host.load(await stateless('v1'));
      const before = host.plugin('p')!.generation;
      const aborted = nextEvent(host, 'promotion.aborted');
      const { done } = await shadowReload(host, await stateless('v2', { crash: true }), {
        sample: 1,
        calls: 10,
      });
      assert.equal(await host.call('p', 'version', {}), 'v1');
      await assert.rejects(done, (err) => {
        assert.ok(isMoltError(err, 'PLUGIN_CRASHED'), String(err));
        assert.match(err.message, /the candidate 2\.0\.0 \(generation \d+\) crashed/);
        return true;
      });
      assert.equal((await aborted).reason, 'crash');
      assert.equal(host.plugin('p')?.generation, before);
      assert.equal(await host.call('p', 'version', {}), 'v1');
    });
  },
);

test(
  'the current generation crashing during a shadow refuses the reload (SHADOW_INCOMPLETE); the slot recovers as usual',
  LIMIT,
  async () => {
    await withHost(
      async (host, clock) => {
        await host.load(
          await writeArtifact({
            name: 'p',
            source: `export default { tools: {
          version: { ${READ_ONLY}, handler: () => 'v1' },
          die: { handler: () => { process.exit(1); } },
        } };`,
          }),
        );
        const { done } = await shadowReload(host, await stateless('v2'), { sample: 1, calls: 10 });
        await assert.rejects(host.call('p', 'die', {}), (err) =>
          isMoltError(err, 'PLUGIN_CRASHED'),
        );
        await assert.rejects(done, (err) => {
          assert.ok(isMoltError(err, 'SHADOW_INCOMPLETE'), String(err));
          assert.equal(err.details?.reason, 'crash');
          return true;
        });
        const recovered = nextEvent(host, 'plugin.recovered');
        await clock.fire(100);
        assert.equal((await recovered).to.version, '1.0.0');
        assert.equal(await host.call('p', 'version', {}), 'v1');
      },
      { restartBackoff: { initialMs: 100, maxMs: 100 } },
    );
  },
);

test(
  'closing the host during a shadow ends it at once: the reload rejects with HOST_CLOSED',
  LIMIT,
  async () => {
    const clock = new ManualClock();
    const host = await start(clock);
    await host.load(await stateless('v1'));
    const aborted = nextEvent(host, 'promotion.aborted');
    const { done } = await shadowReload(host, await stateless('v2'), { sample: 1, calls: 100 });
    // The shadow's timeout (5 min on a clock that never moves) would hold the close otherwise.
    await host.close();
    await assert.rejects(done, (err) => isMoltError(err, 'HOST_CLOSED'));
    assert.equal((await aborted).reason, 'abort');
  },
);

test(
  'shadow options are checked before anything starts; a plugin with nothing safe to mirror is refused',
  LIMIT,
  async () => {
    await withHost(async (host) => {
      await host.load(await stateless('v1'));
      const v2 = await stateless('v2');
      let started = 0;
      host.on('reload.started', () => started++);
      for (const bad of [
        { sample: 0, calls: 10 },
        { sample: 1.5, calls: 10 },
        { sample: 0.5, calls: 0 },
        { sample: 0.5, calls: 10, compare: 'bytes' },
        { sample: 0.5, calls: 10, maxInFlight: 0 },
        { sample: 0.5, calls: 10, timeoutMs: -1 },
        { sample: 0.5, calls: 10, maxP99Ratio: 0.5 },
        { sample: 0.5, calls: 10, extra: true },
      ]) {
        await assert.rejects(
          host.reload('p', v2, { shadow: bad as never }),
          (err) => isMoltError(err, 'OPTIONS_INVALID'),
          JSON.stringify(bad),
        );
      }
      assert.equal(started, 0);
      const bare = await writeArtifact({
        name: 'p',
        version: '2.0.0',
        source: 'export default { tools: { version: { handler: () => "v2" } } };',
      });
      await assert.rejects(host.reload('p', bare, { shadow: { sample: 1, calls: 1 } }), (err) => {
        assert.ok(isMoltError(err, 'SHADOW_INCOMPLETE'));
        assert.equal(err.details?.reason, 'nothing');
        return true;
      });
      assert.equal(await host.call('p', 'version', {}), 'v1');
    });
  },
);
