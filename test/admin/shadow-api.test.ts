/**
 * A shadow reload through the operator's front doors: `POST /v1/plugins/:name/reload` with a
 * `shadow` body (answered once decided), promote/abort reaching a shadow the reload holds, and
 * `molt reload NAME --shadow 20%` / `molt status` through the real CLI.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, type TestContext, test } from 'node:test';
import { startAdmin } from '../../src/admin/server.js';
import { shadowFromFlags } from '../../src/cli/shadow-flags.js';
import { Deployment } from '../../src/deploy/deployment.js';
import {
  type HostEvents,
  isMoltError,
  type ShadowFigures,
  type ShadowStatus,
} from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { molt } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';

const dirs: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const SOURCE = `let n = 0;
export default { tools: {
  version: { annotations: { readOnlyHint: true }, handler: () => 'v1' },
  add: { handler: () => ++n },
} };`;

/** The fields these tests read of the API's answers. */
interface Answer {
  error: { code: string };
  plugin: { shadow: ShadowStatus };
  shadow: ShadowFigures;
  action: string;
  version: string;
  mode: string;
}

async function api(t: TestContext) {
  const data = await tempDir('shadow-admin');
  dirs.push(data);
  const d = await Deployment.open({ dataDir: data, probationMs: 0 });
  const server = await startAdmin(d, data, {});
  t.after(async () => {
    await server.close();
    await d.close();
  });
  await d.install(await writeArtifact({ name: 'p', source: SOURCE }));
  const req = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${server.endpoint.token}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Answer };
  };
  /** Resolves once a shadow of `p` runs. */
  const shadowing = () =>
    new Promise<HostEvents['promotion.started']>((resolve) => {
      const off = d.host.on('promotion.started', (e) => {
        if (e.mode !== 'shadow') return;
        off();
        resolve(e);
      });
    });
  return { d, data, req, shadowing };
}

test('POST /v1/plugins/:name/reload with a shadow answers once decided, with its figures; a bad shadow is 400', async (t) => {
  const a = await api(t);
  for (const shadow of [
    { sample: 0, calls: 3 },
    { sample: 1 },
    'all',
    { sample: 1, calls: 3, x: 1 },
  ]) {
    const bad = await a.req('POST', '/v1/plugins/p/reload', { shadow });
    assert.equal(bad.status, 400, JSON.stringify(shadow));
    assert.equal(bad.body.error.code, 'INVALID_REQUEST');
  }
  const started = a.shadowing();
  const reload = a.req('POST', '/v1/plugins/p/reload', {
    // A few calls' p99 is their slowest: a cold candidate on a loaded machine may read slower.
    shadow: { sample: 1, calls: 3, compare: 'result', maxP99Ratio: 1000 },
  });
  await started;
  const during = await a.req('GET', '/v1/plugins/p');
  assert.equal(during.body.plugin.shadow.mode, 'shadow');
  assert.equal(during.body.plugin.shadow.shadow.calls, 3);
  for (let i = 0; i < 3; i++) {
    const r = await a.req('POST', '/v1/plugins/p/tools/version', {});
    assert.deepEqual(r.body, { result: 'v1' });
  }
  const r = await reload;
  assert.equal(r.status, 200);
  assert.equal(r.body.action, 'reloaded');
  assert.deepEqual(r.body.shadow, {
    calls: 3,
    compare: 'result',
    mirrored: 3,
    matched: 3,
    differing: 0,
    skipped: 0,
  });
});

test('abort and promote reach a shadow the reload holds: abort refuses it (409 SHADOW_INCOMPLETE), promote lets it swap', async (t) => {
  const a = await api(t);
  const before = a.d.host.plugin('p')!.generation;
  let started = a.shadowing();
  const refused = a.req('POST', '/v1/plugins/p/reload', { shadow: { sample: 1, calls: 100 } });
  await started;
  const aborted = await a.req('POST', '/v1/plugins/p/abort');
  assert.equal(aborted.status, 200);
  assert.equal(aborted.body.version, '1.0.0');
  const r = await refused;
  assert.equal(r.status, 409);
  assert.equal(r.body.error.code, 'SHADOW_INCOMPLETE');
  assert.equal(a.d.host.plugin('p')?.generation, before);

  started = a.shadowing();
  const passed = a.req('POST', '/v1/plugins/p/reload', { shadow: { sample: 1, calls: 100 } });
  await started;
  const promoted = await a.req('POST', '/v1/plugins/p/promote');
  assert.equal(promoted.status, 200);
  assert.equal(promoted.body.mode, 'shadow');
  assert.equal((await passed).status, 200);
  assert.notEqual(a.d.host.plugin('p')?.generation, before);
});

test('molt reload NAME --shadow 100% --shadow-calls 2 waits for the shadow and says how it compared; molt status shows it meanwhile', async (t) => {
  const a = await api(t);
  const started = a.shadowing();
  const reload = molt([
    'reload',
    'p',
    '--shadow',
    '100%',
    '--shadow-calls',
    '2',
    '--compare',
    'result',
    '--shadow-max-p99-ratio',
    '1000',
    '--data',
    a.data,
  ]);
  await started;
  const status = await molt(['status', '--data', a.data]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(
    status.stdout,
    /p 1\.0\.0 in shadow of 1\.0\.0 for .*: 0 of 2 calls mirrored, 0 matched, 0 differed on result, 0 skipped/,
  );
  for (let i = 0; i < 2; i++) assert.equal(await a.d.host.call('p', 'version', {}), 'v1');
  const r = await reload;
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /reloaded p: now 1\.0\.0 \(\w{12}\), after a shadow: 2 of 2 mirrored calls matched on result/,
  );
});

test('a new version installed with a shadow: refused on a difference, the catalog and host still on the old one', async (t) => {
  const a = await api(t);
  const v2 = await writeArtifact({
    name: 'p',
    version: '1.1.0',
    source: SOURCE.replace("() => 'v1'", "() => 'v2'"),
  });
  const started = a.shadowing();
  const installing = a.d.install(v2, { shadow: { sample: 1, calls: 2, compare: 'result' } });
  installing.catch(() => {});
  await started;
  for (let i = 0; i < 2; i++) assert.equal(await a.d.host.call('p', 'version', {}), 'v1');
  await assert.rejects(installing, (err) => {
    assert.ok(isMoltError(err, 'SHADOW_MISMATCH'), String(err));
    assert.match(err.message, /current "v1", candidate "v2"/);
    return true;
  });
  assert.equal(a.d.host.plugin('p')?.version, '1.0.0');
  assert.equal(a.d.catalog.plugin('p')?.active?.version, '1.0.0');
  // Both at once is refused before anything starts.
  const both = await a.req('POST', '/v1/plugins/p/reload', {
    shadow: { sample: 1, calls: 2 },
    canary: { weight: 0.1 },
  });
  assert.equal(both.status, 400);
  assert.equal(both.body.error.code, 'INVALID_REQUEST');
  await assert.rejects(
    a.d.host.reload('p', v2, { shadow: { sample: 1, calls: 2 }, canary: { weight: 0.1 } }),
    (err) =>
      isMoltError(err, 'OPTIONS_INVALID') && /canary or a shadow, not both/.test(err.message),
  );
  const cli = await molt(['reload', 'p', '--canary', '10%', '--shadow', '20%', '--data', a.data]);
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, /--canary or --shadow, not both/);
});

test('the CLI reads --shadow as a share (20% or 0.2) and refuses what the host would, as a usage error', () => {
  assert.equal(shadowFromFlags({}), undefined);
  assert.deepEqual(shadowFromFlags({ shadow: '20%' }), {
    shadow: { sample: 0.2, calls: 100 },
    waitMs: 330_000,
  });
  assert.deepEqual(
    shadowFromFlags({
      shadow: '0.5',
      shadowCalls: '10',
      compare: 'result',
      shadowTimeout: '60000',
      shadowMaxInFlight: '4',
      shadowMaxP99Ratio: '10',
    }),
    {
      shadow: {
        sample: 0.5,
        calls: 10,
        compare: 'result',
        timeoutMs: 60_000,
        maxInFlight: 4,
        maxP99Ratio: 10,
      },
      waitMs: 90_000,
    },
  );
  for (const flags of [
    { shadow: 'lots' },
    { shadow: '0%' },
    { shadow: '150%' },
    { shadow: '1', compare: 'bytes' },
    { shadow: '1', shadowCalls: 'x' },
    { shadow: '1', shadowMaxInFlight: '0' },
    { shadowCalls: '10' },
    { shadow: '1', shadowMaxP99Ratio: '0.5' },
  ])
    assert.throws(() => shadowFromFlags(flags), { name: 'UsageError' }, JSON.stringify(flags));
});
