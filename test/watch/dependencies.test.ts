/**
 * Issue 10 in the watched folder: plugins load in dependency order whatever order their files
 * appear in (a consumer waits, says so in status, and loads when its provider does), a cycle of
 * new plugins loads together, a provider whose file leaves is kept while dependents need it,
 * and a restart restores providers before consumers whatever the catalog's order.
 */
import assert from 'node:assert/strict';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Deployment } from '../../src/deploy/deployment.js';
import { type FolderEvent, PluginFolder } from '../../src/watch/plugin-folder.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { tempDir } from '../helpers/project.js';

const LIMIT = { timeout: 30_000 };
const roots: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

interface Setup {
  dir: string;
  data: string;
  d: Deployment;
  folder: PluginFolder;
  until(match: (e: FolderEvent) => boolean): Promise<void>;
  /** Moves a written artifact into the watched folder under `as`: it appears whole. */
  drop(artifact: string, as: string): Promise<void>;
  close(): Promise<void>;
}

async function setup(data?: string): Promise<Setup> {
  const base = await tempDir('deps');
  roots.push(base);
  const dir = join(base, 'plugins');
  await mkdir(dir, { recursive: true });
  const dataDir = data ?? join(base, 'data');
  const d = await Deployment.open({ dataDir, probationMs: 0 });
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
  await folder.start();
  return {
    dir,
    data: dataDir,
    d,
    folder,
    until: (match) =>
      events.some(match)
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ match, resolve })),
    drop: (artifact, as) => rename(artifact, join(dir, as)),
    async close() {
      await folder.close();
      await d.close();
    },
  };
}

const provider = (): Promise<string> =>
  writeArtifact({
    name: 'geo',
    manifest: { provides: { geo: '1.2.0' } },
    source: `export default { tools: { lookup: { handler: () => 'from geo' } } };`,
  });
const consumer = (): Promise<string> =>
  writeArtifact({
    name: 'trip',
    manifest: { requires: { geo: '^1' } },
    source: `export default { tools: { where: { handler: (a, ctx) => ctx.call('geo', 'lookup') } } };`,
  });

test(
  'a consumer that appears first waits (in status) and loads when its provider does',
  LIMIT,
  async () => {
    const s = await setup();
    try {
      await s.drop(await consumer(), 'trip');
      await s.until((e) => e.type === 'waiting' && e.name === 'trip');
      assert.equal(s.d.host.plugin('trip'), undefined);
      assert.deepEqual(s.d.waiting.get('trip')?.waitingFor, [{ contract: 'geo', range: '^1' }]);

      await s.drop(await provider(), 'geo');
      await s.until((e) => e.type === 'activated' && e.name === 'trip');
      assert.equal(s.d.waiting.size, 0);
      assert.equal(await s.d.host.call('trip', 'where', {}), 'from geo');
    } finally {
      await s.close();
    }
  },
);

test('a cycle of new plugins, neither loadable alone, loads together', LIMIT, async () => {
  const s = await setup();
  try {
    const make = (name: string, provides: string, requires: string) =>
      writeArtifact({
        name,
        manifest: { provides: { [provides]: '1.0.0' }, requires: { [requires]: '^1' } },
        source: `export default { tools: { ping: { handler: (a, ctx) => a.far ? ctx.call(${JSON.stringify(requires)}, 'ping') : ${JSON.stringify(name)} } } };`,
      });
    await s.drop(await make('a', 'alpha', 'beta'), 'a');
    await s.until((e) => e.type === 'waiting' && e.name === 'a');
    await s.drop(await make('b', 'beta', 'alpha'), 'b');
    await s.until((e) => e.type === 'activated' && e.name === 'a');
    await s.until((e) => e.type === 'activated' && e.name === 'b');
    assert.equal(await s.d.host.call('a', 'ping', { far: true }), 'b');
    assert.equal(await s.d.host.call('b', 'ping', { far: true }), 'a');
  } finally {
    await s.close();
  }
});

test(
  'a provider whose file leaves is kept while a dependent needs it, then goes',
  LIMIT,
  async () => {
    const s = await setup();
    try {
      await s.drop(await provider(), 'geo');
      await s.until((e) => e.type === 'activated' && e.name === 'geo');
      await s.drop(await consumer(), 'trip');
      await s.until((e) => e.type === 'activated' && e.name === 'trip');

      await rm(join(s.dir, 'geo'), { recursive: true });
      await s.until((e) => e.type === 'kept' && e.name === 'geo');
      assert.equal(await s.d.host.call('trip', 'where', {}), 'from geo');

      await rm(join(s.dir, 'trip'), { recursive: true });
      await s.until((e) => e.type === 'removed' && e.name === 'trip');
      await s.until((e) => e.type === 'removed' && e.name === 'geo');
      assert.deepEqual(s.d.host.plugins(), []);
    } finally {
      await s.close();
    }
  },
);

test(
  'a restart restores the provider before its consumer, whatever the catalog order',
  LIMIT,
  async () => {
    const first = await setup();
    // The consumer is installed first (it waits), so the catalog lists it before its provider.
    await first.drop(await consumer(), 'trip');
    await first.until((e) => e.type === 'waiting' && e.name === 'trip');
    await first.drop(await provider(), 'geo');
    await first.until((e) => e.type === 'activated' && e.name === 'trip');
    assert.deepEqual(Object.keys(first.d.catalog.data.plugins), ['trip', 'geo']);
    await first.close();

    const d = await Deployment.open({ dataDir: first.data, probationMs: 0 });
    try {
      assert.deepEqual(
        d.host
          .plugins()
          .map((p) => p.name)
          .sort(),
        ['geo', 'trip'],
      );
      assert.equal(await d.host.call('trip', 'where', {}), 'from geo');
      await d.audit.flush();
      const { AuditLog } = await import('../../src/catalog/audit.js');
      const failed = (await AuditLog.read(d.audit.file)).filter(
        (e) => e.action === 'restore.failed',
      );
      assert.deepEqual(failed, []);
    } finally {
      await d.close();
    }
  },
);
