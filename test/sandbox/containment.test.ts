/**
 * G4 against a hostile plugin: every attack found by trying molt as a hostile plugin author
 * would ends in a coded error for that plugin alone. Throughout each attack an unrelated plugin
 * is called back to back and must answer every call, on the same generation; the folders the
 * attacker aimed at must not change by a byte; the control token is never in an answer.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createHost, type Host, type HostOptions } from '../../src/index.js';
import type { Isolation } from '../../src/sandbox/permissions.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import {
  assertBystanderServes,
  BYSTANDER,
  bystanderGeneration,
  bystanderSource,
  nextEvent,
  withCode,
} from '../helpers/faults-plugins.js';
import { bystanderLoad, EVIL, evilSource, rssWatch, treeDigest } from '../helpers/hostile.js';

test.after(cleanArtifacts);

const LIMIT = { timeout: 120_000 };
const TOKEN = 'control-token-that-must-never-leak';
const SECRET = 'MOLT_TEST_HOST_SECRET';

interface Arena {
  host: Host;
  dataDir: string;
  victimDir: string;
  generation: number;
  /** Digest of the data folder and the victim's artifact folder, taken after set-up. */
  digest(): Promise<string>;
}

async function arena(
  t: TestContext,
  isolation: Isolation,
  manifest: Record<string, unknown> = {},
  options: HostOptions = {},
): Promise<Arena> {
  process.env[SECRET] = 'host-only';
  const dataDir = await mkdtemp(join(tmpdir(), 'molt-arena-'));
  await writeFile(join(dataDir, 'control.json'), JSON.stringify({ token: TOKEN }), {
    mode: 0o600,
  });
  const host = await createHost({
    isolation,
    dataDir,
    restartBackoff: { initialMs: 10 },
    ...options,
  });
  t.after(async () => {
    await host.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const victimDir = await writeArtifact({ name: BYSTANDER, source: bystanderSource });
  await host.load(victimDir);
  await host.load(await writeArtifact({ name: EVIL, source: evilSource, manifest }));
  assert.equal(host.plugin(EVIL)?.isolation, isolation);
  const digest = async () => `${await treeDigest(dataDir)}/${await treeDigest(victimDir)}`;
  return { host, dataDir, victimDir, generation: bystanderGeneration(host), digest };
}

/**
 * Runs `attack` while the bystander is called back to back, then checks the bystander answered
 * every call on the same generation and nothing on disk changed.
 */
async function underLoad<T>(a: Arena, attack: () => Promise<T>): Promise<T> {
  const before = await a.digest();
  const load = bystanderLoad(a.host);
  let result: T;
  try {
    result = await attack();
  } finally {
    const seen = await load.stop();
    assert.deepEqual(seen.failures, [], 'the bystander answered every call');
    assert.ok(seen.calls > 0, 'the bystander was called during the attack');
  }
  await assertBystanderServes(a.host, a.generation);
  assert.equal(await a.digest(), before, 'nothing on disk changed');
  return result;
}

/** The attack's call fails with `code` (and the token is in no message). */
async function refused(a: Arena, tool: string, args: unknown, code: string, message?: RegExp) {
  await assert.rejects(a.host.call(EVIL, tool, args), (err: Error) => {
    assert.ok(!String(err.message).includes(TOKEN), 'the token never reaches an answer');
    return withCode(code, message)(err);
  });
}

interface Tally {
  delivered: number;
  logs: number;
  outputBytes: number;
}

/**
 * Counts the evil plugin's log lines delivered and the drops reported (one report a second at
 * most, so a flood longer than a second has several); resolves once `done` says so.
 */
function dropTally(host: Host, done: (seen: Tally) => boolean): Promise<Tally> {
  const seen: Tally = { delivered: 0, logs: 0, outputBytes: 0 };
  return new Promise((resolve) => {
    const off = host.on('plugin.log', (e) => {
      if (e.name !== EVIL) return;
      if (e.dropped === undefined) seen.delivered++;
      else {
        seen.logs += e.dropped.logs;
        seen.outputBytes += e.dropped.outputBytes;
      }
      if (done(seen)) {
        off();
        resolve(seen);
      }
    });
  });
}

/** Causes a crash of the evil plugin and waits until its slot recovered. */
async function crashes(a: Arena, tool: string, args: unknown, code: string) {
  const recovered = nextEvent(a.host, 'plugin.recovered', (e) => e.name === EVIL);
  await refused(a, tool, args, code);
  await recovered;
  assert.equal(await a.host.call(EVIL, 'ping', {}), 'evil');
}

for (const isolation of ['worker', 'process'] as const) {
  test(
    `${isolation}: messages forged on the host channel end that sandbox with PROTOCOL_ERROR`,
    LIMIT,
    async (t) => {
      const a = await arena(t, isolation);
      await underLoad(a, async () => {
        await crashes(a, 'forge', { value: null }, 'PROTOCOL_ERROR');
        await crashes(a, 'forge', { value: { t: 'bogus' } }, 'PROTOCOL_ERROR');
        await crashes(a, 'forge', { value: [1, 2, 3] }, 'PROTOCOL_ERROR');
        // Well-formed but over the bounds the runtime keeps: texts the host would carry on.
        const long = 'x'.repeat(100_000);
        await crashes(
          a,
          'forge',
          { value: { t: 'log', level: 'info', msg: long } },
          'PROTOCOL_ERROR',
        );
        await crashes(
          a,
          'forge',
          { value: { t: 'err', id: 1, error: { code: 'X', message: long } } },
          'PROTOCOL_ERROR',
        );
        if (isolation === 'process') {
          // A frame that does not deserialize, and one announcing more than the cap.
          await crashes(
            a,
            'forgeBytes',
            { bytes: [0, 0, 0, 3, 0xff, 0xff, 0xff] },
            'PROTOCOL_ERROR',
          );
          await crashes(a, 'forgeBytes', { bytes: [0x7f, 0xff, 0xff, 0xff] }, 'PROTOCOL_ERROR');
        }
      });
    },
  );

  test(`${isolation}: a signal to the host or its process group is refused`, LIMIT, async (t) => {
    const a = await arena(t, isolation);
    await underLoad(a, async () => {
      const hostPid = isolation === 'worker' ? 'self' : 'parent';
      await refused(a, 'kill', { pid: hostPid }, 'PERMISSION_DENIED', /Signal/);
      await refused(a, 'kill', { pid: 0 }, 'PERMISSION_DENIED', /Signal 0/);
      await refused(a, 'kill', { pid: -1 }, 'PERMISSION_DENIED');
      await refused(a, 'kill', { pid: process.pid }, 'PERMISSION_DENIED');
      // Not a crash: the sandbox was never touched.
      assert.equal(await a.host.call(EVIL, 'ping', {}), 'evil');
      if (isolation === 'process') {
        // A plugin may end itself: its own process, a crash like any other.
        await crashes(a, 'kill', { pid: 'self' }, 'PLUGIN_CRASHED');
      }
    });
    assert.equal(a.host.plugin(EVIL)?.stats.crashes, isolation === 'process' ? 1 : 0);
  });

  test(
    `${isolation}: long log and progress texts are cut, large log data left out`,
    LIMIT,
    async (t) => {
      const a = await arena(t, isolation);
      const logged = nextEvent(a.host, 'plugin.log', (e) => e.name === EVIL);
      let note = '';
      const answer = await a.host.call(
        EVIL,
        'longLog',
        {},
        { onProgress: (p) => (note = p.message ?? '') },
      );
      assert.equal(answer, 'logged');
      const e = await logged;
      assert.equal(e.msg.length, 8 * 1024 + 1);
      assert.match(String(e.data), /left out/);
      assert.equal(note.length, 8 * 1024 + 1);
    },
  );

  test(`${isolation}: a result over limits.maxResultMb is RESULT_TOO_LARGE`, LIMIT, async (t) => {
    const a = await arena(t, isolation);
    await underLoad(a, async () => {
      await refused(a, 'big', { mb: 200 }, 'RESULT_TOO_LARGE', /16 MB/);
      assert.equal((await a.host.call(EVIL, 'big', { mb: 1 })) as string, 'x'.repeat(1 << 20));
    });
  });

  test(
    `${isolation}: 3 million ctx.log calls: host RSS within 100 MB, the bystander's p99 under 50 ms, the drop reported`,
    LIMIT,
    async (t) => {
      const a = await arena(t, isolation);
      const lines = 3_000_000;
      const drops = dropTally(a.host, (seen) => seen.delivered + seen.logs >= lines);
      const rss = rssWatch();
      const load = bystanderLoad(a.host);
      assert.equal(await a.host.call(EVIL, 'flood', { lines }), 'flooded');
      const seen = await load.stop();
      const grewMb = rss.stop();
      const { delivered } = await drops;
      assert.deepEqual(seen.failures, []);
      assert.ok(seen.calls > 0);
      assert.ok(seen.p99Ms < 50, `bystander p99 ${seen.p99Ms.toFixed(1)} ms`);
      assert.ok(grewMb < 100, `host RSS grew ${grewMb.toFixed(0)} MB`);
      assert.ok(delivered <= 2_000 + 1_000 * 60, `${delivered} lines delivered`);
      await assertBystanderServes(a.host, a.generation);
    },
  );

  test(
    `${isolation}: stdout flood: the host carries at most the output budget and reports the rest`,
    LIMIT,
    async (t) => {
      let carried = 0;
      const a = await arena(
        t,
        isolation,
        {},
        { output: (_p, _s, chunk) => (carried += chunk.length) },
      );
      const drops = dropTally(a.host, (seen) => seen.outputBytes > 16 * 1024 * 1024);
      const started = performance.now();
      await underLoad(a, async () => {
        assert.equal(await a.host.call(EVIL, 'shout', { mb: 32 }), 'shouted');
      });
      await drops;
      const seconds = (performance.now() - started) / 1000;
      // Burst 1 MiB + 256 KiB a second, per stream.
      assert.ok(carried <= (1 + 0.25 * (seconds + 1)) * 1024 * 1024, `${carried} bytes carried`);
    },
  );
}

test("worker: the inspector cannot attach to the host's main thread", LIMIT, async (t) => {
  const a = await arena(t, 'worker');
  await underLoad(a, async () => {
    await refused(a, 'inspect', { promises: false }, 'PERMISSION_DENIED', /Inspector/);
    await refused(a, 'inspect', { promises: true }, 'PERMISSION_DENIED', /Inspector/);
    await refused(a, 'binding', {}, 'PERMISSION_DENIED', /Inspector/);
  });
});

test("process: the file system is the plugin's own folders only", LIMIT, async (t) => {
  const a = await arena(t, 'process');
  await underLoad(a, async () => {
    const denied = /permission denied: FileSystem(Read|Write)/;
    await refused(
      a,
      'read',
      { path: join(a.dataDir, 'control.json') },
      'PERMISSION_DENIED',
      denied,
    );
    await refused(a, 'read', { path: '/etc/passwd' }, 'PERMISSION_DENIED', /\/etc\/passwd/);
    await refused(a, 'read', { path: join(a.victimDir, 'index.mjs') }, 'PERMISSION_DENIED', denied);
    // The attack that worked: rewrite another plugin's artifact, entry and manifest.
    await refused(
      a,
      'write',
      { path: join(a.victimDir, 'index.mjs'), text: 'export default { tools: {} }' },
      'PERMISSION_DENIED',
      denied,
    );
    await refused(
      a,
      'write',
      { path: join(a.dataDir, 'control.json'), text: '{}' },
      'PERMISSION_DENIED',
    );
    await refused(
      a,
      'write',
      { path: join(a.dataDir, 'plugins', BYSTANDER, 'x'), text: 'x' },
      'PERMISSION_DENIED',
    );
    await refused(a, 'exec', {}, 'PERMISSION_DENIED', /ChildProcess/);
    assert.deepEqual(await a.host.call(EVIL, 'env', {}), {}, 'no host environment variable');
  });
  // Its own data folder is its to write, and it is where the host says.
  const own = a.host.plugin(EVIL)!.dataDir;
  assert.equal(await a.host.call(EVIL, 'dataDir', {}), own);
  assert.equal(
    await a.host.call(EVIL, 'write', { path: join(own, 'notes'), text: 'mine' }),
    'written',
  );
  assert.equal(await a.host.call(EVIL, 'read', { path: join(own, 'notes') }), 'mine');
});

test(
  'process: 1.5 GB of Buffers with limits.memoryMb 256 ends with MEMORY_LIMIT; the host grows < 100 MB',
  LIMIT,
  async (t) => {
    const a = await arena(t, 'process', { limits: { memoryMb: 256 } });
    const rss = rssWatch();
    await underLoad(a, async () => {
      await crashes(a, 'hog', { mb: 1536 }, 'MEMORY_LIMIT');
    });
    const grewMb = rss.stop();
    assert.ok(grewMb < 100, `host RSS grew ${grewMb.toFixed(0)} MB`);
    // Under the cap, the same tool works.
    assert.equal(await a.host.call(EVIL, 'hog', { mb: 16 }), 16);
  },
);

test('process: granted paths and variables, exactly those', LIMIT, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'molt-grants-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const granted = join(root, 'granted');
  const other = join(root, 'other');
  await mkdir(granted);
  await mkdir(other);
  await writeFile(join(granted, 'file.txt'), 'granted');
  await writeFile(join(other, 'file.txt'), 'other');
  process.env.MOLT_TEST_GRANTED = 'yes';
  const a = await arena(t, 'process', {
    permissions: { fs: { read: [granted], write: ['exports'] }, env: ['MOLT_TEST_GRANTED'] },
  });
  await underLoad(a, async () => {
    assert.equal(await a.host.call(EVIL, 'read', { path: join(granted, 'file.txt') }), 'granted');
    await refused(a, 'read', { path: join(other, 'file.txt') }, 'PERMISSION_DENIED');
    await refused(a, 'write', { path: join(granted, 'new.txt'), text: 'x' }, 'PERMISSION_DENIED');
    assert.deepEqual(await a.host.call(EVIL, 'env', {}), { MOLT_TEST_GRANTED: 'yes' });
  });
});

test(
  'a relative permissions path may not leave the data folder: MANIFEST_INVALID',
  LIMIT,
  async (t) => {
    const host = await createHost({ isolation: 'process' });
    t.after(() => host.close());
    const dir = await writeArtifact({
      name: EVIL,
      source: evilSource,
      manifest: { permissions: { fs: { read: ['../../control.json'] } } },
    });
    await assert.rejects(
      host.load(dir),
      withCode('MANIFEST_INVALID', /leaves the plugin's data folder/),
    );
  },
);

test('the host sets the least isolation; a manifest may ask for more', LIMIT, async (t) => {
  const worker = await createHost();
  t.after(() => worker.close());
  await worker.load(await writeArtifact({ name: 'a', source: bystanderSource }));
  await worker.load(
    await writeArtifact({ name: 'b', source: bystanderSource, manifest: { isolation: 'process' } }),
  );
  assert.deepEqual(
    worker.plugins().map((p) => [p.name, p.isolation]),
    [
      ['a', 'worker'],
      ['b', 'process'],
    ],
  );
  const strict = await createHost({ isolation: 'process' });
  t.after(() => strict.close());
  await strict.load(
    await writeArtifact({ name: 'c', source: bystanderSource, manifest: { isolation: 'worker' } }),
  );
  assert.equal(strict.plugin('c')?.isolation, 'process');
  await assert.rejects(
    createHost({ isolation: 'vm' as never }),
    withCode('OPTIONS_INVALID', /isolation/),
  );
});
