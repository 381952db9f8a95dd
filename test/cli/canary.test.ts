/**
 * Canary reloads from the operator's side (issue 11, item 2): `molt reload NAME --canary 10%`
 * waits for the outcome and prints it, `molt status` shows the canary, `molt abort` ends it,
 * the admin API takes `{ "canary": … }`; and a host SIGKILLed during a canary restarts on the
 * version that served before it (nothing of a canary is recorded before its swap).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { admin } from '../../src/admin/client.js';
import { readEndpoint as endpointOf } from '../../src/admin/endpoint.js';
import { canaryFromFlags, canaryShare } from '../../src/cli/canary-flags.js';
import type { PluginStatus } from '../../src/deploy/deployment.js';
import { Deployment } from '../../src/deploy/deployment.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { MoltProcess, molt, packCalcVersions } from '../helpers/cli.js';
import { placeArtifact, tempDir } from '../helpers/project.js';

let root = '';
const packed: string[] = [];
before(async () => {
  root = await tempDir('canary-cli');
  packed.push(
    ...(await packCalcVersions(root, join(root, 'out'), [
      ['1.0.0', 'one'],
      ['1.1.0', 'two'],
    ])),
  );
});
after(async () => {
  await cleanArtifacts();
  await rm(root, { recursive: true, force: true });
});

async function serving(name: string): Promise<{ data: string; host: MoltProcess }> {
  const plugins = join(root, name, 'plugins');
  const data = join(root, name, 'data');
  await mkdir(plugins, { recursive: true });
  await placeArtifact(packed[0]!, plugins);
  const host = new MoltProcess(['serve', plugins, '--data', data, '--stable', '50']);
  await host.waitFor(/^ready: serving 1 plugin/);
  return { data, host };
}

const callVersion = (data: string) =>
  admin<{ result: unknown }>(data, 'POST', '/v1/plugins/calc/tools/version', {});

/** Asks for the plugins until the canary shows: one request at a time, bounded. */
async function untilCanary(data: string): Promise<PluginStatus> {
  for (let i = 0; i < 2_000; i++) {
    const { plugins } = await admin<{ plugins: PluginStatus[] }>(data, 'GET', '/v1/plugins');
    const p = plugins.find((x) => x.name === 'calc');
    if (p?.canary != null) return p;
  }
  throw new Error('the canary never showed');
}

test('--canary takes 10% or 0.1; bad shares and stray flags are usage errors', () => {
  assert.equal(canaryShare('10%'), 0.1);
  assert.equal(canaryShare('0.1'), 0.1);
  assert.equal(canaryShare('2.5%'), 0.025);
  for (const bad of ['0', '1', '100%', '0%', 'ten', '', '-5%', '1.5'])
    assert.throws(() => canaryShare(bad), { name: 'UsageError' });
  assert.deepEqual(
    canaryFromFlags({ canary: '10%', canaryMinCalls: '20', canaryTimeout: '5000' })?.canary,
    { weight: 0.1, minCalls: 20, timeoutMs: 5000 },
  );
  assert.deepEqual(
    canaryFromFlags({ canary: '0.2', canaryMaxErrorRate: '0.01', canaryMaxP99Ratio: '10' })?.canary,
    { weight: 0.2, maxErrorRate: 0.01, maxP99Ratio: 10 },
  );
  assert.throws(() => canaryFromFlags({ canaryMinCalls: '20' }), { name: 'UsageError' });
  assert.throws(() => canaryFromFlags({ canary: '10%', canaryMaxP99Ratio: '0.5' }), {
    name: 'UsageError',
  });
  assert.throws(() => canaryFromFlags({ canary: '10%', canaryMinCalls: 'x' }), {
    name: 'UsageError',
  });
});

test('molt reload NAME --canary 10% serves the candidate beside the current one and prints the outcome', async () => {
  const { data, host } = await serving('promoted');
  try {
    let done = false;
    const reload = molt([
      'reload',
      'calc',
      '--canary',
      '10%',
      '--canary-min-calls',
      '5',
      // Judged on its error rate alone: a candidate's first calls on a loaded machine can be
      // slower than the current's by any ratio.
      '--canary-max-p99-ratio',
      '1000',
      '--data',
      data,
    ]).finally(() => {
      done = true;
    });
    const p = await untilCanary(data);
    assert.equal(p.canary?.weight, 0.1);
    assert.equal(p.state, 'reloading');
    const status = await molt(['status', '--data', data]);
    assert.match(status.stdout, /calc 1\.0\.0 canary at 10% for .*: 0 calls.*undecided/);
    // Calls until the outcome: the candidate needs 5 of them, one call in ten.
    let made = 0;
    while (!done && made < 1_000) {
      assert.equal((await callVersion(data)).result, 'one');
      made++;
    }
    const r = await reload;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /the canary \(10%\) passed; reloaded calc: now 1\.0\.0/);
    assert.ok(made >= 45, `${made} calls`);
  } finally {
    await host.stop();
  }
});

test('molt abort during a canary ends it: the reload fails with CANARY_ABORTED, the current serves on', async () => {
  const { data, host } = await serving('aborted');
  try {
    const reload = molt(['reload', 'calc', '--canary', '0.5', '--data', data]);
    const before = await untilCanary(data);
    const abort = await molt(['abort', 'calc', '--data', data]);
    assert.equal(abort.code, 0, abort.stderr);
    assert.match(abort.stdout, /aborted the trial of calc: now 1\.0\.0/);
    const r = await reload;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /CANARY_ABORTED canary of calc@1\.0\.0 aborted by the operator/);
    const { plugins } = await admin<{ plugins: PluginStatus[] }>(data, 'GET', '/v1/plugins');
    assert.equal(plugins[0]?.canary ?? undefined, undefined);
    assert.equal(plugins[0]?.generation, before.generation, 'the same generation serves on');
    assert.equal(plugins[0]?.stats.reloadFailures, 1);
  } finally {
    await host.stop();
  }
  // The audit log says the canary was aborted, and why.
  const aborted = (await readFile(join(data, 'audit.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { action: string; mode?: string; reason?: string })
    .filter((e) => e.action === 'promotion.aborted');
  assert.deepEqual(
    aborted.map((e) => [e.mode, e.reason]),
    [['canary', 'abort']],
  );
});

test('the admin API takes { "canary": … } on reload; a bad one is INVALID_REQUEST, and promote ends it', async () => {
  const { data, host } = await serving('admin');
  try {
    for (const canary of [{ weight: 2 }, { weight: 0.1, extra: 1 }, 'ten']) {
      await assert.rejects(admin(data, 'POST', '/v1/plugins/calc/reload', { canary }), {
        code: 'INVALID_REQUEST',
      });
    }
    const reload = admin<{ version: string; action: string }>(
      data,
      'POST',
      '/v1/plugins/calc/reload',
      { canary: { weight: 0.25, minCalls: 1000 } },
    );
    assert.equal((await untilCanary(data)).canary?.weight, 0.25);
    const promote = await molt(['promote', 'calc', '--data', data]);
    assert.equal(promote.code, 0, promote.stderr);
    assert.match(promote.stdout, /promoted the canary of calc: 1\.0\.0 \S+ takes every call now/);
    const r = await reload;
    assert.equal(r.action, 'reloaded');
    assert.equal(r.version, '1.0.0');
  } finally {
    await host.stop();
  }
});

/** The child: a deployment with v1, then a canary of v2 that runs until it is killed. */
const CHILD = `
import { Deployment } from ${JSON.stringify(new URL('../../src/deploy/deployment.js', import.meta.url).href)};
const [data, v1, v2] = process.argv.slice(2);
const d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
await d.install(v1);
d.host.on('promotion.started', async (e) => {
  if (e.mode !== 'canary') return;
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await d.host.call('p', 'version', {}));
  console.log('canary ' + answers.join(','));
});
d.install(v2, { canary: { weight: 0.5, minCalls: 1000, timeoutMs: 3600000 } }).catch((e) => console.log('failed ' + e.code));
`;

test('SIGKILL during a canary: the restarted host serves the version from before it', async () => {
  const dir = join(root, 'killed');
  await mkdir(dir, { recursive: true });
  const data = join(dir, 'data');
  const script = join(dir, 'child.mjs');
  await writeFile(script, CHILD);
  const v1 = await writeArtifact({ name: 'p', source: versionPlugin('v1') });
  const v2 = await writeArtifact({ name: 'p', version: '2.0.0', source: versionPlugin('v2') });
  const child = new MoltProcess([data, v1, v2], {}, script);
  // Both versions answered during the canary: it ran.
  assert.match(await child.waitFor(/^(canary|failed)/), /^canary v1,v2,v1,v2$/);
  child.child.kill('SIGKILL');
  assert.equal((await child.exited).signal, 'SIGKILL');

  const d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
  try {
    assert.equal(await d.host.call('p', 'version', {}), 'v1');
    const info = d.host.plugin('p');
    assert.equal(info?.version, '1.0.0');
    assert.equal(info?.canary, undefined);
    assert.equal(d.catalog.plugin('p')?.active?.version, '1.0.0');
    assert.equal(d.catalog.plugin('p')?.knownGood?.version, '1.0.0');
  } finally {
    await d.close();
  }
});

test('molt install FILE --canary 50%: the new version serves beside the old one, is swapped in once it passed, and kept for a restart', async () => {
  const { data, host } = await serving('install');
  try {
    let done = false;
    const install = molt([
      'install',
      packed[1]!,
      '--canary',
      '50%',
      '--canary-min-calls',
      '4',
      '--canary-max-p99-ratio',
      '1000',
      '--data',
      data,
    ]).finally(() => {
      done = true;
    });
    const p = await untilCanary(data);
    assert.equal(p.canary?.version, '1.1.0');
    const seen = new Set<unknown>();
    let made = 0;
    while (!done && made < 1_000) {
      seen.add((await callVersion(data)).result);
      made++;
    }
    const r = await install;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^reloaded calc: 1\.1\.0 \(\w{12}\), after its canary \(50%\) passed$/m);
    assert.deepEqual([...seen].sort(), ['one', 'two'], 'both versions answered during the canary');
    assert.equal((await callVersion(data)).result, 'two');
    // Past its canary it is on probation like any new version: ended early, it is permanent.
    const promoted = await molt(['promote', 'calc', '--data', data]);
    assert.equal(promoted.code, 0, promoted.stderr);
  } finally {
    await host.stop();
  }
  // Kept in the watched folder: a restart serves the version that passed.
  const again = new MoltProcess(['serve', join(root, 'install', 'plugins'), '--data', data]);
  try {
    await again.waitFor(/^ready: serving 1 plugin/);
    assert.equal((await callVersion(data)).result, 'two');
  } finally {
    await again.stop();
  }
});

test('molt install with a bad gate is refused before anything is installed; the admin header is checked as the reload body is', async () => {
  const { data, host } = await serving('install-bad');
  try {
    const both = await molt([
      'install',
      packed[1]!,
      '--canary',
      '10%',
      '--shadow',
      '10%',
      '--data',
      data,
    ]);
    assert.equal(both.code, 2);
    for (const header of [
      'not json',
      '[1]',
      '{"canary":{"weight":2}}',
      '{"canary":{"weight":0.1},"shadow":{"sample":1,"calls":1}}',
    ]) {
      const res = await fetch(`${(await endpointOf(data)).url}/v1/artifacts`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${(await endpointOf(data)).token}`,
          'content-type': 'application/octet-stream',
          'molt-reload-options': header,
        },
        body: await readFile(packed[1]!),
      });
      assert.equal(res.status, 400, header);
      assert.equal(
        ((await res.json()) as { error: { code: string } }).error.code,
        'INVALID_REQUEST',
      );
    }
    assert.equal((await callVersion(data)).result, 'one');
    const { plugins } = await admin<{ plugins: PluginStatus[] }>(data, 'GET', '/v1/plugins');
    assert.equal(plugins[0]?.installed, 1, 'nothing was installed');
  } finally {
    await host.stop();
  }
});
