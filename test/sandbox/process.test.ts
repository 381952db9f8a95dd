/**
 * The process sandbox speaks the worker's protocol: many calls in flight with their own ids,
 * progress and cancellation across the boundary, deadlines, errors that keep their codes, a
 * crash that fails every call in flight with a typed error and a slot that recovers, a reload
 * served from a warm standby process with state handed over, and a crash in probation that
 * swaps back. Handlers wait (forever, or on a file in their data folder) and report that they
 * entered through the protocol's own progress notes: no sleeps, no polling.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  createHost,
  type HostOptions,
  type Sandbox,
  type SandboxFactory,
} from '../../src/index.js';
import { defaultSandboxFactory } from '../../src/sandbox/pool.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { ManualClock } from '../helpers/clock.js';
import { nextEvent, withCode } from '../helpers/faults-plugins.js';

test.after(cleanArtifacts);

const LIMIT = { timeout: 60_000 };
const NAME = 'proc';

/** A stateful counter whose handlers can wait; `tag` says which version answers. */
function source(tag: string): string {
  return `import fs from 'node:fs';
let count = 0;
export default {
  stateVersion: 1,
  snapshot: () => ({ count }),
  restore: (s) => { count = s.count; },
  tools: {
    version: { handler: () => ${JSON.stringify(tag)} },
    add: { handler: () => ++count },
    echo: { inputSchema: { type: 'object', properties: { i: { type: 'integer' } }, required: ['i'] }, handler: ({ i }) => ({ i, pid: process.pid }) },
    // Until the sandbox ends.
    wait: { handler: (_a, ctx) => { ctx.progress(1, 2, 'entered'); return new Promise(() => {}); } },
    // Waits for a file named "open" in its data folder: a gate the test opens from outside,
    // while the slot holds calls for a handover.
    waitFile: { handler: (_a, ctx) => new Promise((resolve) => {
      const done = () => { if (fs.existsSync(ctx.dataDir + '/open')) { watcher.close(); resolve('released'); return true; } return false; };
      const watcher = fs.watch(ctx.dataDir, done);
      if (!done()) ctx.progress(1, 2, 'entered');
    }) },
    abortable: { handler: (_a, ctx) => new Promise((resolve) => { ctx.progress(1); ctx.signal.addEventListener('abort', () => { ctx.log.info('aborted:' + ctx.signal.reason.code); resolve('aborted'); }); }) },
    spin: { handler: (_a, ctx) => { ctx.progress(1); for (;;); } },
    fail: { handler: () => { throw Object.assign(new Error('own failure'), { code: 'E_OWN' }); } },
    fn: { handler: () => () => 1 },
    die: { handler: () => process.exit(3) },
  },
};
`;
}

const processManifest = { isolation: 'process' };

async function setup(t: test.TestContext, options: HostOptions = {}) {
  /** Every process sandbox made, in order (the host's worker standby is not counted). */
  const made: Sandbox[] = [];
  const factory: SandboxFactory = (spec, hooks) => {
    const s = defaultSandboxFactory(spec, hooks);
    if (spec.isolation === 'process') made.push(s);
    return s;
  };
  const host = await createHost({ sandboxFactory: factory, ...options });
  t.after(() => host.close());
  await host.load(
    await writeArtifact({ name: NAME, source: source('v1'), manifest: processManifest }),
  );
  assert.equal(host.plugin(NAME)?.isolation, 'process');
  return { host, made };
}

/** Starts `count` calls of `tool` and resolves once each handler has entered (progress). */
async function inFlight(
  host: Awaited<ReturnType<typeof setup>>['host'],
  tool: string,
  count: number,
  signal?: AbortSignal,
): Promise<Promise<unknown>[]> {
  let entered = 0;
  let all!: () => void;
  const allIn = new Promise<void>((resolve) => {
    all = resolve;
  });
  const calls = Array.from({ length: count }, () =>
    host.call(
      NAME,
      tool,
      {},
      {
        signal,
        onProgress: () => {
          if (++entered === count) all();
        },
      },
    ),
  );
  // Attach handlers now: the test decides later how each must settle.
  for (const c of calls) c.catch(() => {});
  await allIn;
  return calls;
}

test('process: 64 calls in flight at once each get their own answer', LIMIT, async (t) => {
  const { host } = await setup(t);
  const answers = (await Promise.all(
    Array.from({ length: 64 }, (_, i) => host.call(NAME, 'echo', { i })),
  )) as { i: number; pid: number }[];
  assert.deepEqual(
    answers.map((a) => a.i),
    Array.from({ length: 64 }, (_, i) => i),
  );
  assert.equal(new Set(answers.map((a) => a.pid)).size, 1, 'one child process');
  assert.notEqual(answers[0]!.pid, process.pid, 'not the host process');
});

test('process: errors keep their codes across the boundary', LIMIT, async (t) => {
  const { host } = await setup(t);
  await assert.rejects(host.call(NAME, 'echo', { i: 'x' }), withCode('INVALID_INPUT', /\/i/));
  await assert.rejects(host.call(NAME, 'fail', {}), (err: { code: string; details: unknown }) => {
    assert.equal(err.code, 'PLUGIN_ERROR');
    assert.equal((err.details as { pluginCode: string }).pluginCode, 'E_OWN');
    return true;
  });
  await assert.rejects(host.call(NAME, 'nope', {}), withCode('UNKNOWN_TOOL'));
  await assert.rejects(host.call(NAME, 'fn', {}), withCode('DATA_CLONE'));
  await assert.rejects(host.call(NAME, 'echo', { i: 1, f: () => 1 }), withCode('DATA_CLONE'));
  assert.equal(await host.call(NAME, 'version', {}), 'v1', 'the sandbox serves on');
});

test('process: progress and cancellation cross the boundary', LIMIT, async (t) => {
  const { host } = await setup(t);
  const controller = new AbortController();
  const [call] = await inFlight(host, 'abortable', 1, controller.signal);
  const seen = nextEvent(host, 'plugin.log', (e) => e.name === NAME);
  controller.abort(new Error('user gave up'));
  await assert.rejects(call!, withCode('CANCELLED', /user gave up/));
  // The handler saw the abort, with the host's code.
  assert.equal((await seen).msg, 'aborted:CANCELLED');
});

test(
  'process: a call past its deadline is CALL_TIMEOUT; a child that cannot answer a ping is ended',
  LIMIT,
  async (t) => {
    const clock = new ManualClock();
    const { host } = await setup(t, {
      clock,
      callTimeoutMs: 1_000,
      unresponsiveMs: 500,
      restartBackoff: { initialMs: 10 },
    });
    const [call] = await inFlight(host, 'spin', 1);
    const crashed = nextEvent(host, 'plugin.crashed', (e) => e.name === NAME);
    clock.advance(1_000);
    await assert.rejects(call!, withCode('CALL_TIMEOUT'));
    await clock.fire(500);
    const crash = await crashed;
    assert.match(crash.error.message, /event loop blocked/);
    const recovered = nextEvent(host, 'plugin.recovered', (e) => e.name === NAME);
    await clock.fire(10);
    await recovered;
    assert.equal(await host.call(NAME, 'version', {}), 'v1');
  },
);

test(
  'process: a crash fails every call in flight with PLUGIN_CRASHED; the slot recovers',
  LIMIT,
  async (t) => {
    const { host } = await setup(t, { restartBackoff: { initialMs: 10 } });
    const calls = await inFlight(host, 'wait', 5);
    const recovered = nextEvent(host, 'plugin.recovered', (e) => e.name === NAME);
    await assert.rejects(host.call(NAME, 'die', {}), withCode('PLUGIN_CRASHED', /code 3/));
    for (const c of calls) await assert.rejects(c, withCode('PLUGIN_CRASHED'));
    await recovered;
    assert.equal(await host.call(NAME, 'version', {}), 'v1');
    assert.equal(host.plugin(NAME)?.stats.crashes, 1);
  },
);

test(
  'process: a reload under calls starts from the warm standby, hands state over, and a crash in probation swaps back',
  LIMIT,
  async (t) => {
    const { host, made } = await setup(t, { probationMs: 60_000 });
    for (let i = 0; i < 3; i++) await host.call(NAME, 'add', {});
    // One sandbox for v1, one standby started for the next reload of this plugin.
    assert.equal(made.length, 2);
    const standby = made[1]!;
    const calls = await inFlight(host, 'waitFile', 4);
    const reload = host.reload(
      NAME,
      await writeArtifact({
        name: NAME,
        version: '2.0.0',
        source: source('v2'),
        manifest: processManifest,
      }),
    );
    // The handover waits for v1's calls to finish: release them from outside.
    await nextEvent(host, 'generation.started', (e) => e.to.version === '2.0.0');
    assert.equal(host.plugin(NAME)?.inFlight, 4, 'the calls are in flight at the handover');
    await writeFile(join(host.plugin(NAME)!.dataDir, 'open'), '');
    const result = await reload;
    assert.equal(result.version, '2.0.0');
    for (const c of calls) assert.equal(await c, 'released');
    assert.equal(await host.call(NAME, 'version', {}), 'v2');
    assert.equal(await host.call(NAME, 'add', {}), 4, 'the count was handed over');
    assert.equal(made.length, 3, 'the next standby was started');
    const rolledBack = nextEvent(host, 'reload.rolledBack', (e) => e.name === NAME);
    await assert.rejects(host.call(NAME, 'die', {}), withCode('PLUGIN_CRASHED'));
    await rolledBack;
    assert.equal(await host.call(NAME, 'version', {}), 'v1');
    assert.equal(standby.ended, true, 'v2 ran in the standby process, which the crash ended');
    assert.equal(made[0]!.ended, false, 'v1 serves on in its own process');
  },
);

test('process: unloading a plugin ends its standby process too', LIMIT, async (t) => {
  const { host, made } = await setup(t);
  assert.equal(made.length, 2, 'v1 and its standby');
  const [v1, standby] = made as [Sandbox, Sandbox];
  await host.unload(NAME);
  assert.equal(v1.ended, true);
  assert.equal((await standby.exited).expected, true, 'the standby was ended by the host');
});
