/**
 * `molt validate` through the real CLI: for each kind of bad artifact it reports the code the
 * loader gives for the same input (asserted by running the loader on it too) and exits 1; a good
 * one exits 0 without running its init; `--against` a running `molt serve` reports the
 * SCHEMA_BREAKING that host gives when the same artifact is dropped into its folder.
 */
import assert from 'node:assert/strict';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, type TestContext, test } from 'node:test';
import { createHost, type Host } from '../../src/index.js';
import { Store } from '../../src/store/store.js';
import { cleanArtifacts, sha256, writeArtifact } from '../helpers/artifact.js';
import { MoltProcess, molt } from '../helpers/cli.js';
import { placeArtifact, tempDir } from '../helpers/project.js';
import { pluginFiles, rawZip, writeZip, yazlZip } from '../helpers/zip.js';

const dirs: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function root(): Promise<string> {
  const dir = await tempDir('validate');
  dirs.push(dir);
  return dir;
}

async function host(t: TestContext): Promise<Host> {
  const h = await createHost({ probationMs: 0, standby: 0 });
  t.after(() => h.close());
  return h;
}

/** The code a loader step rejects with. */
async function codeOf(step: Promise<unknown>): Promise<string> {
  try {
    await step;
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  throw new Error('the loader accepted it');
}

interface Report {
  ok: boolean;
  name?: string;
  version?: string;
  buildId?: string;
  problems: { code: string; message: string; details?: Record<string, unknown> }[];
}

async function validateJson(args: string[]): Promise<{ code: number | null; report: Report }> {
  const r = await molt(['validate', ...args, '--json']);
  return { code: r.code, report: JSON.parse(r.stdout) as Report };
}

const TOOLS = `export default {
  init: () => { throw new Error('init must not run in molt validate'); },
  tools: {
    keep: { inputSchema: { type: 'object', properties: { a: { type: 'string' } } }, handler: () => 'kept' },
    drop: { handler: () => 'dropped' },
  },
};
`;

test('a good folder: exit 0, "ok name@version buildId", and its init never runs', async () => {
  const dir = await writeArtifact({ name: 'good', version: '1.2.3', source: TOOLS });
  const r = await molt(['validate', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `ok good@1.2.3 ${sha256(TOOLS)}`);
  const { code, report } = await validateJson([dir]);
  assert.equal(code, 0);
  assert.deepEqual(report, {
    ok: true,
    name: 'good',
    version: '1.2.3',
    buildId: sha256(TOOLS),
    problems: [],
  });
});

test('a bad manifest: MANIFEST_INVALID with each problem, as the loader gives; exit 1', async (t) => {
  const dir = await writeArtifact({
    name: 'bad',
    source: TOOLS,
    manifest: { version: 'one', limits: { memoryMb: 1 } },
  });
  const r = await molt(['validate', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^MANIFEST_INVALID: /);
  assert.match(r.stdout, /\n {2}\/version: must be a valid semver\n/);
  assert.match(r.stdout, /\n {2}\/limits\/memoryMb: /);
  const h = await host(t);
  assert.equal(await codeOf(h.load(dir)), 'MANIFEST_INVALID');
});

test('a tampered entry: BUILD_MISMATCH, as the loader gives; exit 1', async (t) => {
  const dir = await writeArtifact({ name: 'tampered', source: TOOLS });
  await writeFile(join(dir, 'index.mjs'), `${TOOLS}// changed after the build\n`);
  const { code, report } = await validateJson([dir]);
  assert.equal(code, 1);
  assert.deepEqual(
    report.problems.map((p) => p.code),
    ['BUILD_MISMATCH'],
  );
  const h = await host(t);
  assert.equal(await codeOf(h.load(dir)), 'BUILD_MISMATCH');
});

test('a tool schema that cannot be used: TOOL_SCHEMA_INVALID from the sandbox, as the loader gives', async (t) => {
  const source = `export default { tools: { t: { inputSchema: { type: 'object', properties: { n: { type: 'nope' } } }, handler: () => 1 } } };`;
  const dir = await writeArtifact({ name: 'schema', source });
  const r = await molt(['validate', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^TOOL_SCHEMA_INVALID: /);
  assert.match(
    r.stdout,
    /\n {2}\/tools\/t\/inputSchema\/properties\/n\/type: must name JSON Schema types/,
  );
  const h = await host(t);
  assert.equal(await codeOf(h.load(dir)), 'TOOL_SCHEMA_INVALID');
});

test('a hostile archive (a path out of the folder): the store’s code; exit 1', async () => {
  const base = await root();
  const files = pluginFiles('evil');
  const zip = await writeZip(
    join(base, 'evil-1.0.0.molt'),
    rawZip([
      { name: 'molt.json', data: files['molt.json'] },
      { name: 'index.mjs', data: files['index.mjs'] },
      { name: '../../escaped.txt', data: 'out' },
    ]),
  );
  const { code, report } = await validateJson([zip]);
  assert.equal(code, 1);
  const loader = await codeOf(new Store(join(base, 'store')).accept(zip));
  assert.equal(loader, 'ARCHIVE_UNSAFE_PATH');
  assert.deepEqual(
    report.problems.map((p) => p.code),
    [loader],
  );
});

test('--against a running molt serve: a same-major tool removal is SCHEMA_BREAKING, as that host refuses it; a major bump passes', async () => {
  const base = await root();
  const plugins = join(base, 'plugins');
  const data = join(base, 'data');
  await mkdir(plugins);
  const molted = async (version: string, source: string): Promise<string> =>
    writeZip(join(base, `p-${version}.molt`), await yazlZip(pluginFiles('p', version, source)));
  const v1 = await molted('1.0.0', TOOLS.replace(/ {2}init: .*\n/, ''));
  const withoutDrop = `export default { tools: { keep: { inputSchema: { type: 'object', properties: { a: { type: 'string' } } }, handler: () => 'v2' } } };\n`;
  const minor = await molted('1.1.0', withoutDrop);
  const major = await molted('2.0.0', withoutDrop);

  // No host at that data folder yet: exit 3, as every command that needs one.
  const none = await molt(['validate', minor, '--against', data]);
  assert.equal(none.code, 3, none.stderr);
  assert.match(none.stderr, /CONTROL_UNREACHABLE/);

  const serve = new MoltProcess(['serve', plugins, '--data', data, '--stable', '50']);
  try {
    await serve.waitFor(/^ready: serving 0 plugin/);
    await placeArtifact(v1, plugins);
    await serve.waitFor(/✓ p@1\.0\.0 \w{12} loaded/);

    // Alone it is a fine artifact; against the live 1.0.0 it breaks `drop`.
    assert.equal((await molt(['validate', minor])).code, 0);
    const r = await molt(['validate', minor, '--against', data]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^SCHEMA_BREAKING: p@1\.1\.0 breaks the tools of 1\.0\.0/);
    assert.match(r.stdout, /\n {2}drop: the tool was removed\n/);
    const { report } = await validateJson([minor, '--against', data]);
    assert.deepEqual(report.problems[0]?.details?.changes, [
      { tool: 'drop', kind: 'toolRemoved', path: '', message: 'the tool was removed' },
    ]);

    // The loader says the same of the same file.
    await placeArtifact(minor, plugins);
    await serve.waitFor(/✗ p@1\.1\.0: SCHEMA_BREAKING .*previous version keeps serving/);
    assert.equal((await molt(['call', 'p', 'drop', '--data', data])).stdout.trim(), 'dropped');

    const ok = await molt(['validate', major, '--against', data]);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /^ok p@2\.0\.0 /);
    await placeArtifact(major, plugins);
    await serve.waitFor(/✓ p@2\.0\.0 \w{12} reloaded/);
  } finally {
    await serve.stop();
  }
});

test('--against a live host: a provider version that would strand a dependent is CONTRACT_BROKEN, a consumer nothing serves CONTRACT_UNSATISFIED, as the loader says', async () => {
  const base = await root();
  const plugins = join(base, 'plugins');
  const data = join(base, 'data');
  await mkdir(plugins);
  const geo = (version: string): Promise<string> =>
    writeArtifact({
      name: 'geo',
      version,
      manifest: { provides: { geo: version } },
      source: `export default { tools: { lookup: { handler: () => 'here' } } };\n`,
    });
  const consumer = (name: string, range: string): Promise<string> =>
    writeArtifact({
      name,
      manifest: { requires: { [name === 'trip' ? 'geo' : 'billing']: range } },
      source: `export default { tools: { go: { handler: (a, ctx) => ctx.call('geo', 'lookup') } } };\n`,
    });
  // Plugin folders, moved in whole (the folder reads a top-level folder holding molt.json).
  const place = (dir: string, as: string): Promise<void> => rename(dir, join(plugins, as));
  const serve = new MoltProcess(['serve', plugins, '--data', data, '--stable', '50']);
  try {
    await serve.waitFor(/^ready: serving 0 plugin/);
    await place(await geo('1.0.0'), 'geo-1.0.0');
    await serve.waitFor(/✓ geo@1\.0\.0 \w{12} loaded/);
    await place(await consumer('trip', '^1'), 'trip');
    await serve.waitFor(/✓ trip@1\.0\.0 \w{12} loaded/);

    const breaking = await geo('2.0.0');
    assert.equal((await molt(['validate', breaking])).code, 0, 'alone it is fine');
    const r = await molt(['validate', breaking, '--against', data]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^CONTRACT_BROKEN: geo@2\.0\.0 would leave trip \(needs geo@\^1\)/m);

    const orphan = await consumer('shop', '^3');
    const u = await molt(['validate', orphan, '--against', data]);
    assert.equal(u.code, 1, u.stdout);
    assert.match(u.stdout, /^CONTRACT_UNSATISFIED: shop@1\.0\.0 requires billing@\^3/m);

    // The loader says the same of the same artifact.
    await place(breaking, 'geo-2.0.0');
    await serve.waitFor(/✗ geo@2\.0\.0: CONTRACT_BROKEN .*previous version keeps serving/);
    assert.equal((await molt(['call', 'trip', 'go', '--data', data])).stdout.trim(), 'here');
    const ok = await molt(['validate', await geo('1.5.0'), '--against', data]);
    assert.equal(ok.code, 0, ok.stdout);
  } finally {
    await serve.stop();
  }
});
