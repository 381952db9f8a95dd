/**
 * Canary reloads (issue 11, item 2): the candidate serves its share of new calls beside the
 * current version until its gate decides. The host runs on a ManualClock (the timeout and the
 * progress ticks move only when told) and held calls wait on gates, never on sleeps.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  createHost,
  type Host,
  type HostEvents,
  isMoltError,
  type ReloadResult,
} from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { ManualClock } from '../helpers/clock.js';
import { nextEvent } from '../helpers/faults-plugins.js';
import { createGate, type Gate, gateSource } from '../helpers/gate.js';

after(cleanArtifacts);
const gates: Gate[] = [];
after(() => {
  for (const g of gates) g.close();
});

function gate(label: string): Gate {
  const g = createGate(label);
  gates.push(g);
  return g;
}

/**
 * Version `tag` of plugin `p`. `version` (read-only) and `work` (idempotent) are safe to
 * repeat; `write` is not. `work` fails every `failEvery`-th call, `write` always with
 * `failWrites`; `exit` (idempotent) ends the sandbox with `crash`; `hold` waits on `hold`.
 */
async function version(
  tag: string,
  opts: {
    failEvery?: number;
    failWrites?: boolean;
    crash?: boolean;
    hold?: Gate;
    stateful?: boolean;
  } = {},
): Promise<string> {
  const hold =
    opts.hold === undefined
      ? ''
      : `hold: { handler: async () => { await gate(${JSON.stringify(opts.hold.name)}); return '${tag}'; } },`;
  const state =
    opts.stateful === true ? 'snapshot: () => ({ n }), restore: (s) => { n = s.n; },' : '';
  const major = tag.replace(/^v/, '');
  return writeArtifact({
    name: 'p',
    version: `${major}.0.0`,
    source: `${gateSource}
let n = 0;
const fail = ${opts.failEvery ?? 0};
export default {
  tools: {
    version: { annotations: { readOnlyHint: true }, handler: () => '${tag}' },
    work: {
      annotations: { idempotentHint: true },
      handler: () => { n++; if (fail > 0 && n % fail === 0) throw new Error('boom ' + n); return '${tag}'; },
    },
    write: { handler: () => { if (${opts.failWrites === true}) throw new Error('no write'); return '${tag}'; } },
    exit: { annotations: { idempotentHint: true }, handler: () => { if (${opts.crash === true}) process.exit(1); return '${tag}'; } },
    ${hold}
  },
  ${state}
};
`,
  });
}

async function start(clock: ManualClock, probationMs = 60_000): Promise<Host> {
  return createHost({ probationMs, clock });
}

/** A host on a ManualClock for `run`, closed after it however it ends. */
async function withHost(
  run: (host: Host, clock: ManualClock) => Promise<void>,
  probationMs?: number,
): Promise<void> {
  const clock = new ManualClock();
  const host = await start(clock, probationMs);
  try {
    await run(host, clock);
  } finally {
    await host.close();
  }
}

/** `n` calls of `tool`, made in this order (the pick is made as each call is made). */
function calls(host: Host, n: number, tool = 'version'): Promise<PromiseSettledResult<unknown>[]> {
  return Promise.allSettled(Array.from({ length: n }, () => host.call('p', tool, {})));
}

/** A reload whose outcome is read later; the rejection is kept, never unhandled. */
function pending(p: Promise<ReloadResult>): {
  settled: () => boolean;
  result: Promise<ReloadResult | Error>;
} {
  let done = false;
  const result = p.then(
    (r) => {
      done = true;
      return r;
    },
    (e: Error) => {
      done = true;
      return e;
    },
  );
  return { settled: () => done, result };
}

/** Waits until the canary serves (its gate installed the split). */
async function canaryStarted(host: Host): Promise<HostEvents['promotion.started']> {
  return nextEvent(host, 'promotion.started', (e) => e.mode === 'canary');
}

test('10% canary: over 5,000 calls exactly one call in ten reaches the candidate (±1)', async () => {
  await withHost(async (host) => {
    await host.load(await version('v1'));
    const began = canaryStarted(host);
    const reload = pending(
      host.reload('p', await version('v2'), {
        canary: { weight: 0.1, minCalls: 1_000_000, timeoutMs: 3_600_000 },
      }),
    );
    const started = await began;
    assert.equal(started.weight, 0.1);
    assert.equal(started.from?.version, '1.0.0');
    assert.equal(started.to.version, '2.0.0');
    const answers: unknown[] = [];
    // In batches, each call made in order: the pick is per call, at the moment it is made.
    for (let i = 0; i < 50; i++) {
      for (const r of await calls(host, 100)) {
        assert.equal(r.status, 'fulfilled');
        answers.push((r as PromiseFulfilledResult<unknown>).value);
      }
    }
    const toCandidate = answers.filter((a) => a === 'v2').length;
    // The stated tolerance: the exact share ±1 call, whatever the count.
    assert.ok(Math.abs(toCandidate - 500) <= 1, `${toCandidate} of 5000`);
    // Smooth, not bursty: every run of ten consecutive calls has exactly one.
    for (let i = 0; i < 5000; i += 10) {
      assert.equal(answers.slice(i, i + 10).filter((a) => a === 'v2').length, 1, `calls ${i}…`);
    }
    const status = host.plugins()[0]?.canary;
    assert.equal(status?.weight, 0.1);
    assert.equal(status?.trial.calls, toCandidate);
    assert.equal(status?.baseline.calls, 5000 - toCandidate);
    assert.equal(status?.decision, 'undecided');
    assert.equal(host.plugins()[0]?.state, 'reloading');
    const abort = await host.abort('p');
    assert.equal(abort.version, '1.0.0');
    const err = await reload.result;
    assert.ok(isMoltError(err, 'CANARY_ABORTED'), String(err));
    assert.equal(err.details?.reason, 'abort');
    assert.equal(await host.call('p', 'version', {}), 'v1');
    assert.equal(host.plugins()[0]?.canary, undefined);
  });
});

test('a good candidate is promoted after minCalls, then serves every call and goes on probation', async () => {
  await withHost(async (host) => {
    await host.load(await version('v1'));
    const began = canaryStarted(host);
    const promoted = nextEvent(host, 'promotion.promoted', (e) => e.mode === 'canary');
    const probation = nextEvent(host, 'promotion.started', (e) => e.mode === 'probation');
    const reload = pending(
      host.reload('p', await version('v2'), { canary: { weight: 0.1, minCalls: 20 } }),
    );
    await began;
    await calls(host, 199);
    // 19 calls on the candidate: not yet decided.
    assert.equal(host.plugins()[0]?.canary?.trial.calls, 19);
    assert.equal(host.plugins()[0]?.canary?.decision, 'undecided');
    assert.equal(reload.settled(), false);
    await calls(host, 1);
    const e = await promoted;
    assert.equal(e.decision, 'healthy');
    assert.equal(e.trial.calls, 20);
    assert.equal(e.baseline.calls, 180);
    const result = await reload.result;
    assert.ok(!(result instanceof Error), String(result));
    assert.equal(result.version, '2.0.0');
    for (const r of await calls(host, 50))
      assert.deepEqual(r, { status: 'fulfilled', value: 'v2' });
    // Permanent only once the probation after the swap ends too.
    assert.equal((await probation).to.version, '2.0.0');
    assert.equal(host.plugins()[0]?.knownGood?.version, '1.0.0');
    assert.equal(host.plugins()[0]?.trial?.version, '2.0.0');
    assert.equal(host.plugins()[0]?.canary, undefined);
  });
});

test('a candidate failing 20% is aborted for regression; callers of an idempotent tool saw no failure', async () => {
  await withHost(async (host) => {
    await host.load(await version('v1'));
    const began = canaryStarted(host);
    const aborted = nextEvent(host, 'promotion.aborted', (e) => e.mode === 'canary');
    const reload = pending(
      host.reload('p', await version('v2', { failEvery: 5 }), {
        canary: { weight: 0.1, minCalls: 50 },
      }),
    );
    await began;
    const results = await calls(host, 500, 'work');
    assert.deepEqual(
      results.filter((r) => r.status === 'rejected'),
      [],
      'every failed candidate call was answered by the current version',
    );
    // 450 answered by v1 at once, 40 by v2, and v2's 10 failures retried on v1.
    const values = results.map((r) => (r as PromiseFulfilledResult<unknown>).value);
    assert.equal(values.filter((v) => v === 'v2').length, 40);
    const e = await aborted;
    assert.equal(e.reason, 'regression');
    assert.equal(e.trial.calls, 50);
    assert.equal(e.trial.errors, 10);
    assert.match(e.why ?? '', /error rate 20%/);
    const err = await reload.result;
    assert.ok(isMoltError(err, 'CANARY_ABORTED'), String(err));
    assert.equal(err.details?.reason, 'regression');
    const figures = err.details?.figures as { trial: { errorRate: number } } | undefined;
    assert.equal(figures?.trial.errorRate, 0.2);
    assert.equal(await host.call('p', 'version', {}), 'v1');
    const info = host.plugins()[0];
    assert.equal(info?.state, 'active');
    assert.equal(info?.version, '1.0.0');
    assert.equal(info?.knownGood?.version, '1.0.0');
    assert.equal(info?.stats.reloadFailures, 1);
  });
});

test('a tool not safe to repeat: its caller gets the candidate error; the timeout aborts on the clock', async () => {
  await withHost(async (host, clock) => {
    await host.load(await version('v1'));
    const began = canaryStarted(host);
    const reload = pending(
      host.reload('p', await version('v2', { failWrites: true }), {
        canary: { weight: 0.5, minCalls: 1000, timeoutMs: 30_000 },
      }),
    );
    await began;
    const results = await calls(host, 4, 'write');
    assert.deepEqual(
      results.map((r) =>
        r.status === 'fulfilled' ? r.value : (r.reason as { code: string }).code,
      ),
      ['v1', 'PLUGIN_ERROR', 'v1', 'PLUGIN_ERROR'],
    );
    // At most one progress event a second, with the figures so far.
    const progress: HostEvents['promotion.progress'][] = [];
    host.on('promotion.progress', (e) => progress.push(e));
    clock.advance(2_500);
    assert.equal(progress.length, 2);
    assert.equal(progress[0]?.mode, 'canary');
    assert.equal(progress[0]?.trial.errors, 2);
    assert.equal(reload.settled(), false);
    const aborted = nextEvent(host, 'promotion.aborted');
    clock.advance(27_500);
    assert.equal((await aborted).reason, 'timeout');
    const err = await reload.result;
    assert.ok(isMoltError(err, 'CANARY_ABORTED'), String(err));
    assert.equal(err.details?.reason, 'timeout');
    assert.equal(await host.call('p', 'write', {}), 'v1');
  });
});

test('calls in flight on both generations complete at promotion and at abort (molt promote / molt abort)', async () => {
  await withHost(async (host) => {
    const held1 = gate('c-held1');
    const held2 = gate('c-held2');
    const held3 = gate('c-held3');
    await assert.rejects(host.promote('p'), { code: 'UNKNOWN_PLUGIN' });
    await host.load(await version('v1', { hold: held1 }));
    await assert.rejects(host.promote('p'), { code: 'NO_TRIAL' });
    let began = canaryStarted(host);
    const first = pending(
      host.reload('p', await version('v2', { hold: held2 }), {
        canary: { weight: 0.5, minCalls: 1000 },
      }),
    );
    await began;
    // Pick 1 goes to the current version, pick 2 to the candidate: one held on each.
    const inFlight = [host.call('p', 'hold', {}), host.call('p', 'hold', {})];
    await held1.entered(1);
    await held2.entered(1);
    const promoted = nextEvent(host, 'promotion.promoted', (e) => e.mode === 'canary');
    const status = await host.promote('p');
    assert.equal(status.version, '2.0.0');
    assert.equal((await promoted).early, true);
    const result = await first.result;
    assert.ok(!(result instanceof Error), String(result));
    assert.equal(result.version, '2.0.0');
    assert.equal(await host.call('p', 'version', {}), 'v2');
    held1.open();
    held2.open();
    assert.deepEqual(await Promise.all(inFlight), ['v1', 'v2'], 'both answered where they ran');

    // Now a canary of v3 beside v2, aborted while a call is held on each.
    began = canaryStarted(host);
    const second = pending(
      host.reload('p', await version('v3', { hold: held3 }), {
        canary: { weight: 0.5, minCalls: 1000 },
      }),
    );
    await began;
    const held2b = [host.call('p', 'hold', {}), host.call('p', 'hold', {})];
    await held3.entered(1);
    const aborted = nextEvent(host, 'promotion.aborted', (e) => e.mode === 'canary');
    assert.equal((await host.abort('p')).version, '2.0.0');
    assert.equal((await aborted).reason, 'abort');
    // The candidate drains before it ends: the reload waits for its held call.
    assert.equal(await host.call('p', 'version', {}), 'v2');
    assert.equal(second.settled(), false);
    held3.open();
    const err = await second.result;
    assert.ok(isMoltError(err, 'CANARY_ABORTED'), String(err));
    assert.deepEqual(await Promise.all(held2b), ['v2', 'v3'], 'the candidate answered its call');
    await assert.rejects(host.abort('p'), { code: 'NO_TRIAL' });
  }, 0);
});

test('a candidate crash aborts the canary at once; the idempotent call it took is answered by the current', async () => {
  await withHost(async (host) => {
    await host.load(await version('v1'));
    const began = canaryStarted(host);
    const reload = pending(
      host.reload('p', await version('v2', { crash: true }), {
        canary: { weight: 0.5, minCalls: 1000 },
      }),
    );
    await began;
    assert.deepEqual(await Promise.all([host.call('p', 'exit', {}), host.call('p', 'exit', {})]), [
      'v1',
      'v1',
    ]);
    const err = await reload.result;
    assert.ok(isMoltError(err, 'CANARY_ABORTED'), String(err));
    assert.equal(err.details?.reason, 'crash');
    assert.equal(await host.call('p', 'version', {}), 'v1');
    assert.equal(host.plugins()[0]?.state, 'active');
  });
});

test('a crash of the current version ends the canary too; the current version is restarted as after any crash', async () => {
  await withHost(async (host, clock) => {
    await host.load(await version('v1', { crash: true }));
    const began = canaryStarted(host);
    const reload = pending(
      host.reload('p', await version('v2'), { canary: { weight: 0.5, minCalls: 1000 } }),
    );
    await began;
    // Pick 1 is the current version's: it crashes under its caller (not retried: it was no
    // candidate's failure).
    await assert.rejects(host.call('p', 'exit', {}), { code: 'PLUGIN_CRASHED' });
    const err = await reload.result;
    assert.ok(isMoltError(err, 'CANARY_ABORTED'), String(err));
    assert.equal(err.details?.reason, 'crash');
    const recovered = nextEvent(host, 'plugin.recovered');
    const answer = host.call('p', 'version', {});
    assert.equal(host.plugins()[0]?.state, 'recovering');
    await clock.fire(100);
    assert.equal((await recovered).to.version, '1.0.0');
    assert.equal(await answer, 'v1');
  });
});

test('closing the host during a canary ends it (superseded) and the close completes', async () => {
  const clock = new ManualClock();
  const host = await start(clock);
  await host.load(await version('v1'));
  const began = canaryStarted(host);
  const reload = pending(
    host.reload('p', await version('v2'), { canary: { weight: 0.1, minCalls: 1000 } }),
  );
  await began;
  const aborted = nextEvent(host, 'promotion.aborted');
  await host.close();
  assert.equal((await aborted).reason, 'superseded');
  const err = await reload.result;
  assert.ok(isMoltError(err, 'CANARY_ABORTED'), String(err));
  assert.equal(err.details?.reason, 'superseded');
  assert.deepEqual(host.generations(), []);
});

test('a plugin with state is refused with CANARY_STATEFUL before anything starts', async () => {
  await withHost(async (host) => {
    await host.load(await version('v1', { stateful: true }));
    const seen: string[] = [];
    host.on('reload.started', () => seen.push('reload.started'));
    host.on('generation.started', () => seen.push('generation.started'));
    await assert.rejects(
      host.reload('p', await version('v2', { stateful: true }), { canary: { weight: 0.1 } }),
      (err: Error) => {
        assert.ok(isMoltError(err, 'CANARY_STATEFUL'));
        assert.match(err.message, /shadow/);
        return true;
      },
    );
    assert.deepEqual(seen, []);
    assert.equal(await host.call('p', 'version', {}), 'v1');
  });
});

test('a stateless version whose candidate has state is refused once it has loaded, before any call', async () => {
  await withHost(async (host) => {
    await host.load(await version('v1'));
    await assert.rejects(
      host.reload('p', await version('v2', { stateful: true }), { canary: { weight: 0.1 } }),
      { code: 'CANARY_STATEFUL' },
    );
    assert.deepEqual(await calls(host, 20), Array(20).fill({ status: 'fulfilled', value: 'v1' }));
  });
});

test('canary options are checked: weight over 0 and under 1, known keys, ranges', async () => {
  await withHost(async (host) => {
    await host.load(await version('v1'));
    const v2 = await version('v2');
    for (const bad of [
      {},
      { weight: 0 },
      { weight: 1 },
      { weight: 1.5 },
      { weight: '10%' },
      { weight: Number.NaN },
      { weight: 0.1, minCalls: 0 },
      { weight: 0.1, minCalls: 2.5 },
      { weight: 0.1, maxErrorRate: 2 },
      { weight: 0.1, maxP99Ratio: 0.5 },
      { weight: 0.1, maxP99Ratio: 1001 },
      { weight: 0.1, maxP99Ratio: 1001 },
      { weight: 0.1, timeoutMs: -1 },
      { weight: 0.1, nope: 1 },
      null,
      [0.1],
    ]) {
      await assert.rejects(host.reload('p', v2, { canary: bad as never }), {
        code: 'OPTIONS_INVALID',
      });
    }
    assert.equal(await host.call('p', 'version', {}), 'v1');
  });
});
