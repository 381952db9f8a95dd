/**
 * The admin API: the token on every route of its table, each route's answers and codes, bounded
 * bodies, and `.molt` uploads taking the watched folder's path (hostile ones changing nothing).
 */
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, type TestContext, test } from 'node:test';
import { admin } from '../../src/admin/client.js';
import { endpointFile, readEndpoint } from '../../src/admin/endpoint.js';
import { ROUTES } from '../../src/admin/routes.js';
import { type AdminOptions, type AdminServer, startAdmin } from '../../src/admin/server.js';
import { readTokenFile } from '../../src/admin/token-file.js';
import { uploadsDir } from '../../src/admin/uploads.js';
import { AuditLog } from '../../src/catalog/audit.js';
import { Deployment } from '../../src/deploy/deployment.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { MoltProcess, molt } from '../helpers/cli.js';
import { treeDigest } from '../helpers/hostile.js';
import { tempDir } from '../helpers/project.js';
import { scrape } from '../helpers/prometheus.js';
import { sseConnect } from '../helpers/sse.js';
import { pluginFiles, rawZip, yazlZip, zeroBomb } from '../helpers/zip.js';

const dirs: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Api {
  d: Deployment;
  data: string;
  server: AdminServer;
  token: string;
  /** One request; `token: null` sends none. */
  req(
    method: string,
    path: string,
    init?: { body?: string | Buffer; token?: string | null; headers?: Record<string, string> },
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
}

async function api(t: TestContext, options: AdminOptions = {}): Promise<Api> {
  const data = await tempDir('admin');
  dirs.push(data);
  const d = await Deployment.open({ dataDir: data, probationMs: 0 });
  const server = await startAdmin(d, data, options);
  t.after(async () => {
    await server.close();
    await d.close();
  });
  const token = server.endpoint.token;
  return {
    d,
    data,
    server,
    token,
    async req(method, path, init = {}) {
      const auth: Record<string, string> =
        init.token === null ? {} : { authorization: `Bearer ${init.token ?? token}` };
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { ...auth, ...init.headers },
        ...(init.body === undefined ? {} : { body: init.body }),
      });
      const text = await res.text();
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = { text };
      }
      return { status: res.status, body, headers: res.headers };
    },
  };
}

const codeOf = (body: Record<string, unknown>): string | undefined =>
  (body.error as { code?: string } | undefined)?.code;

/** A concrete path for a route's pattern. */
const concrete = (path: string): string =>
  path.replace(':name', 'p').replace(':tool', 'version').replace('*', 'app.js');

const molt1 = (name = 'up', version = '1.0.0', tag = 'v1'): Promise<Buffer> =>
  yazlZip(pluginFiles(name, version, versionPlugin(tag)));

/** Store, catalog and uploads as bytes: what a refused upload must leave as it was. */
async function diskDigest(data: string): Promise<string> {
  const catalog = await readFile(join(data, 'catalog.json'), 'utf8').catch(() => '');
  const store = await treeDigest(join(data, 'store')).catch(() => 'no store');
  return `${store} ${catalog} ${(await readdir(uploadsDir(data))).join()}`;
}

test('the route table holds every route of the contract, each behind the token but the public ones', () => {
  const table = ROUTES.map((r) => `${r.method} ${r.path} ${r.access}`).sort();
  assert.deepEqual(table, [
    'DELETE /v1/plugins/:name token',
    'GET / public',
    'GET /dashboard/* public',
    'GET /metrics metrics',
    'GET /v1/audit token',
    'GET /v1/events token',
    'GET /v1/plugins token',
    'GET /v1/plugins/:name token',
    'POST /v1/artifacts token',
    'POST /v1/plugins/:name/abort token',
    'POST /v1/plugins/:name/promote token',
    'POST /v1/plugins/:name/reload token',
    'POST /v1/plugins/:name/rollback token',
    'POST /v1/plugins/:name/tools/:tool token',
  ]);
});

test('every route without the token, with a wrong one or another scheme: 401, and nothing done', async (t) => {
  const metricsRendered: string[] = [];
  const a = await api(t, {
    events: { serve: (_req, res) => res.end('stream') },
    metrics: {
      contentType: 'text/plain; version=0.0.4',
      render: async () => {
        metricsRendered.push('rendered');
        return 'molt_up 1\n';
      },
    },
  });
  await a.d.install(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
  const before = await diskDigest(a.data);
  const wrong = 'f'.repeat(a.token.length);
  for (const route of ROUTES) {
    const path = concrete(route.path);
    for (const [label, headers] of [
      ['no token', {}],
      ['a wrong token', { authorization: `Bearer ${wrong}` }],
      ['a longer wrong token', { authorization: `Bearer ${a.token}x` }],
      ['another scheme', { authorization: `Basic ${a.token}` }],
      ['the token alone', { authorization: a.token }],
    ] as const) {
      const r = await a.req(route.method, path, {
        token: null,
        headers: { ...headers, 'content-type': 'application/octet-stream' },
        ...(route.method === 'GET' ? {} : { body: await molt1('p', '9.0.0') }),
      });
      if (route.access === 'public') {
        // The dashboard's page and assets: served to anyone, and they hold no data.
        assert.equal(r.status, 200, `${route.method} ${path} is public`);
        assert.doesNotMatch(r.headers.get('content-type') ?? '', /json/);
        continue;
      }
      assert.equal(r.status, 401, `${route.method} ${path} with ${label}`);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      assert.equal(codeOf(r.body), 'CONTROL_UNAUTHORIZED');
    }
  }
  // An unknown route says no more without the token than a known one.
  assert.equal((await a.req('GET', '/v1/secrets', { token: null })).status, 401);
  assert.equal((await a.req('PUT', '/v1/plugins', { token: null })).status, 401);
  assert.deepEqual(metricsRendered, [], 'metrics were never rendered for a stranger');
  assert.equal(await a.d.host.call('p', 'version', {}), 'v1', 'p is neither unloaded nor replaced');
  assert.equal(await diskDigest(a.data), before, 'no upload reached the store or the catalog');
});

test('--metrics-public opens /metrics alone; events and metrics are served when mounted, 404 when not', async (t) => {
  const a = await api(t, {
    metricsPublic: true,
    events: {
      serve: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('data: {"hello":1}\n\n');
      },
    },
    metrics: { contentType: 'text/plain; version=0.0.4', render: async () => 'molt_up 1\n' },
  });
  const m = await fetch(`${a.server.url}/metrics`);
  assert.equal(m.status, 200);
  assert.equal(m.headers.get('content-type'), 'text/plain; version=0.0.4');
  assert.equal(await m.text(), 'molt_up 1\n');
  assert.equal((await a.req('GET', '/v1/events', { token: null })).status, 401);
  const e = await fetch(`${a.server.url}/v1/events`, {
    headers: { authorization: `Bearer ${a.token}` },
  });
  assert.equal(e.headers.get('content-type'), 'text/event-stream');
  assert.equal(await e.text(), 'data: {"hello":1}\n\n');

  const bare = await api(t, { metricsPublic: true });
  for (const path of ['/v1/events', '/metrics', '/dashboard/nothing.js']) {
    const r = await bare.req('GET', path);
    assert.equal(r.status, 404, path);
    assert.equal(codeOf(r.body), 'NOT_FOUND');
  }
  const closed = await api(t);
  assert.equal((await closed.req('GET', '/metrics', { token: null })).status, 401);
});

test('GET /v1/plugins and /v1/plugins/NAME: status, installed versions, known-good, the last reload with its timings', async (t) => {
  const a = await api(t);
  await a.d.install(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
  const list = await a.req('GET', '/v1/plugins');
  assert.equal(list.status, 200);
  const plugins = list.body.plugins as { name: string; version: string; installed: number }[];
  assert.deepEqual(
    plugins.map((p) => [p.name, p.version, p.installed]),
    [['p', '1.0.0', 1]],
  );

  interface Detail {
    version: string;
    state: string;
    isolation: string;
    installed: { version: string; buildId: string; installedAt: string }[];
    knownGood: { version: string } | null;
    lastReload: {
      kind: string;
      at: string;
      ms: number;
      timings: Record<string, number>;
      outcome: string;
      error?: { code: string };
    } | null;
  }
  const detail = async (): Promise<Detail> => {
    const r = await a.req('GET', '/v1/plugins/p');
    assert.equal(r.status, 200);
    return r.body.plugin as Detail;
  };
  const first = await detail();
  assert.equal(first.state, 'active');
  assert.equal(first.isolation, 'worker');
  assert.deepEqual(
    first.installed.map((i) => i.version),
    ['1.0.0'],
  );
  assert.ok(!Number.isNaN(Date.parse(first.installed[0]?.installedAt ?? '')));
  assert.equal(first.knownGood?.version, '1.0.0');
  assert.equal(first.lastReload?.kind, 'load');
  assert.equal(first.lastReload?.outcome, 'succeeded');
  assert.equal(first.lastReload?.ms, first.lastReload?.timings.total);
  assert.equal(typeof first.lastReload?.timings.init, 'number');
  assert.ok(!Number.isNaN(Date.parse(first.lastReload?.at ?? '')));

  // A version whose init throws: refused, the old one serves, the last reload says why.
  const broken = `export default { init() { throw new Error('no database'); }, tools: { version: { handler: () => 'v2' } } };`;
  await assert.rejects(
    a.d.install(await writeArtifact({ name: 'p', version: '2.0.0', source: broken })),
    { code: 'INIT_FAILED' },
  );
  const second = await detail();
  assert.equal(second.version, '1.0.0');
  assert.deepEqual(second.installed.map((i) => i.version).sort(), ['1.0.0', '2.0.0']);
  assert.equal(second.lastReload?.kind, 'reload');
  assert.equal(second.lastReload?.outcome, 'failed');
  assert.equal(second.lastReload?.error?.code, 'INIT_FAILED');

  for (const name of ['ghost', 'constructor', '__proto__', 'UPPER', 'a'.repeat(65)]) {
    const r = await a.req('GET', `/v1/plugins/${name}`);
    assert.equal(r.status, 404, name);
    assert.equal(codeOf(r.body), 'UNKNOWN_PLUGIN');
  }
});

test('reload, rollback, unload and tool calls: their answers and codes', async (t) => {
  const a = await api(t);
  await a.d.install(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
  const auditBefore = (await AuditLog.read(a.d.audit.file)).length;

  const noPrevious = await a.req('POST', '/v1/plugins/p/rollback');
  assert.equal(noPrevious.status, 409);
  assert.equal(codeOf(noPrevious.body), 'NO_PREVIOUS');

  const reloaded = await a.req('POST', '/v1/plugins/p/reload');
  assert.equal(reloaded.status, 200);
  assert.deepEqual(
    { ...reloaded.body, buildId: typeof reloaded.body.buildId },
    { name: 'p', version: '1.0.0', buildId: 'string', action: 'reloaded', cascaded: [] },
  );
  await a.d.install(
    await writeArtifact({ name: 'p', version: '2.0.0', source: versionPlugin('v2') }),
  );
  for (const body of ['[]', '{"discardState":"yes"}', '7']) {
    const bad = await a.req('POST', '/v1/plugins/p/rollback', { body });
    assert.equal(bad.status, 400, body);
    assert.equal(codeOf(bad.body), 'INVALID_REQUEST');
  }
  const back = await a.req('POST', '/v1/plugins/p/rollback', { body: '{"discardState":false}' });
  assert.equal(back.status, 200);
  assert.equal(back.body.version, '1.0.0');

  const call = (tool: string, body?: string) =>
    a.req('POST', `/v1/plugins/p/tools/${tool}`, body === undefined ? {} : { body });
  assert.deepEqual((await call('version')).body, { result: 'v1' });
  assert.deepEqual((await call('echo', '{"a":[1,2]}')).body, { result: { a: [1, 2] } });
  for (const [tool, body, status, code] of [
    ['nope', '{}', 404, 'UNKNOWN_TOOL'],
    ['echo', '{nope', 400, 'INVALID_REQUEST'],
    ['echo', '[1]', 400, 'INVALID_REQUEST'],
    ['echo', `{"x":"${'y'.repeat(1 << 20)}"}`, 413, 'REQUEST_TOO_LARGE'],
  ] as const) {
    const r = await call(tool, body);
    assert.equal(r.status, status, `${tool} ${body.slice(0, 10)}`);
    assert.equal(codeOf(r.body), code);
  }
  const ghost = await a.req('POST', '/v1/plugins/ghost/tools/version', { body: '{}' });
  assert.equal(ghost.status, 404);
  assert.equal(codeOf(ghost.body), 'UNKNOWN_PLUGIN');
  const ghostReload = await a.req('POST', '/v1/plugins/ghost/reload');
  assert.equal(codeOf(ghostReload.body), 'UNKNOWN_PLUGIN');

  // Unknown names are not removed: no catalog record is invented for them.
  const catalog = await readFile(join(a.data, 'catalog.json'), 'utf8');
  for (const name of ['ghost', 'constructor']) {
    const r = await a.req('DELETE', `/v1/plugins/${name}`);
    assert.equal(r.status, 404, name);
    assert.equal(codeOf(r.body), 'UNKNOWN_PLUGIN');
  }
  assert.equal(await readFile(join(a.data, 'catalog.json'), 'utf8'), catalog);
  const gone = await a.req('DELETE', '/v1/plugins/p');
  assert.equal(gone.status, 200);
  assert.deepEqual(gone.body, { unloaded: 'p' });
  assert.equal(a.d.host.plugin('p'), undefined);
  assert.equal((await a.req('GET', '/v1/plugins/p')).status, 404);

  const actions = (await AuditLog.read(a.d.audit.file)).slice(auditBefore).map((e) => e.action);
  for (const action of ['reload', 'rollback', 'remove'])
    assert.ok(actions.includes(action), action);

  for (const [method, path] of [
    ['GET', '/v1/everything'],
    ['PUT', '/v1/plugins'],
    ['GET', '/v1/plugins/p/reload'],
  ] as const) {
    const r = await a.req(method, path);
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.equal(codeOf(r.body), 'NOT_FOUND');
  }
});

test('a result JSON cannot carry: a BigInt as its digits, a cycle 502 RESULT_UNSERIALIZABLE, the host serving on', async (t) => {
  const a = await api(t);
  const source = `export default { tools: {
    big: { handler: () => 12345678901234567890n },
    cycle: { handler: () => { const o = { name: 'loop' }; o.self = o; return o; } },
    version: { handler: () => 'still here' },
  } };`;
  await a.d.install(await writeArtifact({ name: 'odd', source }));
  assert.deepEqual((await a.req('POST', '/v1/plugins/odd/tools/big')).body, {
    result: '12345678901234567890',
  });
  const cyclic = await a.req('POST', '/v1/plugins/odd/tools/cycle');
  assert.equal(cyclic.status, 502);
  assert.equal(codeOf(cyclic.body), 'RESULT_UNSERIALIZABLE');
  assert.deepEqual((await a.req('POST', '/v1/plugins/odd/tools/version')).body, {
    result: 'still here',
  });
});

test('GET /v1/audit pages by seq; numbers out of range are 400 INVALID_REQUEST', async (t) => {
  const a = await api(t);
  // Three installs: install and load each, and nothing appended later (no generation retires).
  for (const name of ['p', 'q', 'r']) {
    await a.d.install(await writeArtifact({ name, source: versionPlugin(name) }));
  }
  await a.d.audit.flush();
  const all = await AuditLog.read(a.d.audit.file);
  assert.equal(all.length, 6);
  interface Page {
    entries: { seq: number; action: string }[];
    next: number;
  }
  const page = async (query: string): Promise<Page> => {
    const r = await a.req('GET', `/v1/audit${query}`);
    assert.equal(r.status, 200, query);
    return r.body as unknown as Page;
  };
  const whole = await page('');
  assert.equal(whole.entries.length, all.length);
  assert.deepEqual(
    whole.entries.map((e) => e.action),
    all.map((e) => e.action),
  );
  const seqs = whole.entries.map((e) => e.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((x, y) => x - y),
    'oldest first, seq rising',
  );
  assert.equal(whole.next, seqs.at(-1));
  // Two at a time, each page after the last one's `next`: every entry once, in order.
  const walked: number[] = [];
  let after = 0;
  for (let i = 0; i < 100; i++) {
    const p = await page(`?after=${after}&limit=2`);
    if (p.entries.length === 0) {
      assert.equal(p.next, after, 'an empty page keeps the cursor');
      break;
    }
    assert.ok(p.entries.length <= 2);
    walked.push(...p.entries.map((e) => e.seq));
    after = p.next;
  }
  assert.deepEqual(walked, seqs);
  const newest = await page('?last=2');
  assert.deepEqual(
    newest.entries.map((e) => e.seq),
    seqs.slice(-2),
    '?last=N: the newest N, oldest first',
  );
  assert.equal(newest.next, seqs.at(-1));
  for (const query of [
    '?last=0',
    '?last=1001',
    '?last=2&after=1',
    '?last=2&limit=2',
    '?limit=0',
    '?limit=1001',
    '?limit=1.5',
    '?limit=abc',
    '?after=-1',
    '?after=1e3',
    '?after=99999999999999999999',
    '?after=1&after=2',
    '?limit=',
  ]) {
    const r = await a.req('GET', `/v1/audit${query}`);
    assert.equal(r.status, 400, query);
    assert.equal(codeOf(r.body), 'INVALID_REQUEST');
  }
});

test('POST /v1/artifacts: a good .molt goes live, is audited, kept in the watched folder; the event bus hears it', async (t) => {
  const folder = await tempDir('admin-folder');
  dirs.push(folder);
  const a = await api(t, { pluginsDir: folder });
  const heard: string[] = [];
  a.d.host.on('reload.succeeded', (e) => heard.push(`${e.kind} ${e.name}@${e.to.version}`));
  const bytes = await molt1('up', '1.0.0', 'uploaded');
  const r = await a.req('POST', '/v1/artifacts', {
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.name, 'up');
  assert.equal(r.body.version, '1.0.0');
  assert.equal(r.body.action, 'loaded');
  assert.equal(r.body.keptAs, join(folder, 'up-1.0.0.molt'));
  assert.deepEqual(await readFile(join(folder, 'up-1.0.0.molt')), bytes);
  assert.deepEqual((await a.req('POST', '/v1/plugins/up/tools/version')).body, {
    result: 'uploaded',
  });
  assert.deepEqual(heard, ['load up@1.0.0']);
  await a.d.audit.flush();
  const actions = (await AuditLog.read(a.d.audit.file))
    .filter((e) => e.name === 'up')
    .map((e) => e.action);
  assert.deepEqual(actions, ['install', 'load']);
  assert.deepEqual(await readdir(uploadsDir(a.data)), [], 'the temp file is gone');

  const again = await a.req('POST', '/v1/artifacts', {
    body: bytes,
    headers: { 'content-type': 'application/zip' },
  });
  assert.equal(again.body.action, 'unchanged');
  const v2 = await a.req('POST', '/v1/artifacts', {
    body: await molt1('up', '2.0.0', 'second'),
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(v2.body.action, 'reloaded');
  assert.deepEqual((await a.req('POST', '/v1/plugins/up/tools/version')).body, {
    result: 'second',
  });

  // `constructor` is a valid plugin name, and a catalog record of its own, not Object's.
  const odd = await a.req('POST', '/v1/artifacts', {
    body: await molt1('constructor', '1.0.0', 'odd name'),
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(odd.status, 200, JSON.stringify(odd.body));
  assert.deepEqual((await a.req('POST', '/v1/plugins/constructor/tools/version')).body, {
    result: 'odd name',
  });
  assert.equal(
    ((await a.req('GET', '/v1/plugins/constructor')).body.plugin as { installed: unknown[] })
      .installed.length,
    1,
  );

  const typed = await a.req('POST', '/v1/artifacts', {
    body: bytes,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(typed.status, 400);
  assert.equal(codeOf(typed.body), 'INVALID_REQUEST');
});

test('POST /v1/artifacts: a hostile archive gets its own code and changes nothing on disk', async (t) => {
  const a = await api(t);
  // A first artifact, so the store and catalog exist and hold something that must not move.
  await a.d.install(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
  const good = pluginFiles('evil');
  const withGood = (...extra: Parameters<typeof rawZip>[0]) =>
    rawZip([
      { name: 'molt.json', data: good['molt.json'] },
      { name: 'index.mjs', data: good['index.mjs'] },
      ...extra,
    ]);
  const hostile: [string, Buffer, string][] = [
    ['an escaping path', withGood({ name: '../evil.js', data: 'x' }), 'ARCHIVE_UNSAFE_PATH'],
    ['an absolute path', withGood({ name: '/tmp/evil.js', data: 'x' }), 'ARCHIVE_UNSAFE_PATH'],
    [
      'a symlink',
      withGood({ name: 'link', data: '/etc/passwd', mode: 0o120777 }),
      'ARCHIVE_SYMLINK',
    ],
    [
      'a duplicate',
      withGood({ name: 'a', data: '1' }, { name: 'A', data: '2' }),
      'ARCHIVE_DUPLICATE_ENTRY',
    ],
    ['a zip bomb', zeroBomb(300), 'ARCHIVE_TOO_LARGE'],
    ['random bytes', Buffer.from('this is not a zip at all'), 'ARCHIVE_CORRUPT'],
    ['a truncated zip', (await molt1('evil')).subarray(0, 200), 'ARCHIVE_CORRUPT'],
    [
      'a lying buildId',
      await yazlZip(pluginFiles('evil', '1.0.0', 'export default {}', { buildId: 'a'.repeat(64) })),
      'BUILD_MISMATCH',
    ],
    [
      'a broken manifest',
      await yazlZip({ 'molt.json': '{"name": 7}', 'index.mjs': '' }),
      'MANIFEST_INVALID',
    ],
  ];
  const before = await diskDigest(a.data);
  for (const [label, bytes, code] of hostile) {
    const r = await a.req('POST', '/v1/artifacts', {
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(r.status, 422, label);
    assert.equal(codeOf(r.body), code, label);
    assert.equal(
      await diskDigest(a.data),
      before,
      `${label}: store, catalog and uploads as they were`,
    );
  }
  assert.equal(a.d.host.plugin('evil'), undefined);
  assert.equal(await a.d.host.call('p', 'version', {}), 'v1');
});

test('POST /v1/artifacts: over the limit 413 before or while reading, an empty body 400, a hang-up leaves no file', async (t) => {
  const a = await api(t, { maxUploadBytes: 64 * 1024 });
  const before = await diskDigest(a.data);
  const octet = { 'content-type': 'application/octet-stream' };
  const declared = await a.req('POST', '/v1/artifacts', {
    body: Buffer.alloc(65 * 1024, 1),
    headers: octet,
  });
  assert.equal(declared.status, 413);
  assert.equal(codeOf(declared.body), 'REQUEST_TOO_LARGE');
  assert.equal(declared.headers.get('connection'), 'close');

  // Chunked: no length up front, so the bound is met while reading.
  const chunks = Array.from({ length: 40 }, () => Buffer.alloc(4096, 2));
  const chunked = await fetch(`${a.server.url}/v1/artifacts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${a.token}`, ...octet },
    body: new ReadableStream({
      start(c) {
        for (const chunk of chunks) c.enqueue(chunk);
        c.close();
      },
    }),
    duplex: 'half',
  } as RequestInit);
  assert.equal(chunked.status, 413);
  assert.equal(
    ((await chunked.json()) as { error: { code: string } }).error.code,
    'REQUEST_TOO_LARGE',
  );

  const empty = await a.req('POST', '/v1/artifacts', { body: Buffer.alloc(0), headers: octet });
  assert.equal(empty.status, 400);
  assert.equal(codeOf(empty.body), 'INVALID_REQUEST');
  assert.equal(await diskDigest(a.data), before);

  // A client that sends part of its body and hangs up once the server has its file open: the
  // upload ends, and its file with it.
  const created = new Promise<void>((resolve) => {
    const watcher = watch(uploadsDir(a.data), () => {
      watcher.close();
      resolve();
    });
  });
  const socket = connect(Number(new URL(a.server.url).port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(
    `POST /v1/artifacts HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${a.token}\r\ncontent-type: application/octet-stream\r\ncontent-length: 60000\r\n\r\n`,
  );
  socket.write(Buffer.alloc(30000, 3));
  await created;
  socket.destroy();
  await a.server.close(); // waits for the upload under way
  assert.deepEqual(await readdir(uploadsDir(a.data)), []);
});

test('POST /v1/artifacts: one upload at a time, a second one meanwhile 503 BUSY with retry-after', async (t) => {
  const a = await api(t);
  let entered!: () => void;
  const inInstall = new Promise<void>((resolve) => {
    entered = resolve;
  });
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const install = a.d.install.bind(a.d);
  a.d.install = async (source: string) => {
    entered();
    await gate;
    return install(source);
  };
  const octet = { 'content-type': 'application/octet-stream' };
  const first = a.req('POST', '/v1/artifacts', { body: await molt1('one'), headers: octet });
  await inInstall;
  const second = await a.req('POST', '/v1/artifacts', { body: await molt1('two'), headers: octet });
  assert.equal(second.status, 503);
  assert.equal(codeOf(second.body), 'BUSY');
  assert.equal(second.headers.get('retry-after'), '1');
  open();
  assert.equal((await first).status, 200);
  const third = await a.req('POST', '/v1/artifacts', { body: await molt1('two'), headers: octet });
  assert.equal(third.status, 200, 'free again once the first is done');
});

test('malformed requests: a bad %-escape or a broken request line is 400 INVALID_REQUEST', async (t) => {
  const a = await api(t);
  for (const path of ['/v1/plugins/%E0%A4%A/reload', '/v1/plugins/%/tools/x', '/v1/%ZZ']) {
    const r = await a.req('POST', path);
    assert.equal(r.status, 400, path);
    assert.equal(codeOf(r.body), 'INVALID_REQUEST');
  }
  const port = Number(new URL(a.server.url).port);
  for (const raw of ['NOT HTTP AT ALL\r\n\r\n', `GET / HTTP/1.1\r\nbad header line\r\n\r\n`]) {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(raw));
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /, raw);
    assert.match(answer, /"code":"INVALID_REQUEST"/);
  }
  // The server still answers.
  assert.equal((await a.req('GET', '/v1/plugins')).status, 200);
});

test('control.json: owner-only, the URL and token of the API; a wildcard host is reached through loopback; gone after close', async (t) => {
  const a = await api(t, { host: '0.0.0.0' });
  assert.equal((await stat(endpointFile(a.data))).mode & 0o777, 0o600);
  const endpoint = await readEndpoint(a.data);
  assert.match(endpoint.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(endpoint.url, a.server.url);
  assert.equal(endpoint.pid, process.pid);
  assert.deepEqual(await admin(a.data, 'GET', '/v1/plugins'), {
    plugins: [],
    waiting: [],
    hostContracts: {},
  });
  await a.server.close();
  await assert.rejects(readEndpoint(a.data), { code: 'CONTROL_UNREACHABLE' });
});

test('--admin-token-file: its token is the one; a file others may read, or a weak token, is refused', async (t) => {
  const dir = await tempDir('token');
  dirs.push(dir);
  const file = join(dir, 'token');
  const token = 'a-long-enough-token-0123456789';
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  assert.equal(await readTokenFile(file), token);
  const a = await api(t, { token: await readTokenFile(file) });
  assert.equal((await a.req('GET', '/v1/plugins', { token })).status, 200);
  assert.equal((await readEndpoint(a.data)).token, token);

  for (const [mode, text, why] of [
    [0o644, token, /mode 644/],
    [0o640, token, /mode 640/],
    [0o602, token, /mode 602/],
    [0o600, 'short', /at least 16/],
    [0o600, 'two words here, long enough', /visible ASCII/],
    [0o600, '', /visible ASCII/],
  ] as const) {
    await writeFile(file, text);
    await chmod(file, mode);
    await assert.rejects(readTokenFile(file), { code: 'OPTIONS_INVALID', message: why });
  }
  await assert.rejects(readTokenFile(join(dir, 'missing')), { code: 'OPTIONS_INVALID' });
  await assert.rejects(readTokenFile(dir), { code: 'OPTIONS_INVALID' });

  // molt serve refuses to start on it, before its data folder is made.
  await chmod(file, 0o644);
  await writeFile(file, token);
  const plugins = join(dir, 'plugins');
  await mkdir(plugins);
  const r = await molt(['serve', plugins, '--data', join(dir, 'data'), '--admin-token-file', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /OPTIONS_INVALID.*chmod 600/);
  await assert.rejects(stat(join(dir, 'data')), { code: 'ENOENT' });
});

test('molt rollback --discard-state goes back across a state version the newer one cannot downgrade', async (t) => {
  const a = await api(t);
  const stateful = (version: number) => `let n = 0;
export default {
  stateVersion: ${version},
  tools: { inc: { handler: () => ++n } },
  snapshot: () => ({ n }),
  restore: (s) => { n = s.n; },
  migrate: (_from, s) => s,
};`;
  await a.d.install(await writeArtifact({ name: 'p', source: stateful(1) }));
  await a.d.install(await writeArtifact({ name: 'p', version: '2.0.0', source: stateful(2) }));
  const refused = await molt(['rollback', 'p', '--data', a.data]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /MIGRATE_FAILED/);
  assert.equal(a.d.host.plugin('p')?.version, '2.0.0');
  const done = await molt(['rollback', 'p', '--discard-state', '--data', a.data]);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /rolled back p: now 1\.0\.0/);
  assert.equal(await a.d.host.call('p', 'inc', {}), 1, 'v1 started empty');
});

test('molt serve: an upload over the admin API is live, kept in the watched folder, and served after a restart', async () => {
  const root = await tempDir('admin-serve');
  dirs.push(root);
  const plugins = join(root, 'plugins');
  const data = join(root, 'data');
  await mkdir(plugins);
  const serveArgs = ['serve', plugins, '--data', data, '--stable', '50', '--admin', '0'];
  const bad = await molt([...serveArgs.slice(0, -1), 'http']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /OPTIONS_INVALID --admin must be a port/);

  const host = new MoltProcess(serveArgs);
  try {
    await host.waitFor(/^ready: serving 0 plugin.*admin http:\/\/127\.0\.0\.1:\d+\)/);
    const { url, token } = await readEndpoint(data);
    const upload = (body: Buffer) =>
      fetch(`${url}/v1/artifacts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
        body,
      });
    const hostile = await upload(zeroBomb(300));
    assert.equal(hostile.status, 422);
    assert.deepEqual(await readdir(plugins), [], 'a refused upload is not kept');
    // The operator watches the event stream while deploying.
    const stream = await sseConnect(`${url}/v1/events`, { authorization: `Bearer ${token}` });
    assert.equal(stream.status, 200);
    const r = await upload(await molt1('up', '1.0.0', 'uploaded'));
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { keptAs: string }).keptAs, join(plugins, 'up-1.0.0.molt'));
    await stream.until((events) =>
      events.some(
        (e) =>
          e.event === 'reload.succeeded' &&
          (JSON.parse(e.data) as { name: string; kind: string }).name === 'up',
      ),
    );
    stream.close();
    const called = await molt(['call', 'up', 'version', '--data', data]);
    assert.equal(called.stdout.trim(), 'uploaded', called.stderr);
    // /metrics of the running host: token-only, Prometheus text, the call counted.
    assert.equal((await fetch(`${url}/metrics`)).status, 401);
    const text = await (
      await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
    ).text();
    const m = scrape(text);
    assert.equal(m.value('molt_calls_total', { plugin: 'up', tool: 'version', outcome: 'ok' }), 1);
    assert.equal(m.value('molt_reloads_total', { plugin: 'up', kind: 'load', outcome: 'ok' }), 1);
    assert.ok((m.value('molt_event_stream_dropped_events_total') ?? -1) >= 0);
  } finally {
    await host.stop();
  }
  const again = new MoltProcess(serveArgs);
  try {
    await again.waitFor(/^ready: serving 1 plugin/);
    const status = await molt(['status', '--data', data]);
    assert.match(status.stdout, /^up\s+1\.0\.0\s/m);
  } finally {
    await again.stop();
  }
});
