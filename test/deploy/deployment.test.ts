/** The deployed host across restarts: catalog, known-good fallback, pending deletes. */
import assert from 'node:assert/strict';
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AuditLog } from '../../src/catalog/audit.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { Deployment } from '../../src/deploy/deployment.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { tempDir } from '../helpers/project.js';

const dirs: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function dataDir(): Promise<string> {
  const d = await tempDir('deploy');
  dirs.push(d);
  return d;
}

test('a restart during a trial serves the known-good version; if it no longer loads, the trial', async () => {
  const data = await dataDir();
  const v1 = await writeArtifact({ name: 'p', source: versionPlugin('v1') });
  const v2 = await writeArtifact({ name: 'p', version: '2.0.0', source: versionPlugin('v2') });
  // A long probation: v2 is active but not yet known-good when the host stops.
  const d1 = await Deployment.open({ dataDir: data, probationMs: 60_000 });
  await d1.install(v1);
  await d1.install(v2);
  assert.deepEqual(
    [d1.catalog.plugin('p')?.active?.version, d1.catalog.plugin('p')?.knownGood?.version],
    ['2.0.0', '1.0.0'],
  );
  const stored = d1.store.path('p', '1.0.0', d1.catalog.plugin('p')!.knownGood!.buildId);
  await d1.close();

  // Break v1 in the store (as a disk fault would): the restart falls back to the trial.
  await chmod(stored, 0o755);
  await chmod(join(stored, 'index.mjs'), 0o644);
  await writeFile(join(stored, 'index.mjs'), 'export default {tools:{}}; // tampered');
  const d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
  try {
    assert.equal(await d.host.call('p', 'version', {}), 'v2');
    assert.equal(d.catalog.plugin('p')?.active?.version, '2.0.0');
    const audit = await AuditLog.read(join(data, 'audit.jsonl'));
    const failed = audit.find((e) => e.action === 'restore.failed');
    assert.equal(failed?.version, '1.0.0');
    assert.equal((failed?.error as { code?: string } | undefined)?.code, 'BUILD_MISMATCH');
  } finally {
    await d.close();
  }
});

test('removed plugins are unloaded at once and their store folders deleted on the next start', async () => {
  const data = await dataDir();
  let d = await Deployment.open({ dataDir: data, probationMs: 0 });
  await d.install(await writeArtifact({ name: 'gone', source: versionPlugin('x') }));
  await d.install(await writeArtifact({ name: 'kept', source: versionPlugin('y') }));
  await d.remove('gone');
  await assert.rejects(d.host.call('gone', 'version', {}), { code: 'UNKNOWN_PLUGIN' });
  assert.equal((await readdir(join(data, 'store', 'gone'))).length, 1);
  await d.close();

  d = await Deployment.open({ dataDir: data, probationMs: 0 });
  try {
    assert.deepEqual((await readdir(join(data, 'store'))).sort(), ['.tmp', 'kept']);
    assert.equal(d.catalog.plugin('gone'), undefined);
    assert.equal(await d.host.call('kept', 'version', {}), 'y');
    const actions = (await AuditLog.read(join(data, 'audit.jsonl'))).map(
      (e) => `${e.action}:${e.name}`,
    );
    assert.ok(actions.includes('remove:gone') && actions.includes('delete:gone'));
  } finally {
    await d.close();
  }
});

test('a corrupt catalog stops the start with CATALOG_CORRUPT and is left as it was', async () => {
  const data = await dataDir();
  await writeFile(join(data, 'catalog.json'), '{"format":1,"plugins":{"p":');
  await assert.rejects(Deployment.open({ dataDir: data }), { code: 'CATALOG_CORRUPT' });
  assert.equal(await readFile(join(data, 'catalog.json'), 'utf8'), '{"format":1,"plugins":{"p":');
});

test('catalog writes are atomic: a writer killed before the rename leaves the old catalog', async () => {
  const data = await dataDir();
  const file = join(data, 'catalog.json');
  const catalog = await Catalog.open(file);
  await catalog.update((c) => {
    c.plugins.a = { installed: [], active: null, knownGood: null, pendingDelete: [] };
  });
  const before = await readFile(file, 'utf8');
  const dying = await Catalog.open(file, {
    beforeRename: () => {
      throw new Error('killed');
    },
  });
  await assert.rejects(
    dying.update((c) => {
      c.plugins.b = { installed: [], active: null, knownGood: null, pendingDelete: [] };
    }),
    /killed/,
  );
  assert.equal(await readFile(file, 'utf8'), before);
  assert.equal(dying.plugin('b'), undefined, 'the live record moves only once the file is on disk');
  // A temp file left by a killed writer is swept on open.
  await writeFile(join(data, '.catalog.json.deadbeef.tmp'), 'partial');
  const reopened = await Catalog.open(file);
  assert.ok(reopened.plugin('a'));
  assert.deepEqual((await readdir(data)).sort(), ['catalog.json']);
});

test('one host per data folder: a second gets DATA_LOCKED; a lock left by a dead process is taken over', async () => {
  const data = await dataDir();
  const first = await Deployment.open({ dataDir: data });
  try {
    await assert.rejects(Deployment.open({ dataDir: data }), { code: 'DATA_LOCKED' });
  } finally {
    await first.close();
  }
  // A SIGKILLed host leaves its lock behind, naming a pid that no longer runs.
  const { spawnSync } = await import('node:child_process');
  const dead = spawnSync(process.execPath, [
    '-e',
    'process.stdout.write(String(process.pid))',
  ]).stdout.toString();
  await writeFile(join(data, 'lock'), dead);
  const second = await Deployment.open({ dataDir: data });
  assert.equal(await readFile(join(data, 'lock'), 'utf8'), String(process.pid));
  await second.close();
  await assert.rejects(readFile(join(data, 'lock')), { code: 'ENOENT' });
});

/** A deployment with v1 installed, then v2 (whose `exit` tool crashes it) on trial. */
async function deployOnTrial(data: string): Promise<Deployment> {
  const d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
  await d.install(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
  const crashy = versionPlugin('v2', `exit: { handler: () => { process.exit(1); } },`);
  await d.install(await writeArtifact({ name: 'p', version: '2.0.0', source: crashy }));
  return d;
}

test('a crash rollback in probation is recorded: the restart serves the version swapped back to', async () => {
  const data = await dataDir();
  let d = await deployOnTrial(data);
  assert.equal(await d.host.call('p', 'version', {}), 'v2');
  const rolledBack = new Promise((resolve) => d.host.once('reload.rolledBack', resolve));
  await assert.rejects(d.host.call('p', 'exit', {}), { code: 'PLUGIN_CRASHED' });
  await rolledBack;
  assert.equal(await d.host.call('p', 'version', {}), 'v1');
  await d.close();
  assert.equal(d.catalog.plugin('p')?.active?.version, '1.0.0', 'the catalog says v1 is active');
  assert.equal(d.catalog.plugin('p')?.knownGood?.version, '1.0.0');

  d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
  try {
    assert.equal(await d.host.call('p', 'version', {}), 'v1', 'the crashed v2 stays out');
  } finally {
    await d.close();
  }
});

test('a restart during a trial abandons it: the last permanent version serves, audited', async () => {
  const data = await dataDir();
  let d = await deployOnTrial(data);
  assert.equal(d.host.plugin('p')?.trial?.version, '2.0.0');
  await d.close();

  d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
  try {
    const info = d.host.plugin('p');
    assert.equal(info?.version, '1.0.0', 'v2 was on trial: the restart serves v1');
    assert.equal(info?.state, 'active');
    assert.equal(info?.trial, undefined);
    assert.equal(await d.host.call('p', 'version', {}), 'v1');
  } finally {
    await d.close();
  }
  assert.equal(d.catalog.plugin('p')?.active?.version, '1.0.0');
  const audit = (await readFile(join(data, 'audit.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { action: string; trial?: { version: string } });
  const abandoned = audit.filter((e) => e.action === 'restore.trialAbandoned');
  assert.equal(abandoned.length, 1);
  assert.equal(abandoned[0]?.trial?.version, '2.0.0');
});

test('a trial that ended is permanent: the restart serves the new version', async () => {
  const data = await dataDir();
  let d = await deployOnTrial(data);
  await d.host.promote('p');
  await d.close();
  assert.equal(d.catalog.plugin('p')?.knownGood?.version, '2.0.0');
  // The audit log says how the trial ended.
  const promoted = (await readFile(join(data, 'audit.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as {
          action: string;
          to?: { version: string };
          mode?: string;
          early?: boolean;
        },
    )
    .filter((e) => e.action === 'promoted');
  assert.deepEqual(
    promoted.map((e) => [e.to?.version, e.mode, e.early]),
    [['2.0.0', 'probation', true]],
  );
  d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
  try {
    assert.equal(await d.host.call('p', 'version', {}), 'v2');
  } finally {
    await d.close();
  }
});
