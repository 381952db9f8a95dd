/** The watched folder, in process: which candidate wins, bursts, half-written files, removal. */
import assert from 'node:assert/strict';
import { mkdir, open, readFile, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Deployment } from '../../src/deploy/deployment.js';
import { pack } from '../../src/pack/index.js';
import {
  type Candidate,
  type FolderEvent,
  PluginFolder,
  pickBest,
} from '../../src/watch/plugin-folder.js';
import { placeArtifact, pluginSource, tempDir, writeProject } from '../helpers/project.js';

/** An awaited event that never comes fails the test instead of hanging it. */
const LIMIT = { timeout: 30_000 };

let root = '';
const molt: Record<string, string> = {};
before(async () => {
  root = await tempDir('watch');
  for (const [version, tag] of [
    ['1.0.0', 'v1'],
    ['1.2.0', 'v12'],
    ['1.10.0', 'v110'],
    ['2.0.0', 'v2'],
  ] as const) {
    const project = await writeProject(
      join(root, `p-${version}`),
      'calc',
      version,
      pluginSource(tag),
    );
    molt[version] = (await pack(project, { outDir: join(root, 'packed', version) })).file;
  }
  // Same version, another build: for the tie rule.
  const other = await writeProject(join(root, 'p-tie'), 'calc', '2.0.0', pluginSource('v2-other'));
  molt.tie = (await pack(other, { outDir: join(root, 'packed', 'tie') })).file;
});
after(() => rm(root, { recursive: true, force: true }));

interface Setup {
  dir: string;
  d: Deployment;
  events: FolderEvent[];
  folder: PluginFolder;
  /** Resolves once the folder has reported an event matching `match` (past or future). */
  until(match: (e: FolderEvent) => boolean): Promise<void>;
}

async function setup(label: string): Promise<Setup> {
  const base = join(root, label);
  const dir = join(base, 'plugins');
  await mkdir(dir, { recursive: true });
  const d = await Deployment.open({ dataDir: join(base, 'data'), probationMs: 0 });
  const events: FolderEvent[] = [];
  let waiters: { match: (e: FolderEvent) => boolean; resolve: () => void }[] = [];
  const folder = new PluginFolder(dir, d, {
    stableMs: 40,
    debounceMs: 20,
    onEvent: (e) => {
      events.push(e);
      const hit = waiters.filter((w) => w.match(e));
      waiters = waiters.filter((w) => !w.match(e));
      for (const w of hit) w.resolve();
    },
  });
  const until = (match: (e: FolderEvent) => boolean): Promise<void> =>
    events.some(match)
      ? Promise.resolve()
      : new Promise((resolve) => waiters.push({ match, resolve }));
  return { dir, d, events, folder, until };
}

const version = async (d: Deployment): Promise<unknown> => d.host.call('calc', 'version', {});

test('pickBest: highest semver, then newest file, then the path that sorts last', LIMIT, () => {
  const c = (version: string, mtimeMs: number, path: string): Candidate => ({
    path,
    version,
    mtimeMs,
    name: 'x',
    buildId: path,
  });
  assert.equal(pickBest([c('1.2.0', 9, 'a'), c('1.10.0', 1, 'b')])?.path, 'b');
  assert.equal(pickBest([c('2.0.0-rc.1', 9, 'a'), c('2.0.0', 1, 'b')])?.path, 'b');
  assert.equal(pickBest([c('2.0.0', 5, 'a'), c('2.0.0', 7, 'b'), c('2.0.0', 6, 'c')])?.path, 'b');
  assert.equal(pickBest([c('2.0.0', 5, 'a'), c('2.0.0', 5, 'b')])?.path, 'b');
  assert.equal(pickBest([]), undefined);
});

test('two versions in the folder at start: the higher semver serves', LIMIT, async () => {
  const { dir, d, folder } = await setup('start');
  try {
    await placeArtifact(molt['1.2.0']!, dir);
    await placeArtifact(molt['1.10.0']!, dir);
    await folder.start();
    assert.equal(await version(d), 'v110');
  } finally {
    await folder.close();
    await d.close();
  }
});

test('same version, two builds: the newer file wins (the documented tie rule)', LIMIT, async () => {
  const { dir, d, folder } = await setup('tie');
  try {
    const a = await placeArtifact(molt['2.0.0']!, dir, 'calc-a.molt');
    const b = await placeArtifact(molt.tie!, dir, 'calc-b.molt');
    await utimes(a, new Date(2_000_000_000_000), new Date(2_000_000_000_000));
    await utimes(b, new Date(1_000_000_000_000), new Date(1_000_000_000_000));
    await folder.start();
    assert.equal(await version(d), 'v2');
  } finally {
    await folder.close();
    await d.close();
  }
});

test('a burst of new versions coalesces into one reload of the newest', LIMIT, async () => {
  const { dir, d, folder, until } = await setup('burst');
  try {
    await placeArtifact(molt['1.0.0']!, dir);
    await folder.start();
    assert.equal(await version(d), 'v1');
    const reloads: string[] = [];
    d.host.on('reload.succeeded', (e) => reloads.push(e.to.version));
    await Promise.all(['1.2.0', '1.10.0', '2.0.0'].map((v) => placeArtifact(molt[v]!, dir)));
    await until((e) => e.type === 'activated' && e.version === '2.0.0');
    await folder.idle();
    assert.deepEqual(reloads, ['2.0.0']);
    assert.equal(await version(d), 'v2');
  } finally {
    await folder.close();
    await d.close();
  }
});

test('a .molt still being written is never loaded half-done', LIMIT, async () => {
  const { dir, d, events, folder, until } = await setup('half');
  try {
    await folder.start();
    const bytes = await readFile(molt['1.0.0']!);
    const handle = await open(join(dir, 'calc.molt'), 'w');
    await handle.write(bytes.subarray(0, bytes.length >> 1));
    // The writer stalls long enough for the file to look stable: it is read, refused, not loaded.
    await until((e) => e.type === 'rejected');
    assert.equal(d.host.plugins().length, 0);
    await handle.write(bytes.subarray(bytes.length >> 1));
    await handle.close();
    await until((e) => e.type === 'activated');
    assert.equal(await version(d), 'v1');
    const rejected = events.find((e) => e.type === 'rejected');
    assert.equal(rejected?.type === 'rejected' && rejected.code, 'ARCHIVE_CORRUPT');
  } finally {
    await folder.close();
    await d.close();
  }
});

test(
  'removing the serving version falls back to the next best; removing the last unloads',
  LIMIT,
  async () => {
    const { dir, d, folder, until } = await setup('remove');
    try {
      const v1 = await placeArtifact(molt['1.0.0']!, dir);
      const v2 = await placeArtifact(molt['2.0.0']!, dir);
      await folder.start();
      assert.equal(await version(d), 'v2');
      await rm(v2);
      await until((e) => e.type === 'activated' && e.version === '1.0.0');
      assert.equal(await version(d), 'v1');
      assert.equal(
        d.catalog.plugin('calc')?.pendingDelete.length,
        1,
        'the removed version goes on the next start',
      );
      await rm(v1);
      await until((e) => e.type === 'removed');
      await assert.rejects(version(d), { code: 'UNKNOWN_PLUGIN' });
      assert.equal(d.catalog.plugin('calc')?.pendingDelete.length, 2);
    } finally {
      await folder.close();
      await d.close();
    }
  },
);
