/** The control endpoint: owner-only token file, token required, typed errors for bad requests. */
import assert from 'node:assert/strict';
import { rm, stat } from 'node:fs/promises';
import { after, test } from 'node:test';
import { control } from '../../src/control/client.js';
import { endpointFile, readEndpoint } from '../../src/control/endpoint.js';
import { startControl } from '../../src/control/server.js';
import { Deployment } from '../../src/deploy/deployment.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { molt } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';

const dirs: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('the control endpoint wants its token and answers bad requests with typed errors', async () => {
  const data = await tempDir('control');
  dirs.push(data);
  const d = await Deployment.open({ dataDir: data, probationMs: 0 });
  const server = await startControl(d, data);
  try {
    await d.install(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
    assert.equal(
      (await stat(endpointFile(data))).mode & 0o777,
      0o600,
      'only the owner can read the token',
    );
    const { url, token } = await readEndpoint(data);

    const noToken = await fetch(`${url}/v1/status`);
    assert.equal(noToken.status, 401);
    assert.equal(
      ((await noToken.json()) as { error: { code: string } }).error.code,
      'CONTROL_UNAUTHORIZED',
    );
    const wrong = await fetch(`${url}/v1/status`, {
      headers: { authorization: `Bearer ${'0'.repeat(token.length)}` },
    });
    assert.equal(wrong.status, 401);

    const { plugins } = await control<{ plugins: { name: string; version: string }[] }>(
      data,
      'GET',
      '/v1/status',
    );
    assert.deepEqual(
      plugins.map((p) => [p.name, p.version]),
      [['p', '1.0.0']],
    );
    const auth = { authorization: `Bearer ${token}` };
    const notJson = await fetch(`${url}/v1/plugins/p/call/version`, {
      method: 'POST',
      headers: auth,
      body: '{nope',
    });
    assert.equal(notJson.status, 400);
    assert.equal(
      ((await notJson.json()) as { error: { code: string } }).error.code,
      'INVALID_REQUEST',
    );
    const route = await fetch(`${url}/v1/everything`, { headers: auth });
    assert.equal(route.status, 400);
    await assert.rejects(control(data, 'POST', '/v1/plugins/ghost/reload'), {
      code: 'UNKNOWN_PLUGIN',
    });
    assert.deepEqual(await control(data, 'POST', '/v1/plugins/p/call/version', {}), {
      result: 'v1',
    });
  } finally {
    await server.close();
    await d.close();
  }
  await assert.rejects(readEndpoint(data), { code: 'CONTROL_UNREACHABLE' });
});

test('a result JSON cannot carry never takes the host down: BigInt as its digits, a cycle as RESULT_UNSERIALIZABLE', async () => {
  const data = await tempDir('control-result');
  dirs.push(data);
  const d = await Deployment.open({ dataDir: data, probationMs: 0 });
  const server = await startControl(d, data);
  try {
    const source = `export default { tools: {
      big: { handler: () => 12345678901234567890n },
      nested: { handler: () => ({ n: 2n ** 70n, list: [1n] }) },
      cycle: { handler: () => { const o = { name: 'loop' }; o.self = o; return o; } },
      version: { handler: () => 'still here' },
    } };`;
    await d.install(await writeArtifact({ name: 'odd', source }));
    assert.deepEqual(await control(data, 'POST', '/v1/plugins/odd/call/big', {}), {
      result: '12345678901234567890',
    });
    assert.deepEqual(await control(data, 'POST', '/v1/plugins/odd/call/nested', {}), {
      result: { n: String(2n ** 70n), list: ['1'] },
    });
    const { url, token } = await readEndpoint(data);
    const cyclic = await fetch(`${url}/v1/plugins/odd/call/cycle`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: '{}',
    });
    assert.equal(cyclic.status, 502);
    assert.equal(
      ((await cyclic.json()) as { error: { code: string } }).error.code,
      'RESULT_UNSERIALIZABLE',
    );
    // The host, its control endpoint and the plugin all still serve.
    assert.deepEqual(await control(data, 'POST', '/v1/plugins/odd/call/version', {}), {
      result: 'still here',
    });
  } finally {
    await server.close();
    await d.close();
  }
});

test('a malformed %-escape in the path is INVALID_REQUEST (400), a documented code', async () => {
  const data = await tempDir('control-path');
  dirs.push(data);
  const d = await Deployment.open({ dataDir: data, probationMs: 0 });
  const server = await startControl(d, data);
  try {
    const { url, token } = await readEndpoint(data);
    for (const path of ['/v1/plugins/%E0%A4%A/reload', '/v1/plugins/%/call/x', '/v1/%ZZ']) {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 400, path);
      assert.equal(
        ((await res.json()) as { error: { code: string } }).error.code,
        'INVALID_REQUEST',
      );
    }
  } finally {
    await server.close();
    await d.close();
  }
});

test('molt rollback --discard-state goes back across a state version the newer one cannot downgrade', async () => {
  const data = await tempDir('discard');
  dirs.push(data);
  const d = await Deployment.open({ dataDir: data, probationMs: 0 });
  const server = await startControl(d, data);
  const stateful = (version: number) => `let n = 0;
export default {
  stateVersion: ${version},
  tools: { inc: { handler: () => ++n } },
  snapshot: () => ({ n }),
  restore: (s) => { n = s.n; },
  migrate: (_from, s) => s,
};`;
  try {
    await d.install(await writeArtifact({ name: 'p', source: stateful(1) }));
    await d.install(await writeArtifact({ name: 'p', version: '2.0.0', source: stateful(2) }));
    const refused = await molt(['rollback', 'p', '--data', data]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /MIGRATE_FAILED/);
    assert.equal(d.host.plugin('p')?.version, '2.0.0');
    const done = await molt(['rollback', 'p', '--discard-state', '--data', data]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /rolled back p: now 1\.0\.0/);
    assert.equal(await d.host.call('p', 'inc', {}), 1, 'v1 started empty');
  } finally {
    await server.close();
    await d.close();
  }
});
