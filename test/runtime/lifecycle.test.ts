/**
 * The two lifecycles, each one state moved only through a checked transition: a generation's
 * (a move its table does not allow throws under test) and a slot's, whose moves are announced as
 * `slot.state`. The sequences below are the reload of DESIGN.md as a slot lives it.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHost, type Host, type Sandbox, type SlotState } from '../../src/index.js';
import type { Artifact } from '../../src/manifest/manifest.js';
import { Generation } from '../../src/runtime/generation.js';
import { systemClock } from '../../src/util/clock.js';
import { InvariantError } from '../../src/util/invariant.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { nextEvent } from '../helpers/faults-plugins.js';

after(cleanArtifacts);

/** A sandbox that never runs anything: enough to drive a generation's lifecycle by hand. */
function idleSandbox(): Sandbox {
  return {
    ended: false,
    exited: new Promise(() => {}),
    onCrash: undefined,
    setTimeouts() {},
    load: () => new Promise(() => {}),
    op: () => new Promise(() => {}),
    call: () => new Promise(() => {}),
    terminate: () => new Promise(() => {}),
  };
}

const artifact: Artifact = {
  dir: '/nowhere',
  entryPath: '/nowhere/index.mjs',
  manifest: { name: 'p', version: '1.0.0', entry: 'index.mjs', buildId: 'a'.repeat(64) },
};

function generation(sandbox = idleSandbox()): Generation {
  const limits = { callTimeoutMs: 1_000, initTimeoutMs: 1_000, drainTimeoutMs: 1_000 };
  return new Generation(artifact, sandbox, 'worker', limits, { calls: 0, errors: 0 }, systemClock);
}

test('a generation refuses a move its table does not allow, loudly', () => {
  const gen = generation();
  assert.equal(gen.state, 'starting');
  assert.throws(() => gen.to('active'), InvariantError, 'starting → active skips ready');
  gen.to('ready');
  gen.to('active');
  gen.to('standby');
  gen.to('active');
  assert.throws(() => gen.to('ready'), InvariantError);
  gen.to('draining');
  gen.to('retired');
  for (const next of ['active', 'standby', 'draining', 'crashed'] as const)
    assert.throws(() => gen.to(next), InvariantError, `retired is final (${next})`);
  assert.equal(gen.state, 'retired');
});

test('a generation that never served ends retired when its sandbox ends, not ready', async () => {
  const exit = {
    expected: true,
    code: 'PLUGIN_CRASHED' as const,
    reason: 'discarded',
    exitCode: 1,
  };
  let ended = false;
  const sandbox: Sandbox = {
    ...idleSandbox(),
    get ended() {
      return ended;
    },
    terminate: async () => {
      ended = true;
      return exit;
    },
  };
  const gen = generation(sandbox);
  gen.to('ready');
  await gen.discard('the reload failed after it started');
  assert.equal(gen.state, 'retired');
  assert.equal(gen.alive, false);
  // A served generation cannot be discarded: it retires (drains) instead.
  const served = generation();
  served.to('ready');
  served.to('active');
  await served.discard('nothing');
  assert.equal(served.state, 'active');
});

/** Records the slot's state moves for `name` until the returned function is called. */
function record(host: Host, name: string): { moves: string[]; stop: () => void } {
  const moves: string[] = [];
  const stop = host.on('slot.state', (e) => {
    if (e.name === name) moves.push(`${e.from}→${e.to}`);
  });
  return { moves, stop };
}

const states = (host: Host, name: string): SlotState | undefined => host.plugin(name)?.state;

test('a slot lives the reload as announced moves: load, reload, probation, handover, crash, unload', async () => {
  const host = await createHost({ probationMs: 60_000, restartBackoff: { initialMs: 1 } });
  try {
    const log = record(host, 'p');
    await host.load(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
    assert.deepEqual(log.moves.splice(0), ['loading→reloading', 'reloading→active']);

    const crashy = versionPlugin('v2', `exit: { handler: () => { process.exit(1); } },`);
    await host.reload('p', await writeArtifact({ name: 'p', version: '2.0.0', source: crashy }));
    assert.deepEqual(log.moves.splice(0), ['active→reloading', 'reloading→probation']);

    // A crash on trial: calls wait while the slot swaps back to the warm version.
    const rolledBack = nextEvent(host, 'reload.rolledBack');
    const routing = nextEvent(host, 'slot.state', (e) => e.to === 'active');
    await assert.rejects(host.call('p', 'exit', {}), { code: 'PLUGIN_CRASHED' });
    assert.equal((await rolledBack).reason, 'crash');
    await routing;
    assert.deepEqual(log.moves.splice(0), [
      'probation→recovering',
      'recovering→reloading',
      'reloading→active',
    ]);
    assert.equal(states(host, 'p'), 'active');

    await host.unload('p');
    assert.deepEqual(log.moves.splice(0), ['active→closing', 'closing→closed']);
    log.stop();
  } finally {
    await host.close();
  }
});

test('a stateful reload holds the slot for the handover; the swap happens while held', async () => {
  const host = await createHost({ probationMs: 0 });
  try {
    const counter = (tag: string): string => `let n = 0; export default {
      tools: { inc: { handler: () => ++n }, tag: { handler: () => '${tag}' } },
      snapshot: () => n, restore: (s) => { n = s; } };`;
    await host.load(await writeArtifact({ name: 'c', source: counter('v1') }));
    const log = record(host, 'c');
    let activeWhenReleased: string | undefined;
    host.on('slot.state', (e) => {
      if (e.name === 'c' && e.from === 'held') activeWhenReleased = host.plugin('c')?.version;
    });
    await host.reload(
      'c',
      await writeArtifact({ name: 'c', version: '2.0.0', source: counter('v2') }),
    );
    assert.deepEqual(log.moves, [
      'active→reloading',
      'reloading→held',
      'held→reloading',
      'reloading→active',
    ]);
    assert.equal(activeWhenReleased, '2.0.0', 'the pointer moved before the hold was released');
    log.stop();
  } finally {
    await host.close();
  }
});
