/**
 * The store is the host's, not the plugins': a store folder rewritten behind the host's back
 * (what a hostile plugin with the host's rights can do to another plugin) is refused with
 * BUILD_MISMATCH and never recorded as active, at a reload as at a restart; and a STORE_CONFLICT
 * never unloads the active version nor queues any deletion.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';
import { type AuditEntry, AuditLog } from '../../src/catalog/audit.js';
import { Deployment } from '../../src/deploy/deployment.js';
import type { MoltError } from '../../src/errors/errors.js';
import type { HostEvents } from '../../src/events/events.js';
import { treeDigest } from '../../src/store/verify.js';
import { type FolderEvent, PluginFolder } from '../../src/watch/plugin-folder.js';
import { cleanArtifacts, sha256, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { tempDir } from '../helpers/project.js';

/** An awaited event that never comes fails the test instead of hanging it. */
const LIMIT = { timeout: 60_000 };

const dirs: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function scratch(label: string): Promise<string> {
  const d = await tempDir(label);
  dirs.push(d);
  return d;
}

/**
 * What a hostile plugin running with the host's rights can do to another plugin's store folder:
 * a new entry and a manifest whose buildId is that entry's sha256, so the folder verifies on its
 * own. `manifest` is merged over the rewritten manifest.
 */
async function tamper(
  dir: string,
  source: string,
  manifest: Record<string, unknown> = {},
): Promise<void> {
  await chmod(dir, 0o755);
  for (const f of ['index.mjs', 'molt.json']) await chmod(join(dir, f), 0o644);
  const old = JSON.parse(await readFile(join(dir, 'molt.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'index.mjs'), source);
  await writeFile(
    join(dir, 'molt.json'),
    JSON.stringify({ ...old, buildId: sha256(source), ...manifest }),
  );
}

const EVIL = versionPlugin('evil', `exit: { handler: () => { process.exit(1); } },`);

/** The next `event` of `d`'s host. */
function next<K extends keyof HostEvents>(d: Deployment, event: K): Promise<HostEvents[K]> {
  return new Promise((resolve) => d.host.once(event, resolve));
}

async function auditOf(data: string) {
  return AuditLog.read(join(data, 'audit.jsonl'));
}

const codeOf = (e: AuditEntry): string | undefined =>
  (e.error as { code?: string } | undefined)?.code;

test(
  'a store folder rewritten behind the host: a reload refuses it, the old version serves',
  LIMIT,
  async () => {
    const data = await scratch('integrity-reload');
    const d = await Deployment.open({ dataDir: data, probationMs: 0 });
    try {
      const v1 = await d.install(
        await writeArtifact({ name: 'victim', source: versionPlugin('v1') }),
      );
      const before = d.catalog.plugin('victim');
      await tamper(d.store.path('victim', v1.version, v1.buildId), EVIL);

      const failed = next(d, 'reload.failed');
      await assert.rejects(d.reload('victim'), { code: 'BUILD_MISMATCH' });
      assert.equal((await failed).error.code, 'BUILD_MISMATCH');
      assert.equal(await d.host.call('victim', 'version', {}), 'v1');
      assert.equal(d.host.plugin('victim')?.buildId, v1.buildId);
      assert.deepEqual(d.catalog.plugin('victim'), before, 'the catalog is unchanged');
    } finally {
      await d.close();
    }
    const failure = (await auditOf(data)).find((e) => e.action === 'failure');
    assert.equal(failure && codeOf(failure), 'BUILD_MISMATCH');
  },
);

test(
  'a staged version rewritten before it is activated is refused, as a first load and as an upgrade',
  LIMIT,
  async () => {
    const data = await scratch('integrity-activate');
    const d = await Deployment.open({ dataDir: data, probationMs: 0 });
    try {
      // A first load: nothing of the plugin runs, nothing is recorded as active.
      const a = await d.stage(await writeArtifact({ name: 'fresh', source: versionPlugin('a') }));
      await tamper(a.dir, EVIL);
      await assert.rejects(d.activate(a), { code: 'BUILD_MISMATCH' });
      assert.equal(d.host.plugin('fresh'), undefined);
      assert.equal(d.catalog.plugin('fresh')?.active, null);

      // An upgrade: v1 keeps serving.
      await d.install(await writeArtifact({ name: 'victim', source: versionPlugin('v1') }));
      const v2 = await d.stage(
        await writeArtifact({ name: 'victim', version: '2.0.0', source: versionPlugin('v2') }),
      );
      const before = d.catalog.plugin('victim');
      await tamper(v2.dir, EVIL);
      await assert.rejects(d.activate(v2), { code: 'BUILD_MISMATCH' });
      assert.equal(await d.host.call('victim', 'version', {}), 'v1');
      assert.deepEqual(d.catalog.plugin('victim'), before);

      // A manifest that now names another plugin loads nothing under that name either.
      const b = await d.stage(await writeArtifact({ name: 'named', source: versionPlugin('b') }));
      await tamper(b.dir, EVIL, { name: 'hijacked' });
      await assert.rejects(d.activate(b), { code: 'NAME_MISMATCH' });
      assert.equal(d.host.plugin('hijacked'), undefined);
      assert.equal(d.catalog.plugin('hijacked'), undefined);
    } finally {
      await d.close();
    }
  },
);

test(
  'the version on trial rewritten while the host was down: the restart serves the known-good one, deletes nothing',
  LIMIT,
  async () => {
    const data = await scratch('integrity-restart');
    // A long probation: v2 is active, v1 known-good, when the host stops.
    let d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
    await d.install(await writeArtifact({ name: 'victim', source: versionPlugin('v1') }));
    const v2 = await d.install(
      await writeArtifact({ name: 'victim', version: '2.0.0', source: versionPlugin('v2') }),
    );
    await d.close();
    await tamper(d.store.path('victim', '2.0.0', v2.buildId), EVIL);

    d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
    try {
      assert.equal(await d.host.call('victim', 'version', {}), 'v1');
      const r = d.catalog.plugin('victim')!;
      assert.equal(r.active?.version, '1.0.0', 'the rewritten version is never recorded as active');
      assert.deepEqual(r.pendingDelete, []);
      assert.equal(r.installed.length, 2);
    } finally {
      await d.close();
    }
    // v2 was on trial: the restart abandons it for v1 and never reads the rewritten folder.
    const audit = await auditOf(data);
    assert.deepEqual(
      audit.filter((e) => e.action === 'restore.failed'),
      [],
    );
    assert.equal(audit.filter((e) => e.action === 'restore.trialAbandoned').length, 1);
  },
);

test(
  'the known-good version rewritten while the host was down is never the fallback of a trial',
  LIMIT,
  async () => {
    const data = await scratch('integrity-known-good');
    let d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
    const v1 = await d.install(
      await writeArtifact({ name: 'victim', source: versionPlugin('v1') }),
    );
    const crashy = versionPlugin('v2', `exit: { handler: () => { process.exit(1); } },`);
    await d.install(await writeArtifact({ name: 'victim', version: '2.0.0', source: crashy }));
    await d.close();
    await tamper(d.store.path('victim', '1.0.0', v1.buildId), EVIL);

    d = await Deployment.open({
      dataDir: data,
      probationMs: 60_000,
      restartBackoff: { initialMs: 1 },
    });
    try {
      assert.equal(await d.host.call('victim', 'version', {}), 'v2');
      // A crash now restarts a version the host verified, never the rewritten folder.
      const recovered = next(d, 'plugin.recovered');
      await assert.rejects(d.host.call('victim', 'exit', {}), { code: 'PLUGIN_CRASHED' });
      assert.equal((await recovered).to.version, '2.0.0');
      assert.equal(await d.host.call('victim', 'version', {}), 'v2');
      assert.deepEqual(d.catalog.plugin('victim')?.pendingDelete, []);
      assert.equal(d.catalog.plugin('victim')?.installed.length, 2);
    } finally {
      await d.close();
    }
    const failed = (await auditOf(data)).filter((e) => e.action === 'restore.failed');
    assert.deepEqual(
      failed.map((e) => [e.version, codeOf(e)]),
      [['1.0.0', 'BUILD_MISMATCH']],
    );
  },
);

test(
  'a manifest rewritten around the same build (another config) is refused at reload and at restart',
  LIMIT,
  async () => {
    const data = await scratch('integrity-manifest');
    const source = versionPlugin('v1', `config: { handler: (_args, ctx) => ctx.config },`);
    let d = await Deployment.open({ dataDir: data, probationMs: 0 });
    const v1 = await d.install(
      await writeArtifact({ name: 'victim', source, manifest: { config: { upstream: 'ours' } } }),
    );
    const before = d.catalog.plugin('victim');
    const stored = d.store.path('victim', v1.version, v1.buildId);
    // The entry and its buildId stay; only what the manifest tells the host changes.
    await chmod(stored, 0o755);
    await chmod(join(stored, 'molt.json'), 0o644);
    const manifest = JSON.parse(await readFile(join(stored, 'molt.json'), 'utf8')) as object;
    await writeFile(
      join(stored, 'molt.json'),
      JSON.stringify({ ...manifest, config: { upstream: 'theirs' } }),
    );
    try {
      await assert.rejects(d.reload('victim'), (err: MoltError) => {
        assert.equal(err.code, 'BUILD_MISMATCH');
        assert.match(err.message, /another manifest/);
        return true;
      });
      assert.deepEqual(await d.host.call('victim', 'config', {}), { upstream: 'ours' });
    } finally {
      await d.close();
    }

    d = await Deployment.open({ dataDir: data, probationMs: 0 });
    try {
      assert.equal(d.host.plugin('victim'), undefined, 'the rewritten manifest is not loaded');
      assert.deepEqual(d.catalog.plugin('victim'), before, 'the catalog keeps the victim');
    } finally {
      await d.close();
    }
    const failed = (await auditOf(data)).filter((e) => e.action === 'restore.failed');
    assert.deepEqual(
      failed.map((e) => [e.version, codeOf(e)]),
      [['1.0.0', 'BUILD_MISMATCH']],
    );
  },
);

/** An artifact folder named `label` in the watched folder `plugins`. */
async function place(
  plugins: string,
  label: string,
  name: string,
  version: string,
  source: string,
  manifest: Record<string, unknown> = {},
): Promise<void> {
  const dir = join(plugins, label);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'index.mjs'), source);
  const m = { name, version, entry: 'index.mjs', buildId: sha256(source), ...manifest };
  await writeFile(join(dir, 'molt.json'), JSON.stringify(m));
}

/** `molt serve` in process: a deployment and its watched folder, started. */
async function serveFolder(
  data: string,
  plugins: string,
): Promise<{ d: Deployment; folder: PluginFolder; events: FolderEvent[]; stop(): Promise<void> }> {
  const d = await Deployment.open({ dataDir: data, probationMs: 0 });
  const events: FolderEvent[] = [];
  const folder = new PluginFolder(plugins, d, {
    stableMs: 40,
    debounceMs: 20,
    onEvent: (e) => events.push(e),
  });
  try {
    await folder.start();
  } catch (err) {
    await folder.close();
    await d.close();
    throw err;
  }
  return {
    d,
    folder,
    events,
    stop: async () => {
      await folder.close();
      await d.close();
    },
  };
}

/** Each refused folder (by name) with its code; a folder may be scanned more than once. */
const rejected = (events: FolderEvent[]): string[] => [
  ...new Set(
    events.flatMap((e) => (e.type === 'rejected' ? [`${basename(e.path)} ${e.code}`] : [])),
  ),
];

test(
  'molt serve after a store folder was rewritten: the victim is neither replaced nor removed, nothing is queued for deletion',
  LIMIT,
  async () => {
    const base = await scratch('integrity-serve');
    const plugins = join(base, 'plugins');
    const data = join(base, 'data');
    await place(plugins, 'victim', 'victim', '1.0.0', versionPlugin('v1'));
    await place(plugins, 'other', 'other', '1.0.0', versionPlugin('o1'));
    let s = await serveFolder(data, plugins);
    assert.equal(await s.d.host.call('victim', 'version', {}), 'v1');
    const before = s.d.catalog.plugin('victim')!;
    const stored = s.d.store.path('victim', '1.0.0', before.active!.buildId);
    await s.stop();
    await tamper(stored, EVIL);
    const tampered = await treeDigest(stored);

    s = await serveFolder(data, plugins);
    try {
      // The only build of the victim the host has is not the one it accepted: it does not run.
      assert.notEqual(s.d.host.plugin('victim')?.buildId, sha256(EVIL));
      await assert.rejects(s.d.host.call('victim', 'version', {}), { code: 'UNKNOWN_PLUGIN' });
      // Its genuine artifact in the folder conflicts with the rewritten one: reported, not a removal.
      assert.deepEqual(rejected(s.events), ['victim STORE_CONFLICT']);
      assert.ok(!s.events.some((e) => e.type === 'removed'));
      assert.deepEqual(s.d.catalog.plugin('victim'), before, 'the catalog keeps the victim');
      assert.equal(await treeDigest(stored), tampered, 'the store folder is left for inspection');
      assert.equal(await s.d.host.call('other', 'version', {}), 'o1');
    } finally {
      await s.stop();
    }
    const failed = (await auditOf(data)).filter((e) => e.action === 'restore.failed');
    assert.deepEqual(
      failed.map((e) => [e.name, codeOf(e)]),
      [['victim', 'BUILD_MISMATCH']],
    );
    assert.ok(!(await auditOf(data)).some((e) => e.action === 'remove' || e.action === 'delete'));
  },
);

test(
  'a STORE_CONFLICT in the watched folder never unloads or replaces what serves, nor queues a deletion',
  LIMIT,
  async () => {
    const base = await scratch('integrity-conflict');
    const plugins = join(base, 'plugins');
    const data = join(base, 'data');
    // `solo` has one version; `duo` and `top` two each: duo's older one will conflict, top's newer.
    await place(plugins, 'solo', 'solo', '1.0.0', versionPlugin('s1'));
    for (const p of ['duo', 'top']) {
      await place(plugins, `${p}-1`, p, '1.0.0', versionPlugin(`${p}1`));
      await place(plugins, `${p}-2`, p, '2.0.0', versionPlugin(`${p}2`));
    }
    let s = await serveFolder(data, plugins);
    const before = Object.fromEntries(
      ['solo', 'duo', 'top'].map((p) => [p, s.d.catalog.plugin(p)!] as const),
    );
    const soloDir = s.d.store.path('solo', '1.0.0', before.solo!.active!.buildId);
    const soloFiles = await treeDigest(soloDir);
    await s.stop();

    // While the host is down, each is replaced by a twin of the same name, version and build whose
    // manifest differs: the store already holds that key with other contents.
    const twin = { description: 'twin' };
    await place(plugins, 'solo', 'solo', '1.0.0', versionPlugin('s1'), twin);
    await place(plugins, 'duo-1', 'duo', '1.0.0', versionPlugin('duo1'), twin);
    await place(plugins, 'top-2', 'top', '2.0.0', versionPlugin('top2'), twin);

    s = await serveFolder(data, plugins);
    try {
      assert.deepEqual(rejected(s.events).sort(), [
        'duo-1 STORE_CONFLICT',
        'solo STORE_CONFLICT',
        'top-2 STORE_CONFLICT',
      ]);
      assert.ok(!s.events.some((e) => e.type === 'removed' || e.type === 'activated'));
      assert.equal(await s.d.host.call('solo', 'version', {}), 's1');
      assert.equal(await s.d.host.call('duo', 'version', {}), 'duo2');
      assert.equal(await s.d.host.call('top', 'version', {}), 'top2', 'not replaced by 1.0.0');
      for (const p of ['solo', 'duo', 'top']) {
        assert.deepEqual(s.d.catalog.plugin(p), before[p], `${p}: the catalog is unchanged`);
      }
      assert.equal(await treeDigest(soloDir), soloFiles, 'the stored files are unchanged');
    } finally {
      await s.stop();
    }
  },
);
