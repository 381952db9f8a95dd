/**
 * G4 (Isolated): a plugin that throws, hangs, loops forever, runs out of memory or crashes never
 * takes down the host or another plugin; its slot recovers (from the last known-good artifact,
 * with backoff), and a failed reload leaves the old version serving.
 *
 * Every test loads an unrelated "bystander" plugin first and proves, after the fault, that it
 * still answers on the very same generation. Waiting is done on host events, never on sleeps.
 */
import assert from 'node:assert/strict';
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext, test } from 'node:test';
import {
  createHost,
  type Host,
  type HostEvents,
  type HostOptions,
  type MoltError,
} from '../../src/index.js';
import { cleanArtifacts, sha256, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import {
  assertBystanderServes,
  BYSTANDER,
  faultyPlugin,
  loadBystander,
  nextEvent,
  withCode,
} from '../helpers/faults-plugins.js';

after(cleanArtifacts);

const NAME = 'faulty';
/** A fault test that hangs is a failure, not a stuck run. */
const LIMIT = { timeout: 15_000 };

interface Setup {
  host: Host;
  /** The bystander's generation id right after it loaded. */
  generation: number;
}

/** A host (closed after the test) with the bystander already loaded and answering. */
async function setup(t: TestContext, options: HostOptions = {}): Promise<Setup> {
  const host = await createHost(options);
  t.after(() => host.close());
  const generation = await loadBystander(host);
  assert.deepEqual(await host.call(BYSTANDER, 'ping', {}), { pong: 1 });
  return { host, generation };
}

function pluginInfo(host: Host, name = NAME) {
  const info = host.plugins().find((p) => p.name === name);
  assert.ok(info, `plugin "${name}" is listed`);
  return info;
}

/** Loads a well-behaved v1 of the faulty plugin (tool `version` answers 'v1'). */
async function loadV1(host: Host, extra: Parameters<typeof faultyPlugin>[1] = {}): Promise<number> {
  await host.load(await writeArtifact({ name: NAME, source: faultyPlugin('v1', extra) }));
  assert.equal(await host.call(NAME, 'version', {}), 'v1');
  return pluginInfo(host).generation;
}

// Timeouts (init, call, drain, backoff) are tested on a manual clock in timeouts.test.ts.

// ---------------------------------------------------------------------------------------------
// Faults while a generation starts: each fails the load (nothing is loaded) or the reload (the
// old version keeps serving), with a typed error and a `reload.failed` event saying why.
// ---------------------------------------------------------------------------------------------

interface StartFault {
  label: string;
  code: string;
  message?: RegExp;
  /** The artifact that fails to start (name and version are filled in). */
  source: string;
  manifest?: Record<string, unknown>;
  check?: (err: MoltError, source: string) => void;
}

const startFaults: StartFault[] = [
  {
    label: 'init throws',
    code: 'INIT_FAILED',
    message: /the database is on fire/,
    source: faultyPlugin('bad', { init: "throw new Error('the database is on fire');" }),
  },
  {
    label: 'init rejects with its own code',
    code: 'INIT_FAILED',
    message: /no config/,
    source: faultyPlugin('bad', {
      init: "throw Object.assign(new Error('no config'), { code: 'E_CONFIG' });",
    }),
    check: (err) => assert.equal(err.details?.pluginCode, 'E_CONFIG'),
  },

  {
    label: 'health throws',
    code: 'HEALTH_FAILED',
    message: /unhealthy: no upstream/,
    source: faultyPlugin('bad', { health: "throw new Error('unhealthy: no upstream');" }),
  },
  {
    label: 'the manifest buildId is of other bytes',
    code: 'BUILD_MISMATCH',
    source: faultyPlugin('bad'),
    manifest: { buildId: sha256('some other bytes') },
    check: (err, source) => {
      assert.equal(err.details?.expected, sha256('some other bytes'));
      assert.equal(err.details?.actual, sha256(source));
    },
  },
];

for (const fault of startFaults) {
  test(
    `load fault, ${fault.label}: ${fault.code}, nothing loaded, bystander serves`,
    LIMIT,
    async (t) => {
      const { host, generation } = await setup(t);
      const failed = nextEvent(host, 'reload.failed', (e) => e.name === NAME);
      const dir = await writeArtifact({
        name: NAME,
        source: fault.source,
        ...(fault.manifest === undefined ? {} : { manifest: fault.manifest }),
      });
      await assert.rejects(host.load(dir), (err: MoltError) => {
        withCode(fault.code, fault.message)(err);
        fault.check?.(err, fault.source);
        return true;
      });
      const event = await failed;
      assert.equal(event.kind, 'load');
      assert.equal(event.from, undefined);
      assert.equal(event.error.code, fault.code);

      assert.equal(
        host.plugins().some((p) => p.name === NAME),
        false,
        'a failed load leaves nothing loaded',
      );
      await assert.rejects(host.call(NAME, 'version', {}), withCode('UNKNOWN_PLUGIN'));
      await assertBystanderServes(host, generation);

      // The name is free again: a good build of it loads.
      await host.load(
        await writeArtifact({ name: NAME, version: '1.0.1', source: faultyPlugin('good') }),
      );
      assert.equal(await host.call(NAME, 'version', {}), 'good');
    },
  );

  test(
    `reload fault, ${fault.label}: ${fault.code}, old version and bystander serve`,
    LIMIT,
    async (t) => {
      const { host, generation } = await setup(t);
      const v1Generation = await loadV1(host);
      const failed = nextEvent(host, 'reload.failed', (e) => e.name === NAME);
      const dir = await writeArtifact({
        name: NAME,
        version: '1.0.1',
        source: fault.source,
        ...(fault.manifest === undefined ? {} : { manifest: fault.manifest }),
      });
      await assert.rejects(host.reload(NAME, dir), (err: MoltError) => {
        withCode(fault.code, fault.message)(err);
        fault.check?.(err, fault.source);
        return true;
      });
      const event = await failed;
      assert.equal(event.kind, 'reload');
      assert.equal(event.error.code, fault.code);
      assert.equal(event.from?.version, '1.0.0');
      assert.equal(event.to?.version, '1.0.1');

      assert.equal(await host.call(NAME, 'version', {}), 'v1', 'the old version still answers');
      const info = pluginInfo(host);
      assert.equal(info.version, '1.0.0');
      assert.equal(info.generation, v1Generation);
      assert.equal(info.state, 'active');
      assert.equal(info.stats.reloadFailures, 1);
      await assertBystanderServes(host, generation);
    },
  );
}

test(
  'an entry whose bytes are not the buildId is refused before any of it runs',
  LIMIT,
  async (t) => {
    const { host, generation } = await setup(t);
    const marker = join(await mkdtemp(join(tmpdir(), 'molt-marker-')), 'ran');
    const source = `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(marker)}, 'the entry ran');
${faultyPlugin('bad')}`;
    const dir = await writeArtifact({
      name: NAME,
      source,
      manifest: { buildId: sha256('the bytes the manifest promised') },
    });
    await assert.rejects(host.load(dir), (err: MoltError) => {
      withCode('BUILD_MISMATCH', /not evaluated/)(err);
      assert.equal(err.details?.actual, sha256(source));
      return true;
    });
    await assert.rejects(stat(marker), { code: 'ENOENT' }, 'not one line of the entry ran');
    await assertBystanderServes(host, generation);
  },
);

test(
  'an entry that changes while it is being loaded: BUILD_MISMATCH, nothing loaded',
  LIMIT,
  async (t) => {
    const { host, generation } = await setup(t);
    const source = `import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
appendFileSync(fileURLToPath(import.meta.url), '\\n// rewritten while loading');
${faultyPlugin('bad')}`;
    const failed = nextEvent(host, 'reload.failed', (e) => e.name === NAME);
    await assert.rejects(
      host.load(await writeArtifact({ name: NAME, source })),
      withCode('BUILD_MISMATCH', /changed while it was being loaded/),
    );
    assert.equal((await failed).error.code, 'BUILD_MISMATCH');
    assert.equal(host.plugin(NAME), undefined);
    await assertBystanderServes(host, generation);
  },
);

test('reload with a manifest of another plugin name: NAME_MISMATCH', LIMIT, async (t) => {
  const { host, generation } = await setup(t);
  await loadV1(host);
  const failed = nextEvent(host, 'reload.failed', (e) => e.name === NAME);
  const other = await writeArtifact({ name: 'someone-else', source: versionPlugin('other') });
  await assert.rejects(host.reload(NAME, other), (err: MoltError) => {
    withCode('NAME_MISMATCH', /someone-else/)(err);
    assert.equal(err.details?.expected, NAME);
    assert.equal(err.details?.actual, 'someone-else');
    return true;
  });
  assert.equal((await failed).error.code, 'NAME_MISMATCH');
  assert.equal(await host.call(NAME, 'version', {}), 'v1');
  assert.equal(pluginInfo(host).version, '1.0.0');
  assert.equal(
    host.plugins().some((p) => p.name === 'someone-else'),
    false,
  );
  await assertBystanderServes(host, generation);
});

// ---------------------------------------------------------------------------------------------
// Faults while serving: a crashed, out-of-memory or blocked worker fails its in-flight calls with
// a typed error, and the slot restarts from the known-good artifact.
// ---------------------------------------------------------------------------------------------

/**
 * Triggers a fault that ends the faulty plugin's worker and checks the path every such fault
 * takes: the call fails with its code, `plugin.crashed` names the old generation, the bystander
 * serves throughout, and `plugin.recovered` brings a new generation answering as v1.
 * `whileRecovering` runs right after the call fails, before the recovery is awaited.
 */
async function crashAndRecover(
  host: Host,
  bystander: number,
  trigger: () => Promise<unknown>,
  expected: { call: (err: unknown) => boolean; crashMessage: RegExp },
  whileRecovering?: () => void,
): Promise<{
  before: number;
  crash: HostEvents['plugin.crashed'];
  recovery: HostEvents['plugin.recovered'];
}> {
  const before = pluginInfo(host).generation;
  const crashed = nextEvent(host, 'plugin.crashed', (e) => e.name === NAME);
  const recovered = nextEvent(host, 'plugin.recovered', (e) => e.name === NAME);
  const retired: number[] = [];
  const offRetired = host.on('generation.retired', (e) => retired.push(e.from.generation));
  await assert.rejects(trigger(), expected.call);
  whileRecovering?.();
  const crash = await crashed;
  assert.equal(crash.from.generation, before);
  assert.match(crash.error.message, expected.crashMessage);
  await assertBystanderServes(host, bystander);
  const recovery = await recovered;
  assert.notEqual(recovery.to.generation, before, 'a new worker serves');
  assert.equal(await host.call(NAME, 'version', {}), 'v1');
  assert.equal(pluginInfo(host).state, 'active');
  await assertBystanderServes(host, bystander);
  offRetired();
  assert.ok(
    !retired.includes(before),
    'a crashed generation is never reported as retired (drained)',
  );
  return { before, crash, recovery };
}

const crashTools = `
  exit: { handler: () => { process.exit(1); } },
  throwLater: {
    handler: () => new Promise(() => { setTimeout(() => { throw new Error('late boom'); }, 0); }),
  },
`;

for (const [label, tool, reason] of [
  ['process.exit(1)', 'exit', /exit/],
  ['an uncaught throw inside setTimeout', 'throwLater', /late boom/],
] as const) {
  test(
    `crash mid-call (${label}): PLUGIN_CRASHED, slot recovers, bystander serves`,
    LIMIT,
    async (t) => {
      const { host, generation } = await setup(t, { restartBackoff: { initialMs: 10 } });
      await loadV1(host, { tools: crashTools });
      let queued: Promise<unknown> | undefined;
      const { before, crash, recovery } = await crashAndRecover(
        host,
        generation,
        () => host.call(NAME, tool, {}),
        { call: withCode('PLUGIN_CRASHED', reason), crashMessage: reason },
        // Accepted while the slot recovers: it waits and is answered by the restarted generation (G1).
        () => {
          queued = host.call(NAME, 'version', {});
        },
      );
      assert.equal(crash.error.code, 'PLUGIN_CRASHED');
      assert.equal(crash.inProbation, false);
      assert.equal(recovery.to.version, '1.0.0');
      assert.equal(await queued, 'v1');
      const info = pluginInfo(host);
      assert.equal(info.generation, recovery.to.generation);
      assert.notEqual(info.generation, before);
      assert.equal(info.stats.crashes, 1);
    },
  );
}

test(
  'out of memory: MEMORY_LIMIT mentioning memory, host survives, slot recovers',
  LIMIT,
  async (t) => {
    const { host, generation } = await setup(t, { restartBackoff: { initialMs: 10 } });
    await host.load(
      await writeArtifact({
        name: NAME,
        source: faultyPlugin('v1', {
          tools: `hog: { handler: () => {
          const hoard = [];
          for (let i = 0; ; i++) hoard.push({ i, list: [i, i + 1, i + 2], text: 'x' + i });
        } },`,
        }),
        manifest: { limits: { memoryMb: 32 } },
      }),
    );
    await crashAndRecover(host, generation, () => host.call(NAME, 'hog', {}), {
      call: withCode('MEMORY_LIMIT', /memory/i),
      crashMessage: /memory/i,
    });
  },
);

test('a crash during probation rolls back to the warm previous version', LIMIT, async (t) => {
  const { host, generation } = await setup(t, {
    probationMs: 60_000,
    restartBackoff: { initialMs: 10 },
  });
  const v1Generation = await loadV1(host);
  await host.reload(
    NAME,
    await writeArtifact({
      name: NAME,
      version: '1.0.1',
      source: faultyPlugin('v2', { tools: crashTools }),
    }),
  );
  assert.equal(await host.call(NAME, 'version', {}), 'v2');
  const v2Generation = pluginInfo(host).generation;

  const crashed = nextEvent(host, 'plugin.crashed', (e) => e.name === NAME);
  const rolledBack = nextEvent(host, 'reload.rolledBack', (e) => e.name === NAME);
  await assert.rejects(host.call(NAME, 'exit', {}), withCode('PLUGIN_CRASHED'));

  const crash = await crashed;
  assert.equal(crash.inProbation, true);
  assert.equal(crash.from.generation, v2Generation);
  const rollback = await rolledBack;
  assert.equal(rollback.reason, 'crash');
  assert.equal(rollback.from.version, '1.0.1');
  assert.equal(rollback.from.generation, v2Generation);
  assert.equal(rollback.to.version, '1.0.0');
  assert.equal(rollback.to.generation, v1Generation, 'the warm v1 worker serves again');

  assert.equal(await host.call(NAME, 'version', {}), 'v1');
  const info = pluginInfo(host);
  assert.equal(info.version, '1.0.0');
  assert.equal(info.generation, v1Generation);
  assert.equal(info.state, 'active');
  assert.equal(info.stats.rollbacks, 1);
  await assertBystanderServes(host, generation);
});

// ---------------------------------------------------------------------------------------------
// Faults that are the caller's or the handler's own: a typed error for that call only; the
// plugin's worker keeps running (same generation, no crash).
// ---------------------------------------------------------------------------------------------

test(
  'handler throws: PLUGIN_ERROR with the message; its own code goes to details.pluginCode',
  LIMIT,
  async (t) => {
    const { host, generation } = await setup(t);
    let crashes = 0;
    host.on('plugin.crashed', () => {
      crashes++;
    });
    const before = await loadV1(host, {
      tools: `
      fail: { handler: () => { throw new Error('no can do'); } },
      failAsync: { handler: async () => { throw new Error('not later either'); } },
      failCoded: { handler: () => { throw Object.assign(new Error('nope'), { code: 'E_NOPE' }); } },
      failBare: { handler: () => { throw 'a bare string'; } },
      failForged: { handler: () => { throw Object.assign(new Error('fake'), { code: 'HOST_CLOSED' }); } },
    `,
    });

    await assert.rejects(host.call(NAME, 'fail', {}), (err: MoltError) => {
      withCode('PLUGIN_ERROR', /^no can do$/)(err);
      assert.equal(err.details?.pluginCode, undefined);
      assert.match(
        String(err.details?.remoteStack),
        /index\.mjs/,
        'the stack names the entry file',
      );
      return true;
    });
    await assert.rejects(
      host.call(NAME, 'failAsync', {}),
      withCode('PLUGIN_ERROR', /^not later either$/),
    );
    await assert.rejects(host.call(NAME, 'failCoded', {}), (err: MoltError) => {
      withCode('PLUGIN_ERROR', /^nope$/)(err);
      assert.equal(err.details?.pluginCode, 'E_NOPE');
      return true;
    });
    await assert.rejects(
      host.call(NAME, 'failBare', {}),
      withCode('PLUGIN_ERROR', /a bare string/),
    );

    // A plugin cannot pass itself off as the host: molt's own codes stay molt's.
    await assert.rejects(host.call(NAME, 'failForged', {}), (err: MoltError) => {
      withCode('PLUGIN_ERROR', /^fake$/)(err);
      assert.equal(err.details?.pluginCode, 'HOST_CLOSED');
      return true;
    });

    assert.equal(await host.call(NAME, 'version', {}), 'v1');
    const info = pluginInfo(host);
    assert.equal(info.generation, before, 'a throwing handler does not end the worker');
    assert.equal(info.stats.errors, 5);
    assert.equal(info.stats.crashes, 0);
    assert.equal(crashes, 0);
    await assertBystanderServes(host, generation);
  },
);

test('unknown tool: UNKNOWN_TOOL', LIMIT, async (t) => {
  const { host, generation } = await setup(t);
  const before = await loadV1(host);
  await assert.rejects(host.call(NAME, 'nope', {}), (err: MoltError) => {
    withCode('UNKNOWN_TOOL', /nope/)(err);
    assert.equal(err.details?.tool, 'nope');
    return true;
  });
  assert.equal(await host.call(NAME, 'version', {}), 'v1');
  assert.equal(pluginInfo(host).generation, before);
  await assertBystanderServes(host, generation);
});

test('unknown plugin: UNKNOWN_PLUGIN from call, reload, rollback and unload', LIMIT, async (t) => {
  const { host, generation } = await setup(t);
  const dir = await writeArtifact({ name: 'ghost', source: versionPlugin('ghost') });
  await assert.rejects(host.call('ghost', 'version', {}), withCode('UNKNOWN_PLUGIN', /ghost/));
  // Promise-returning methods report by rejecting, never by throwing synchronously.
  await assert.rejects(() => host.reload('ghost', dir), withCode('UNKNOWN_PLUGIN', /ghost/));
  await assert.rejects(() => host.rollback('ghost'), withCode('UNKNOWN_PLUGIN', /ghost/));
  await assert.rejects(() => host.unload('ghost'), withCode('UNKNOWN_PLUGIN', /ghost/));
  await assertBystanderServes(host, generation);
});

test(
  'a result or arguments that cannot be cloned: DATA_CLONE, the plugin serves on',
  LIMIT,
  async (t) => {
    const { host, generation } = await setup(t);
    const before = await loadV1(host, {
      tools: `
      fn: { handler: () => () => 42 },
      fnAsync: { handler: async () => ({ greet() { return 'hi'; } }) },
    `,
    });
    await assert.rejects(host.call(NAME, 'fn', {}), withCode('DATA_CLONE'));
    await assert.rejects(host.call(NAME, 'fnAsync', {}), withCode('DATA_CLONE'));
    await assert.rejects(host.call(NAME, 'version', { callback: () => 1 }), withCode('DATA_CLONE'));

    assert.equal(await host.call(NAME, 'version', {}), 'v1');
    assert.equal(pluginInfo(host).generation, before);
    assert.equal(pluginInfo(host).stats.crashes, 0);
    await assertBystanderServes(host, generation);
  },
);
