/**
 * Prometheus metrics (`createMetrics`): what `/metrics` renders parses as Prometheus text, and
 * its figures are exact — calls by outcome, latency histograms (queue wait included), reloads
 * by kind and outcome with their step timings, rollbacks by reason, crashes — while labels
 * stay bounded whatever names callers send. The host runs on a manual clock, so every call's
 * latency is known exactly.
 */
import assert from 'node:assert/strict';
import { after, type TestContext, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  createHost,
  createMetrics,
  type Host,
  type HostOptions,
  quantileMs,
} from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { ManualClock } from '../helpers/clock.js';
import { nextEvent, withCode } from '../helpers/faults-plugins.js';
import { type Scrape, scrape } from '../helpers/prometheus.js';

after(cleanArtifacts);

const NAME = 'calc';

/** Tools for every outcome; stateful, so a reload hands its state over (drain, snapshot…). */
const calc = (tag: string, extra = ''): string => `let n = 0;
export default {
  ${extra}
  tools: {
    add: { handler: ({ a, b }) => { n++; return a + b; } },
    fail: { handler: () => { throw new Error('refused'); } },
    strict: {
      inputSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
      handler: ({ n }) => n,
    },
    exit: { handler: () => { process.exit(1); } },
    tag: { handler: () => ${JSON.stringify(tag)} },
  },
  snapshot: () => n,
  restore: (s) => { n = s; },
};
`;

async function start(
  t: TestContext,
  options: HostOptions = {},
): Promise<{ host: Host; clock: ManualClock }> {
  const clock = new ManualClock();
  const host = await createHost({ clock, standby: 0, ...options });
  t.after(() => host.close());
  return { host, clock };
}

const artifact = (version: string, source: string): Promise<string> =>
  writeArtifact({ name: NAME, version, source });

async function read(metrics: { render(): Promise<string> }): Promise<Scrape> {
  return scrape(await metrics.render());
}

test('calls are counted by tool and outcome, with a latency histogram, and the text parses', async (t) => {
  const { host } = await start(t);
  await host.load(await artifact('1.0.0', calc('v1')));
  const metrics = createMetrics(host, {
    eventStream: { subscribers: 2, dropped: 5 },
    mcpSessions: () => 4,
    deployment: { status: () => [{ name: NAME, installed: 3 }] },
  });
  t.after(() => metrics.close());
  for (let i = 0; i < 3; i++) assert.equal(await host.call(NAME, 'add', { a: i, b: 1 }), i + 1);
  for (let i = 0; i < 2; i++)
    await assert.rejects(host.call(NAME, 'fail', {}), withCode('PLUGIN_ERROR'));
  await assert.rejects(host.call(NAME, 'strict', { n: 'x' }), withCode('INVALID_INPUT'));
  await assert.rejects(host.call(NAME, 'nope', {}), withCode('UNKNOWN_TOOL'));

  assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
  const s = await read(metrics);
  const calls = (tool: string, outcome: string): number | undefined =>
    s.value('molt_calls_total', { plugin: NAME, tool, outcome });
  assert.equal(s.types.get('molt_calls_total'), 'COUNTER');
  assert.equal(calls('add', 'ok'), 3);
  assert.equal(calls('fail', 'PLUGIN_ERROR'), 2);
  assert.equal(calls('strict', 'INVALID_INPUT'), 1);
  assert.equal(calls('_unknown', 'UNKNOWN_TOOL'), 1);
  assert.equal(calls('tag', 'ok'), 0, 'a declared tool has its series before its first call');
  // `ok` of each of the five declared tools, the three errors seen, nothing else.
  assert.equal(s.series('molt_calls_total', { plugin: NAME }).length, 8);

  // The clock never moved: every call took 0 ms, all in the lowest bucket.
  const add = s.histogram('molt_call_duration_seconds', { plugin: NAME, tool: 'add' });
  assert.equal(add.count, 3);
  assert.equal(add.sum, 0);
  assert.equal(add.buckets.get('0.000025'), 3);
  assert.equal(s.histogram('molt_call_duration_seconds', { plugin: NAME, tool: 'fail' }).count, 2);
  assert.equal(s.value('molt_calls_in_flight', { plugin: NAME, tool: 'add' }), 0);
  assert.equal(s.value('molt_calls_queued', { plugin: NAME }), 0);

  assert.equal(s.value('molt_plugin_state', { plugin: NAME, state: 'active' }), 1);
  assert.equal(s.series('molt_plugin_info', { plugin: NAME, version: '1.0.0' }).length, 1);
  assert.equal(s.value('molt_generations', { plugin: NAME, state: 'active' }), 1);
  assert.equal(s.value('molt_event_stream_subscribers'), 2);
  assert.equal(s.value('molt_event_stream_dropped_events_total'), 5);
  assert.equal(s.value('molt_mcp_sessions'), 4);
  assert.equal(s.value('molt_plugin_versions_installed', { plugin: NAME }), 3);
  assert.ok((s.value('process_resident_memory_bytes') ?? 0) > 0, "the process's default metrics");
  assert.equal(
    s.value('molt_reloads_total', { plugin: NAME, kind: 'load', outcome: 'ok' }),
    undefined,
    'events before createMetrics are not counted',
  );

  // The host's own copy says the same.
  const stats = host.callStats(NAME);
  const addStats = stats?.tools.find((x) => x.tool === 'add');
  assert.deepEqual(addStats?.outcomes, { ok: 3 });
  assert.equal(stats?.active?.tools.find((x) => x.tool === 'fail')?.outcomes.PLUGIN_ERROR, 2);
});

test('reloads by kind and outcome, per-step timings, rollbacks by reason and crashes', async (t) => {
  const { host } = await start(t, { probationMs: 60_000 });
  const metrics = createMetrics(host, { defaultMetrics: false });
  t.after(() => metrics.close());
  await host.load(await artifact('1.0.0', calc('v1')));
  await host.call(NAME, 'add', { a: 1, b: 1 });
  await host.reload(NAME, await artifact('2.0.0', calc('v2')));
  await host.call(NAME, 'add', { a: 1, b: 1 });
  await host.rollback(NAME);
  assert.equal(await host.call(NAME, 'tag', {}), 'v1');
  // v1 serves again with v2 warm: v1 crashing swaps back to v2.
  const back = nextEvent(host, 'reload.rolledBack', (e) => e.reason === 'crash');
  await assert.rejects(host.call(NAME, 'exit', {}), withCode('PLUGIN_CRASHED'));
  await back;
  assert.equal(await host.call(NAME, 'tag', {}), 'v2');
  await assert.rejects(
    host.reload(NAME, await artifact('3.0.0', calc('v3', `init() { throw new Error('no'); },`))),
    withCode('INIT_FAILED'),
  );

  const s = await read(metrics);
  const reloads = (kind: string, outcome: string): number | undefined =>
    s.value('molt_reloads_total', { plugin: NAME, kind, outcome });
  assert.equal(reloads('load', 'ok'), 1);
  assert.equal(reloads('reload', 'ok'), 1);
  assert.equal(reloads('rollback', 'ok'), 2);
  assert.equal(reloads('reload', 'INIT_FAILED'), 1);
  assert.equal(s.series('molt_reloads_total', { plugin: NAME }).length, 4);
  const reload = s.histogram('molt_reload_duration_seconds', {
    plugin: NAME,
    kind: 'rollback',
    outcome: 'ok',
  });
  assert.equal(reload.count, 2);
  assert.ok(reload.sum > 0);

  const step = (name: string): number =>
    s.histogram('molt_reload_step_duration_seconds', { plugin: NAME, step: name }).count;
  assert.equal(step('validate'), 5, 'every run validates');
  assert.equal(
    step('start'),
    3,
    'the load and both reloads started a sandbox; rollbacks reused a warm one',
  );
  assert.equal(step('init'), 3);
  assert.equal(step('swap'), 4, 'every run that succeeded swapped');
  for (const handover of ['drain', 'snapshot', 'restore']) assert.ok(step(handover) >= 2, handover);

  assert.equal(s.value('molt_rollbacks_total', { plugin: NAME, reason: 'manual' }), 1);
  assert.equal(s.value('molt_rollbacks_total', { plugin: NAME, reason: 'crash' }), 1);
  assert.equal(s.value('molt_crashes_total', { plugin: NAME, code: 'PLUGIN_CRASHED' }), 1);
  assert.equal(
    s.value('molt_calls_total', { plugin: NAME, tool: 'exit', outcome: 'PLUGIN_CRASHED' }),
    1,
  );
  assert.equal(
    s.value('molt_calls_total', { plugin: NAME, tool: 'add', outcome: 'ok' }),
    2,
    'counters run on across generations',
  );
});

test('labels stay bounded: 1,000 calls to distinct unknown tools add no series', async (t) => {
  const { host } = await start(t);
  await host.load(await artifact('1.0.0', calc('v1')));
  const metrics = createMetrics(host);
  t.after(() => metrics.close());
  await assert.rejects(host.call(NAME, 'first-unknown', {}), withCode('UNKNOWN_TOOL'));
  const before = (await read(metrics)).keys();
  const calls = Array.from({ length: 1_000 }, (_, i) =>
    host.call(NAME, `tool-${i}-${Math.random()}`, {}).catch((err: { code?: string }) => err.code),
  );
  assert.deepEqual(new Set(await Promise.all(calls)), new Set(['UNKNOWN_TOOL']));
  const s = await read(metrics);
  const molt = (keys: Set<string>): string[] =>
    [...keys].filter((k) => k.startsWith('molt_')).sort();
  assert.deepEqual(molt(s.keys()), molt(before));
  assert.equal(
    s.value('molt_calls_total', { plugin: NAME, tool: '_unknown', outcome: 'UNKNOWN_TOOL' }),
    1_001,
  );
  assert.equal(
    s.histogram('molt_call_duration_seconds', { plugin: NAME, tool: '_unknown' }).count,
    1_001,
  );
});

test('calls that wait in the hold queue: their wait is in the latency, refusals are counted', async (t) => {
  const { host, clock } = await start(t, {
    probationMs: 0,
    maxQueuedCalls: 1,
    callTimeoutMs: 5_000,
  });
  await host.load(await artifact('1.0.0', calc('v1')));
  const metrics = createMetrics(host, { defaultMetrics: false });
  t.after(() => metrics.close());
  /** Crashes the plugin: with no warm generation it recovers, holding its calls meanwhile. */
  const crash = async (): Promise<{ recovered: Promise<unknown> }> => {
    const crashed = nextEvent(host, 'plugin.crashed');
    const recovered = nextEvent(host, 'plugin.recovered');
    await assert.rejects(host.call(NAME, 'exit', {}), withCode('PLUGIN_CRASHED'));
    await crashed;
    return { recovered };
  };

  let { recovered } = await crash();
  const waited = host.call(NAME, 'add', { a: 1, b: 2 });
  await assert.rejects(host.call(NAME, 'add', { a: 1, b: 2 }), withCode('QUEUE_FULL'));
  await assert.rejects(host.call(NAME, 'no-such-tool', {}), withCode('QUEUE_FULL'));
  assert.equal((await read(metrics)).value('molt_calls_queued', { plugin: NAME }), 1);
  clock.advance(100); // the restart's backoff: the held call runs on the new generation
  assert.equal(await waited, 3);
  await recovered;

  ({ recovered } = await crash());
  const timedOut = host.call(NAME, 'add', { a: 1, b: 2 });
  clock.advance(5_000); // the backoff timer fires first; the held call's deadline passes
  await assert.rejects(timedOut, withCode('CALL_TIMEOUT'));
  await recovered;

  const s = await read(metrics);
  const calls = (tool: string, outcome: string): number | undefined =>
    s.value('molt_calls_total', { plugin: NAME, tool, outcome });
  assert.equal(calls('exit', 'PLUGIN_CRASHED'), 2);
  assert.equal(calls('add', 'ok'), 1);
  assert.equal(calls('add', 'QUEUE_FULL'), 1);
  assert.equal(calls('add', 'CALL_TIMEOUT'), 1);
  assert.equal(calls('_unknown', 'QUEUE_FULL'), 1, 'a name nobody declared is not a label');
  // 100 ms (waited, then ran), 0 ms (refused at once), 5 s (waited out its deadline).
  const add = s.histogram('molt_call_duration_seconds', { plugin: NAME, tool: 'add' });
  assert.equal(add.count, 3);
  assert.equal(add.sum, 5.1);
  assert.equal(add.buckets.get('0.05'), 1);
  assert.equal(add.buckets.get('0.1'), 2);
  assert.equal(add.buckets.get('2.5'), 2);
  assert.equal(add.buckets.get('5'), 3);
  const latency = host.callStats(NAME)?.tools.find((x) => x.tool === 'add')?.latency;
  assert.ok(latency !== undefined);
  assert.equal(quantileMs(latency, 1), 5_000);
  assert.equal(quantileMs(latency, 0.5), 75, 'the median interpolates inside (50, 100] ms');
});

test("an unloaded plugin's series go with it; two hosts' metrics never mix", async (t) => {
  const { host } = await start(t);
  const { host: other } = await start(t);
  await host.load(await artifact('1.0.0', calc('v1')));
  await other.load(await writeArtifact({ name: 'other', source: calc('o') }));
  const metrics = createMetrics(host);
  const otherMetrics = createMetrics(other);
  t.after(() => {
    metrics.close();
    otherMetrics.close();
  });
  await host.reload(NAME, await artifact('2.0.0', calc('v2')));
  await host.call(NAME, 'add', { a: 1, b: 1 });
  await other.call('other', 'add', { a: 1, b: 1 });
  const mine = await read(metrics);
  assert.equal(mine.series('molt_calls_total', { plugin: 'other' }).length, 0);
  assert.equal((await read(otherMetrics)).series('molt_calls_total', { plugin: NAME }).length, 0);
  assert.ok(mine.series('molt_reloads_total', { plugin: NAME }).length > 0);

  await host.unload(NAME);
  const s = await read(metrics);
  const left = [...s.keys()].filter((k) => k.includes(`"plugin":"${NAME}"`));
  assert.deepEqual(left, [], 'no series names the unloaded plugin');
});

test('a tool two versions in a row leave out has no series any more', async (t) => {
  const { host } = await start(t, { probationMs: 0 });
  const tools = (names: string[]): string =>
    `export default { tools: { ${names.map((n) => `${n}: { handler: () => '${n}' }`).join(', ')} } };`;
  await host.load(await artifact('1.0.0', tools(['keep', 'gone'])));
  const metrics = createMetrics(host, { defaultMetrics: false });
  t.after(() => metrics.close());
  await host.call(NAME, 'gone', {});
  const gone = async (): Promise<number | undefined> =>
    (await read(metrics)).value('molt_calls_total', { plugin: NAME, tool: 'gone', outcome: 'ok' });
  await host.reload(NAME, await artifact('2.0.0', tools(['keep'])));
  assert.equal(await gone(), 1, 'the replaced version declared it: its count stays');
  await host.reload(NAME, await artifact('3.0.0', tools(['keep', 'new'])));
  assert.equal(await gone(), undefined);
  const s = await read(metrics);
  assert.deepEqual(
    s
      .series('molt_calls_in_flight', { plugin: NAME })
      .map((x) => x.labels.tool)
      .sort(),
    ['keep', 'new'],
  );
});

test('sandbox memory per plugin: resident set of a process sandbox, heap of a worker', async (t) => {
  const { host } = await start(t);
  await host.load(await writeArtifact({ name: 'inproc', source: calc('w') }));
  await host.load(
    await writeArtifact({ name: 'child', source: calc('p'), manifest: { isolation: 'process' } }),
  );
  const metrics = createMetrics(host, { defaultMetrics: false });
  t.after(() => metrics.close());
  const s = await read(metrics);
  const resident = s.value('molt_sandbox_resident_bytes', { plugin: 'child' }) ?? 0;
  assert.ok(resident > 10 * 1024 * 1024, `a child process holds more than 10 MB (${resident})`);
  assert.equal(s.value('molt_sandbox_resident_bytes', { plugin: 'inproc' }), undefined);
  const heap = s.value('molt_sandbox_heap_used_bytes', { plugin: 'inproc' });
  if (typeof (Worker.prototype as { getHeapStatistics?: unknown }).getHeapStatistics === 'function')
    assert.ok((heap ?? 0) > 0, 'Node 22.16+ reports a worker heap');
  else assert.equal(heap, undefined, 'Node 20 cannot tell a worker heap: no figure, not a guess');
});
