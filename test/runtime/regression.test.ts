/**
 * Rollback on regression (issue 11): a version on trial is judged against the one it replaced
 * on the host's clock (a ManualClock here: latency and the judging ticks move only when told).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost, type Host, type HostEvents, type HostOptions } from '../../src/index.js';
import { resolveOptions } from '../../src/runtime/options.js';
import { figuresOf, judge } from '../../src/runtime/promotion.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { ManualClock } from '../helpers/clock.js';
import { nextEvent } from '../helpers/faults-plugins.js';
import { createGate, type Gate, gateSource } from '../helpers/gate.js';

after(cleanArtifacts);

const PROBATION_MS = 60_000;
const gates: Gate[] = [];
after(() => {
  for (const g of gates) g.close();
});

/**
 * Version `tag` of plugin `p`: `work` fails every `failEvery`-th call (0: never) and, with a
 * gate, waits on it first (so a test decides its latency by moving the clock); `hold` waits on
 * `hold` (calls kept in flight across a swap).
 */
async function version(
  tag: string,
  opts: {
    failEvery?: number;
    gate?: Gate;
    hold?: Gate;
    probation?: Record<string, number>;
  } = {},
): Promise<string> {
  const wait = opts.gate === undefined ? '' : `await gate(${JSON.stringify(opts.gate.name)});`;
  const hold =
    opts.hold === undefined
      ? ''
      : `hold: { handler: async () => { await gate(${JSON.stringify(opts.hold.name)}); return '${tag}'; } },`;
  const fail = opts.failEvery ?? 0;
  return writeArtifact({
    name: 'p',
    version: tag === 'v1' ? '1.0.0' : '2.0.0',
    ...(opts.probation === undefined ? {} : { manifest: { probation: opts.probation } }),
    source: `let n = 0;\n${gateSource}${versionPlugin(
      tag,
      `work: { handler: async () => { n++; ${wait} if (${fail} > 0 && n % ${fail} === 0) throw new Error('boom ' + n); return '${tag}'; } },\n${hold}`,
    )}`,
  });
}

function gate(label: string): Gate {
  const g = createGate(label);
  gates.push(g);
  return g;
}

async function start(clock: ManualClock, options: HostOptions = {}): Promise<Host> {
  return createHost({ probationMs: PROBATION_MS, clock, ...options });
}

/** `n` calls of `work`; each answer or failure, settled. */
function calls(host: Host, n: number): Promise<PromiseSettledResult<unknown>[]> {
  return Promise.allSettled(Array.from({ length: n }, () => host.call('p', 'work', {})));
}

/** `n` gated calls that take `ms` each on the host's clock. */
async function slowCalls(host: Host, clock: ManualClock, g: Gate, n: number, ms: number) {
  const done = calls(host, n);
  await g.entered(n);
  clock.advance(ms);
  g.open();
  return done;
}

test('a new version failing 20% of calls is rolled back for regression, with its figures, no call lost', async () => {
  const clock = new ManualClock();
  const host = await start(clock);
  try {
    const held = gate('held');
    await host.load(await version('v1'));
    assert.ok((await calls(host, 60)).every((r) => r.status === 'fulfilled'));
    const started = nextEvent(host, 'promotion.started');
    await host.reload('p', await version('v2', { failEvery: 5, hold: held }));
    assert.deepEqual((await started).baseline, {
      calls: 60,
      errors: 0,
      errorRate: 0,
      p99Ms: 0.02475,
    });
    // Calls in flight on the trial version across the rollback.
    const inFlight = Promise.all([1, 2, 3].map(() => host.call('p', 'hold', {})));
    await held.entered(3);
    const results = await calls(host, 60);
    assert.equal(results.filter((r) => r.status === 'rejected').length, 12);
    assert.equal(host.plugins()[0]?.trial?.decision, 'regression');
    const rolledBack = nextEvent(host, 'reload.rolledBack');
    const aborted = nextEvent(host, 'promotion.aborted');
    clock.advance(1_000);
    const e = await rolledBack;
    assert.equal(e.reason, 'regression');
    assert.equal(e.from.version, '2.0.0');
    assert.equal(e.to.version, '1.0.0');
    assert.equal(e.figures?.trial.calls, 60);
    assert.equal(e.figures?.trial.errors, 12);
    assert.equal(e.figures?.trial.errorRate, 0.2);
    assert.match(e.figures?.why ?? '', /error rate 20%/);
    assert.equal((await aborted).reason, 'regression');
    assert.equal(await host.call('p', 'version', {}), 'v1');
    const info = host.plugins()[0];
    assert.equal(info?.trial, undefined, 'v1 is not on trial: it is permanent again');
    assert.equal(info?.knownGood?.version, '1.0.0');
    held.open();
    assert.deepEqual(await inFlight, ['v2', 'v2', 'v2'], 'the calls in flight were answered');
  } finally {
    await host.close();
  }
});

test('a new version 5× slower is rolled back for regression on its p99', async () => {
  const clock = new ManualClock();
  const host = await start(clock);
  try {
    const g1 = gate('slow1');
    const g2 = gate('slow2');
    await host.load(await version('v1', { gate: g1 }));
    await slowCalls(host, clock, g1, 60, 20);
    await host.reload('p', await version('v2', { gate: g2 }));
    await slowCalls(host, clock, g2, 60, 100);
    const rolledBack = nextEvent(host, 'reload.rolledBack');
    clock.advance(1_000);
    const e = await rolledBack;
    assert.equal(e.reason, 'regression');
    assert.ok(e.figures !== undefined);
    assert.equal(e.figures.trial.errorRate, 0);
    assert.ok(e.figures.trial.p99Ms! > 3 * e.figures.baseline.p99Ms!, JSON.stringify(e.figures));
    assert.match(e.figures.why ?? '', /^p99 /);
    assert.equal(await host.call('p', 'version', {}), 'v1');
  } finally {
    await host.close();
  }
});

test('a version with a few errors at the rate of the one before is kept and becomes permanent', async () => {
  const clock = new ManualClock();
  const host = await start(clock);
  try {
    await host.load(await version('v1', { failEvery: 10 }));
    await calls(host, 60);
    await host.reload('p', await version('v2', { failEvery: 10 }));
    await calls(host, 60);
    const progress: HostEvents['promotion.progress'][] = [];
    host.on('promotion.progress', (e) => progress.push(e));
    let rolledBack = false;
    host.on('reload.rolledBack', () => {
      rolledBack = true;
    });
    const promoted = nextEvent(host, 'promotion.promoted');
    clock.advance(PROBATION_MS);
    const e = await promoted;
    assert.equal(e.decision, 'healthy');
    assert.equal(e.early, false);
    assert.equal(e.trial.errorRate, e.baseline.errorRate);
    assert.equal(rolledBack, false);
    // Once a second, never more: 59 ticks before the window's end.
    assert.equal(progress.length, 59);
    assert.equal(await host.call('p', 'version', {}), 'v2');
    const info = host.plugins()[0];
    assert.equal(info?.knownGood?.version, '2.0.0');
    assert.equal(info?.trial, undefined);
  } finally {
    await host.close();
  }
});

test('with fewer than minCalls calls the window decides nothing, and says so', async () => {
  const clock = new ManualClock();
  const host = await start(clock);
  try {
    await host.load(await version('v1'));
    await calls(host, 60);
    await host.reload('p', await version('v2', { failEvery: 1 }));
    await calls(host, 10);
    const progress = nextEvent(host, 'promotion.progress');
    clock.advance(1_000);
    const p = await progress;
    assert.equal(p.decision, 'undecided');
    assert.equal(p.why, '10 of 50 calls needed to judge');
    const trial = host.plugins()[0]?.trial;
    assert.equal(trial?.version, '2.0.0');
    assert.equal(trial?.trial.errorRate, 1);
    assert.equal(trial?.decision, 'undecided');
    assert.equal(await host.call('p', 'version', {}), 'v2');
    const promoted = nextEvent(host, 'promotion.promoted');
    clock.advance(PROBATION_MS);
    assert.equal((await promoted).decision, 'undecided');
    assert.equal(host.plugins()[0]?.knownGood?.version, '2.0.0');
  } finally {
    await host.close();
  }
});

test("a manifest's probation rules only tighten the host's", async () => {
  const clock = new ManualClock();
  const host = await start(clock);
  try {
    await host.load(await version('v1'));
    await calls(host, 60);
    // Its own minCalls (10) is stricter than the host's 50: ten failing calls are judged.
    await host.reload('p', await version('v2', { failEvery: 1, probation: { minCalls: 10 } }));
    await calls(host, 10);
    let rolledBack = nextEvent(host, 'reload.rolledBack');
    clock.advance(1_000);
    assert.equal((await rolledBack).reason, 'regression');
    // A ceiling of 100% would loosen the host's 5%: the host's wins.
    await host.reload('p', await version('v2', { failEvery: 5, probation: { maxErrorRate: 1 } }));
    await calls(host, 60);
    rolledBack = nextEvent(host, 'reload.rolledBack');
    clock.advance(1_000);
    assert.equal((await rolledBack).figures?.trial.errorRate, 0.2);
  } finally {
    await host.close();
  }
});

test('promote ends a trial early; abort ends it with a rollback; neither without a trial', async () => {
  const clock = new ManualClock();
  const host = await start(clock);
  try {
    await host.load(await version('v1'));
    await assert.rejects(host.promote('p'), { code: 'NO_TRIAL' });
    await assert.rejects(host.abort('p'), { code: 'NO_TRIAL' });
    const v2 = await version('v2');
    await host.reload('p', v2);
    const promoted = nextEvent(host, 'promotion.promoted');
    const status = await host.promote('p');
    assert.equal(status.version, '2.0.0');
    assert.equal((await promoted).early, true);
    assert.equal(host.plugins()[0]?.knownGood?.version, '2.0.0');
    assert.equal(host.plugins()[0]?.state, 'active');
    await assert.rejects(host.promote('p'), { code: 'NO_TRIAL' });

    await host.reload('p', await version('v1'));
    const rolledBack = nextEvent(host, 'reload.rolledBack');
    const aborted = nextEvent(host, 'promotion.aborted');
    assert.equal((await host.abort('p')).version, '2.0.0');
    assert.equal((await rolledBack).reason, 'abort');
    assert.equal((await aborted).reason, 'abort');
    assert.equal(host.plugins()[0]?.trial, undefined);
    assert.equal(host.plugins()[0]?.knownGood?.version, '2.0.0');
    assert.equal(await host.call('p', 'version', {}), 'v2');
  } finally {
    await host.close();
  }
});

test('the probation rules: documented defaults, checked ranges, and each rule alone', () => {
  assert.deepEqual(resolveOptions({}).probation, {
    maxErrorRate: 0.05,
    maxErrorRateIncrease: 0.02,
    maxP99Ratio: 3,
    minCalls: 50,
  });
  assert.equal(resolveOptions({ probation: { minCalls: 5 } }).probation.minCalls, 5);
  for (const bad of [
    { maxErrorRate: 2 },
    { maxP99Ratio: 0.5 },
    { minCalls: 1.5 },
    { minCalls: 0 },
    { nope: 1 },
  ]) {
    assert.throws(() => resolveOptions({ probation: bad as never }), { code: 'OPTIONS_INVALID' });
  }
  const rules = resolveOptions({}).probation;
  const f = (calls: number, errors: number, p99Ms?: number) => ({
    calls,
    errors,
    errorRate: errors / calls,
    p99Ms,
  });
  assert.equal(judge(f(100, 6), f(100, 0), rules).decision, 'regression');
  assert.equal(judge(f(100, 4), f(100, 0), rules).decision, 'healthy', 'under the ceiling');
  assert.equal(judge(f(100, 11), f(100, 10), rules).decision, 'healthy', 'same rate as before');
  assert.equal(judge(f(100, 13), f(100, 10), rules).decision, 'regression', 'rate rose by 3%');
  assert.equal(judge(f(100, 6), f(10, 0), rules).decision, 'regression', 'small baseline: 0%');
  assert.equal(judge(f(100, 0, 40), f(100, 0, 10), rules).decision, 'regression');
  assert.equal(judge(f(100, 0, 25), f(100, 0, 10), rules).decision, 'healthy');
  assert.equal(judge(f(100, 0, 4), f(100, 0, 0.1), rules).decision, 'healthy', 'under the floor');
  assert.equal(judge(f(49, 49), f(100, 0), rules).decision, 'undecided');
  // Caller faults are not judged.
  const fig = figuresOf([
    {
      tool: 't',
      inFlight: 0,
      outcomes: { ok: 8, PLUGIN_ERROR: 1, CALL_TIMEOUT: 1, INVALID_INPUT: 5, UNKNOWN_TOOL: 3 },
      latency: { count: 18, sumMs: 0, buckets: [18] },
    },
  ]);
  assert.equal(fig.calls, 10);
  assert.equal(fig.errors, 2);
});
