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

async function setup(
  label: string,
): Promise<{ dir: string; d: Deployment; events: FolderEvent[]; folder: PluginFolder }> {
  const base = join(root, label);
  const dir = join(base, 'plugins');
  await mkdir(dir, { recursive: true });
  const d = await Deployment.open({ dataDir: join(base, 'data'), probationMs: 0 });
  const events: FolderEvent[] = [];
  const folder = new PluginFolder(dir, d, {
    stableMs: 40,
    debounceMs: 20,
    onEvent: (e) => events.push(e),
  });
  return { dir, d, events, folder };
}

const version = async (d: Deployment): Promise<unknown> => d.host.call('calc', 'version', {});

test('pickBest: highest semver, then newest file, then the path that sorts last', () => {
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

test('two versions in the folder at start: the higher semver serves', async () => {
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

test('same version, two builds: the newer file wins (the documented tie rule)', async () => {
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

test('a burst of new versions coalesces into one reload of the newest', async () => {
  const { dir, d, folder } = await setup('burst');
  try {
    await placeArtifact(molt['1.0.0']!, dir);
    await folder.start();
    assert.equal(await version(d), 'v1');
    const reloads: string[] = [];
    d.host.on('reload.succeeded', (e) => reloads.push(e.to.version));
    await Promise.all(['1.2.0', '1.10.0', '2.0.0'].map((v) => placeArtifact(molt[v]!, dir)));
    await waitUntil(() => reloads.length > 0);
    await folder.idle();
    assert.deepEqual(reloads, ['2.0.0']);
    assert.equal(await version(d), 'v2');
  } finally {
    await folder.close();
    await d.close();
  }
});

test('a .molt still being written is never loaded half-done', async () => {
  const { dir, d, events, folder } = await setup('half');
  try {
    await folder.start();
    const bytes = await readFile(molt['1.0.0']!);
    const handle = await open(join(dir, 'calc.molt'), 'w');
    await handle.write(bytes.subarray(0, bytes.length >> 1));
    // The writer stalls long enough for the file to look stable: it is read, refused, not loaded.
    await waitUntil(() => events.some((e) => e.type === 'rejected'));
    assert.equal(d.host.plugins().length, 0);
    await handle.write(bytes.subarray(bytes.length >> 1));
    await handle.close();
    await waitUntil(() => events.some((e) => e.type === 'activated'));
    assert.equal(await version(d), 'v1');
    const rejected = events.find((e) => e.type === 'rejected');
    assert.equal(rejected?.type === 'rejected' && rejected.code, 'ARCHIVE_CORRUPT');
  } finally {
    await folder.close();
    await d.close();
  }
});

test('removing the serving version falls back to the next best; removing the last unloads', async () => {
  const { dir, d, events, folder } = await setup('remove');
  try {
    const v1 = await placeArtifact(molt['1.0.0']!, dir);
    const v2 = await placeArtifact(molt['2.0.0']!, dir);
    await folder.start();
    assert.equal(await version(d), 'v2');
    await rm(v2);
    await waitUntil(() => events.some((e) => e.type === 'activated' && e.version === '1.0.0'));
    assert.equal(await version(d), 'v1');
    assert.equal(
      d.catalog.plugin('calc')?.pendingDelete.length,
      1,
      'the removed version goes on the next start',
    );
    await rm(v1);
    await waitUntil(() => events.some((e) => e.type === 'removed'));
    await assert.rejects(version(d), { code: 'UNKNOWN_PLUGIN' });
    assert.equal(d.catalog.plugin('calc')?.pendingDelete.length, 2);
  } finally {
    await folder.close();
    await d.close();
  }
});

/** Waits for a condition the watcher's events make true; bounded, one macrotask per check. */
async function waitUntil(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('condition not reached');
}
