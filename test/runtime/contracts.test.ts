/**
 * Issue 10: contracts between plugins. `requires` is checked at load (CONTRACT_UNSATISFIED),
 * `ctx.call` reaches the live provider's current generation through the host (and only
 * contracts the manifest declares: CONTRACT_UNDECLARED), a provider's new version must keep
 * serving its dependents (CONTRACT_BROKEN), the host serves contracts too, an unload that would
 * strand dependents is refused (HAS_DEPENDENTS), `loadAll` loads a set in dependency order, and
 * calls inside one chain never deadlock: re-entry goes to the chain's own generation, even
 * through a state handover's hold, and a cycle of inits ends with DEPENDENCY_CYCLE.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost, type Host } from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { createGate, gateSource, signalSource } from '../helpers/gate.js';

after(cleanArtifacts);

const LIMIT = { timeout: 30_000 };

/** A `geo` provider at `version`: `lookup` answers which version served it. */
function geo(version: string, extra = ''): Promise<string> {
  return writeArtifact({
    name: 'geo',
    version,
    manifest: { provides: { geo: version } },
    source: `export default { tools: {
      lookup: { handler: ({ city }) => ({ city, by: ${JSON.stringify(version)} }) },
      ${extra}
    } };`,
  });
}

/** A consumer of `geo@range`: `where` asks the provider through the host. */
function consumer(
  range: string,
  manifest: Record<string, unknown> = {},
  extra = '',
): Promise<string> {
  return writeArtifact({
    name: 'trip',
    manifest: { requires: { geo: range }, ...manifest },
    source: `export default { tools: {
      where: { handler: (args, ctx) => ctx.call('geo', 'lookup', { city: args.city ?? 'Oslo' }) },
      undeclared: { handler: async (args, ctx) => {
        try { await ctx.call('billing', 'charge', {}); return 'reached'; }
        catch (err) { return err.code; }
      } },
      rethrow: { handler: (args, ctx) => ctx.call('billing', 'charge', {}) },
      ${extra}
    } };`,
  });
}

async function withHost(fn: (host: Host) => Promise<void>): Promise<void> {
  const host = await createHost({ probationMs: 0 });
  try {
    await fn(host);
  } finally {
    await host.close();
  }
}

test(
  'a requirement nothing serves is CONTRACT_UNSATISFIED; served, ctx.call reaches the current provider',
  LIMIT,
  () =>
    withHost(async (host) => {
      await assert.rejects(host.load(await consumer('^1')), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'CONTRACT_UNSATISFIED');
        assert.match(err.message, /geo@\^1/);
        return true;
      });
      assert.equal(host.plugins().length, 0);

      await host.load(await geo('1.3.0'));
      await host.load(await consumer('^1'));
      assert.deepEqual(await host.call('trip', 'where', { city: 'Bergen' }), {
        city: 'Bergen',
        by: '1.3.0',
      });

      await host.reload('geo', await geo('1.4.0'));
      assert.deepEqual(await host.call('trip', 'where', {}), { city: 'Oslo', by: '1.4.0' });

      // 2.0.0 no longer serves ^1: refused before it swaps in, and 1.4.0 serves on.
      await assert.rejects(
        host.reload('geo', await geo('2.0.0')),
        (err: Error & { code?: string; details?: { dependents?: unknown } }) => {
          assert.equal(err.code, 'CONTRACT_BROKEN');
          assert.match(err.message, /trip \(needs geo@\^1\)/);
          assert.deepEqual(err.details?.dependents, [
            { plugin: 'trip', contract: 'geo', range: '^1' },
          ]);
          return true;
        },
      );
      assert.equal(host.plugin('geo')?.version, '1.4.0');
      assert.deepEqual(await host.call('trip', 'where', {}), { city: 'Oslo', by: '1.4.0' });

      const info = host.plugin('trip');
      assert.deepEqual(info?.requires, [
        { contract: 'geo', range: '^1', optional: false, providedBy: 'geo' },
      ]);
      assert.deepEqual(host.plugin('geo')?.provides, { geo: '1.4.0' });
    }),
);

test(
  'a contract the manifest does not require is CONTRACT_UNDECLARED, rethrown with its code',
  LIMIT,
  () =>
    withHost(async (host) => {
      await host.load(await geo('1.0.0'));
      await host.load(await consumer('^1'));
      assert.equal(await host.call('trip', 'undeclared', {}), 'CONTRACT_UNDECLARED');
      await assert.rejects(host.call('trip', 'rethrow', {}), { code: 'CONTRACT_UNDECLARED' });
    }),
);

test(
  'an optional requirement loads without a provider; a call to it is CONTRACT_UNSATISFIED',
  LIMIT,
  () =>
    withHost(async (host) => {
      await host.load(await consumer('^1', { requires: { geo: { range: '^1', optional: true } } }));
      await assert.rejects(host.call('trip', 'where', {}), { code: 'CONTRACT_UNSATISFIED' });
      assert.equal(host.plugin('trip')?.requires[0]?.providedBy, null);
      await host.load(await geo('1.2.0'));
      assert.deepEqual(await host.call('trip', 'where', {}), { city: 'Oslo', by: '1.2.0' });
    }),
);

test('the host serves a contract: required and called like any other, errors typed', LIMIT, () =>
  withHost(async (host) => {
    host.provide('clock', '1.0.0', {
      now: () => 1234,
      fail: () => {
        throw new Error('no clock today');
      },
    });
    const dir = await writeArtifact({
      name: 'timer',
      manifest: { requires: { clock: '^1.0.0' } },
      source: `export default { tools: {
        now: { handler: (a, ctx) => ctx.call('clock', 'now') },
        fail: { handler: async (a, ctx) => { try { await ctx.call('clock', 'fail'); } catch (e) { return [e.code, e.message]; } } },
        nope: { handler: (a, ctx) => ctx.call('clock', 'nope') },
      } };`,
    });
    await host.load(dir);
    assert.equal(await host.call('timer', 'now', {}), 1234);
    assert.deepEqual(await host.call('timer', 'fail', {}), ['PLUGIN_ERROR', 'no clock today']);
    await assert.rejects(host.call('timer', 'nope', {}), { code: 'UNKNOWN_TOOL' });
    assert.equal(host.plugin('timer')?.requires[0]?.providedBy, 'host');
    assert.throws(() => host.provide('clock', '2.0.0', {}), { code: 'OPTIONS_INVALID' });
  }),
);

test(
  'unload of a provider with dependents is HAS_DEPENDENTS; cascade: true unloads them first',
  LIMIT,
  () =>
    withHost(async (host) => {
      await host.load(await geo('1.0.0'));
      await host.load(await consumer('^1'));
      await assert.rejects(host.unload('geo'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'HAS_DEPENDENTS');
        assert.match(err.message, /trip/);
        return true;
      });
      assert.deepEqual(await host.call('trip', 'where', {}), { city: 'Oslo', by: '1.0.0' });
      const order: string[] = [];
      host.on('plugin.unloaded', (e) => order.push(e.name));
      await host.unload('geo', { cascade: true });
      assert.deepEqual(order, ['trip', 'geo']);
      assert.equal(host.plugins().length, 0);
    }),
);

test('loadAll loads a cycle (A needs B, B needs A) in any order; all or nothing', LIMIT, () =>
  withHost(async (host) => {
    const a = await writeArtifact({
      name: 'a',
      manifest: { provides: { alpha: '1.0.0' }, requires: { beta: '^1' } },
      source: `export default { tools: {
        ping: { handler: () => 'a' },
        viaB: { handler: (x, ctx) => ctx.call('beta', 'ping') },
      } };`,
    });
    const b = await writeArtifact({
      name: 'b',
      manifest: { provides: { beta: '1.0.0' }, requires: { alpha: '^1' } },
      source: `export default { tools: {
        ping: { handler: () => 'b' },
        viaA: { handler: (x, ctx) => ctx.call('alpha', 'ping') },
      } };`,
    });
    await assert.rejects(host.load(a), { code: 'CONTRACT_UNSATISFIED' });
    const broken = await writeArtifact({
      name: 'c',
      manifest: { requires: { alpha: '^1' } },
      source: `export default { tools: {}, init() { throw new Error('c cannot start'); } };`,
    });
    // c fails after a and b loaded: they are unloaded again.
    await assert.rejects(host.loadAll([broken, b, a]), { code: 'INIT_FAILED' });
    assert.deepEqual(host.plugins(), []);

    const results = await host.loadAll([b, a]);
    assert.deepEqual(results.map((r) => r.name).sort(), ['a', 'b']);
    assert.equal(await host.call('a', 'viaB', {}), 'b');
    assert.equal(await host.call('b', 'viaA', {}), 'a');
  }),
);

test(
  'a cycle of inits ends with DEPENDENCY_CYCLE naming the chain, not a hang',
  LIMIT,
  async () => {
    // An init timeout longer than the test's: only cycle detection can end this in time.
    const host = await createHost({ probationMs: 0, initTimeoutMs: 120_000 });
    try {
      const a = await writeArtifact({
        name: 'a',
        manifest: { provides: { alpha: '1.0.0' }, requires: { beta: '^1' } },
        source: `export default { tools: { ping: { handler: () => 'a' } },
        async init(ctx) { await ctx.call('beta', 'ping'); } };`,
      });
      const b = await writeArtifact({
        name: 'b',
        manifest: { provides: { beta: '1.0.0' }, requires: { alpha: '^1' } },
        source: `export default { tools: { ping: { handler: () => 'b' } },
        async init(ctx) { await ctx.call('alpha', 'ping'); } };`,
      });
      await assert.rejects(host.loadAll([a, b]), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'DEPENDENCY_CYCLE', err.message);
        assert.match(err.message, /(a → b → a|b → a → b)/);
        return true;
      });
      assert.deepEqual(host.plugins(), []);
    } finally {
      await host.close();
    }
  },
);

test('init may call a provider that is itself starting: it waits for it', LIMIT, async () => {
  const providerGate = createGate('provider-init');
  const asking = createGate('user-init');
  const host = await createHost({ probationMs: 0 });
  try {
    const provider = await writeArtifact({
      name: 'config',
      manifest: { provides: { config: '1.0.0' } },
      source: `${gateSource}
        let ready = false;
        export default { tools: { get: { handler: () => ready ? 'configured' : 'not yet' } },
        async init() { await gate(${JSON.stringify(providerGate.name)}); ready = true; } };`,
    });
    const user = await writeArtifact({
      name: 'user',
      manifest: { requires: { config: '^1' } },
      source: `${signalSource}
        let got;
        export default { tools: { got: { handler: () => got } },
        async init(ctx) { signal(${JSON.stringify(asking.name)}); got = await ctx.call('config', 'get'); } };`,
    });
    // Loaded side by side, not as a set (a set would start the provider first): the user's
    // init asks the provider while the provider's own init is still held at its gate.
    const loadingProvider = host.load(provider);
    await providerGate.entered();
    const loadingUser = host.load(user);
    await asking.entered();
    providerGate.open();
    await Promise.all([loadingProvider, loadingUser]);
    assert.equal(await host.call('user', 'got', {}), 'configured');
  } finally {
    providerGate.close();
    asking.close();
    await host.close();
  }
});

test(
  're-entry A → B → A completes, also while a stateful A holds calls for its handover',
  LIMIT,
  async () => {
    const gate = createGate('reentry');
    const host = await createHost({ probationMs: 0, drainTimeoutMs: 20_000 });
    try {
      const aSource = (tag: string) => `${gateSource}
      let count = 0;
      export default {
        tools: {
          start: { handler: async (args, ctx) => {
            count++;
            if (args.wait) await gate(${JSON.stringify(gate.name)});
            return ctx.call('beta', 'bounce', {});
          } },
          inner: { handler: () => ({ tag: ${JSON.stringify(tag)}, count }) },
        },
        snapshot: () => count,
        restore: (c) => { count = c; },
      };`;
      const a1 = await writeArtifact({
        name: 'a',
        manifest: { provides: { alpha: '1.0.0' }, requires: { beta: '^1' } },
        source: aSource('a1'),
      });
      const b = await writeArtifact({
        name: 'b',
        manifest: { provides: { beta: '1.0.0' }, requires: { alpha: '^1' } },
        source: `export default { tools: {
        bounce: { handler: (x, ctx) => ctx.call('alpha', 'inner') },
      } };`,
      });
      await host.loadAll([a1, b]);
      assert.deepEqual(await host.call('a', 'start', {}), { tag: 'a1', count: 1 });

      // A call on a1 waits at the gate; a reload of A holds new calls and waits for it to drain.
      const held = host.call('a', 'start', { wait: true });
      await gate.entered();
      const a2 = await writeArtifact({
        name: 'a',
        version: '1.0.1',
        manifest: { provides: { alpha: '1.0.1' }, requires: { beta: '^1' } },
        source: aSource('a2'),
      });
      const reloading = host.reload('a', a2);
      await new Promise<void>((resolve) => {
        const off = host.on('slot.state', (e) => {
          if (e.name === 'a' && e.to === 'held') {
            off();
            resolve();
          }
        });
      });
      // Open: a1's call goes on to B, which calls A back: that re-entry must reach a1 (its
      // chain's generation), not queue behind the hold that waits for this very call.
      gate.open();
      assert.deepEqual(await held, { tag: 'a1', count: 2 });
      await reloading;
      assert.equal(host.plugin('a')?.version, '1.0.1');
      assert.deepEqual(await host.call('a', 'start', {}), { tag: 'a2', count: 3 });
    } finally {
      gate.close();
      await host.close();
    }
  },
);

test("ctx.call carries the caller's cancellation to the provider", LIMIT, async () => {
  const gate = createGate('inner-cancel');
  const aborted = createGate('inner-aborted');
  const host = await createHost({ probationMs: 0 });
  try {
    await host.load(
      await writeArtifact({
        name: 'geo',
        manifest: { provides: { geo: '1.0.0' } },
        source: `${gateSource}${signalSource}
          export default { tools: {
            slow: { handler: (args, ctx) => new Promise((resolve) => {
              ctx.signal.addEventListener('abort', () => {
                signal(${JSON.stringify(aborted.name)});
                resolve('stopped');
              });
              gate(${JSON.stringify(gate.name)});
            }) },
          } };`,
      }),
    );
    await host.load(
      await consumer('^1', {}, `slow: { handler: (a, ctx) => ctx.call('geo', 'slow') },`),
    );
    const controller = new AbortController();
    const call = host.call('trip', 'slow', {}, { signal: controller.signal });
    await gate.entered();
    controller.abort(new Error('user left'));
    await assert.rejects(call, { code: 'CANCELLED' });
    // The provider's handler saw its signal abort: the cancellation crossed both sandboxes.
    await aborted.entered();
  } finally {
    gate.close();
    aborted.close();
    await host.close();
  }
});

test(
  "ctx.call keeps the caller's deadline, not the provider's own call timeout",
  LIMIT,
  async () => {
    const innerEnded = createGate('inner-ended');
    const host = await createHost({ probationMs: 0, callTimeoutMs: 300, drainTimeoutMs: 200 });
    try {
      await host.load(
        await writeArtifact({
          name: 'geo',
          // Its own calls may run for a minute: only the caller's deadline can end this one soon.
          manifest: { provides: { geo: '1.0.0' }, limits: { callTimeoutMs: 60_000 } },
          source: `export default { tools: {
          never: { handler: () => new Promise(() => {}) },
        } };`,
        }),
      );
      await host.load(
        await writeArtifact({
          name: 'trip',
          manifest: { requires: { geo: '^1' } },
          source: `${signalSource}
          let innerCode;
          export default { tools: {
            never: { handler: async (a, ctx) => {
              try { await ctx.call('geo', 'never'); }
              catch (e) { innerCode = e.code; signal(${JSON.stringify(innerEnded.name)}); }
            } },
            innerCode: { handler: () => innerCode },
          } };`,
        }),
      );
      // The inner call and the caller share one deadline: whichever timer fires first, the
      // caller is answered at it (a timeout, or the handler's answer once it caught the inner).
      await host.call('trip', 'never', {}).catch((err: { code?: string }) => {
        assert.equal(err.code, 'CALL_TIMEOUT');
      });
      // The call through the host ended with its caller (its deadline, or the caller's end).
      await innerEnded.entered();
      assert.match(String(await host.call('trip', 'innerCode', {})), /^(CALL_TIMEOUT|CANCELLED)$/);
    } finally {
      innerEnded.close();
      await host.close();
    }
  },
);

/** A stateful provider: `bump` counts; `kind` says which version answers. */
function counterProvider(version: string, kind: string): Promise<string> {
  return writeArtifact({
    name: 'geo',
    version,
    manifest: { provides: { geo: version } },
    source: `let n = 0;
      export default {
        tools: {
          bump: { handler: () => ++n },
          kind: { handler: () => ${JSON.stringify(kind)} },
        },
        snapshot: () => n,
        restore: (s) => { n = s; },
      };`,
  });
}

/**
 * A stateful dependent of geo: its init asks geo's `kind` and refuses one it does not accept;
 * `count` counts its own calls (its state); `gen` says which init ran.
 */
function dependent(name: string, optIn: boolean, refuse = 'none'): Promise<string> {
  return writeArtifact({
    name,
    manifest: { requires: { geo: '^1' }, reloadWithDependencies: optIn },
    source: `let n = 0; let seen; const inits = (globalThis.inits = (globalThis.inits ?? 0) + 1);
      export default {
        tools: {
          count: { handler: () => ++n },
          seen: { handler: () => ({ seen, inits }) },
        },
        async init(ctx) {
          seen = await ctx.call('geo', 'kind');
          if (seen === ${JSON.stringify(refuse)}) throw new Error('${name} cannot work with ' + seen);
        },
        snapshot: () => n,
        restore: (s) => { n = s; },
      };`,
  });
}

test(
  'a provider reload cascades to opted-in dependents (state kept), not to the others',
  LIMIT,
  () =>
    withHost(async (host) => {
      await host.load(await counterProvider('1.0.0', 'v1'));
      await host.load(await dependent('eager', true));
      await host.load(await dependent('lazy', false));
      await host.call('eager', 'count', {});
      await host.call('eager', 'count', {});
      const eagerGen = host.plugin('eager')?.generation;
      const lazyGen = host.plugin('lazy')?.generation;
      const cascadeEvents: string[] = [];
      host.on('reload.succeeded', (e) => {
        if (e.cascadeOf !== undefined) cascadeEvents.push(`${e.name}<${e.cascadeOf}`);
      });

      const result = await host.reload('geo', await counterProvider('1.1.0', 'v2'));
      assert.equal(result.version, '1.1.0');
      assert.deepEqual(result.cascaded, ['eager']);
      assert.deepEqual(cascadeEvents, ['eager<geo']);
      // eager: a new generation whose init saw the new provider, its state handed over.
      assert.notEqual(host.plugin('eager')?.generation, eagerGen);
      assert.equal(((await host.call('eager', 'seen', {})) as { seen: string }).seen, 'v2');
      assert.equal(await host.call('eager', 'count', {}), 3);
      // lazy did not opt in: the same generation, which saw v1 at its init.
      assert.equal(host.plugin('lazy')?.generation, lazyGen);
      assert.equal(((await host.call('lazy', 'seen', {})) as { seen: string }).seen, 'v1');
    }),
);

test(
  'all or nothing: a dependent failing against the new provider puts everything back (CASCADE_FAILED)',
  LIMIT,
  () =>
    withHost(async (host) => {
      await host.load(await counterProvider('1.0.0', 'v1'));
      await host.load(await dependent('first', true));
      await host.load(await dependent('picky', true, 'v2'));
      assert.equal(await host.call('geo', 'bump', {}), 1);
      assert.equal(await host.call('first', 'count', {}), 1);
      assert.equal(await host.call('picky', 'count', {}), 1);
      const before = {
        geo: host.plugin('geo')?.version,
        first: host.plugin('first')?.buildId,
        picky: host.plugin('picky')?.generation,
      };
      const rolledBack: string[] = [];
      host.on('reload.rolledBack', (e) => rolledBack.push(`${e.name}:${e.reason}`));

      await assert.rejects(
        host.reload('geo', await counterProvider('1.1.0', 'v2')),
        (err: Error & { code?: string; details?: Record<string, unknown> }) => {
          assert.equal(err.code, 'CASCADE_FAILED', err.message);
          assert.match(err.message, /picky.*INIT_FAILED.*cannot work with v2/);
          assert.equal(err.details?.plugin, 'picky');
          assert.deepEqual(err.details?.rolledBack, ['geo', 'first']);
          return true;
        },
      );
      assert.deepEqual(rolledBack.sort(), ['first:cascade', 'geo:cascade']);
      // Versions and states as they were: geo 1.0.0 counting on from 1, first and picky too.
      assert.equal(host.plugin('geo')?.version, before.geo);
      assert.equal(await host.call('geo', 'kind', {}), 'v1');
      assert.equal(await host.call('geo', 'bump', {}), 2);
      assert.equal(host.plugin('first')?.buildId, before.first);
      assert.equal(await host.call('first', 'count', {}), 2);
      // Its generation started again after geo went back: its init saw v1, as before.
      assert.equal(((await host.call('first', 'seen', {})) as { seen: string }).seen, 'v1');
      // picky never swapped: the generation it had, still serving.
      assert.equal(host.plugin('picky')?.generation, before.picky);
      assert.equal(await host.call('picky', 'count', {}), 2);
    }),
);

test('a cycle of opted-in plugins cascades once each and ends', LIMIT, () =>
  withHost(async (host) => {
    const make = (name: string, provides: string, requires: string, version = '1.0.0') =>
      writeArtifact({
        name,
        version,
        manifest: {
          provides: { [provides]: version },
          requires: { [requires]: '^1' },
          reloadWithDependencies: true,
        },
        source: `export default { tools: { ping: { handler: () => ${JSON.stringify(`${name}@${version}`)} } } };`,
      });
    await host.loadAll([await make('a', 'alpha', 'beta'), await make('b', 'beta', 'alpha')]);
    const reloads: string[] = [];
    host.on('reload.succeeded', (e) => reloads.push(e.name));
    const result = await host.reload('a', await make('a', 'alpha', 'beta', '1.0.1'));
    assert.deepEqual(result.cascaded, ['b']);
    assert.deepEqual(reloads, ['a', 'b']);
    assert.equal(await host.call('a', 'ping', {}), 'a@1.0.1');
  }),
);

test('a provider that keeps its major but breaks a contract tool is SCHEMA_BREAKING', LIMIT, () =>
  withHost(async (host) => {
    const provider = (version: string, contract: string, schema: Record<string, unknown>) =>
      writeArtifact({
        name: 'geo',
        version,
        manifest: { provides: { geo: { version: contract, tools: ['lookup'] } } },
        source: `export default { tools: {
          lookup: { inputSchema: ${JSON.stringify(schema)}, handler: () => 'ok' },
          other: { handler: () => 'x' },
        } };`,
      });
    const open = { type: 'object', properties: { city: { type: 'string' } } };
    const strict = { ...open, required: ['city'] };
    await host.load(await provider('1.0.0', '1.0.0', open));
    // The plugin's major moves, the contract's does not: its tool must stay compatible.
    await assert.rejects(host.reload('geo', await provider('2.0.0', '1.1.0', strict)), {
      code: 'SCHEMA_BREAKING',
    });
    assert.equal(host.plugin('geo')?.version, '1.0.0');
    // Both majors move: allowed.
    await host.reload('geo', await provider('2.0.0', '2.0.0', strict));
    assert.equal(host.plugin('geo')?.version, '2.0.0');
  }),
);

test(
  'an init that times out waiting for a starting provider says which (INIT_TIMEOUT naming the chain)',
  LIMIT,
  async () => {
    const providerGate = createGate('slow-provider');
    const host = await createHost({ probationMs: 0 });
    try {
      const provider = await writeArtifact({
        name: 'config',
        // Its own init may take a minute: the user's 1.5 s run out first.
        manifest: { provides: { config: '1.0.0' }, limits: { initTimeoutMs: 60_000 } },
        source: `${gateSource}
        export default { tools: { get: { handler: () => 'late' } },
        async init() { await gate(${JSON.stringify(providerGate.name)}); } };`,
      });
      const user = await writeArtifact({
        name: 'user',
        manifest: { requires: { config: '^1' }, limits: { initTimeoutMs: 1_500 } },
        source: `export default { tools: {}, async init(ctx) { await ctx.call('config', 'get'); } };`,
      });
      const loadingProvider = host.load(provider);
      await providerGate.entered();
      await assert.rejects(host.load(user), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'INIT_TIMEOUT');
        assert.match(err.message, /user → config/);
        return true;
      });
      providerGate.open();
      await loadingProvider;
      assert.equal(await host.call('config', 'get', {}), 'late');
    } finally {
      // Whatever failed above, the provider's init must not hold the host's close a minute.
      providerGate.open();
      providerGate.close();
      await host.close();
    }
  },
);
