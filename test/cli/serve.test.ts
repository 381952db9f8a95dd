/** Issue 3 end to end, through the real CLI: pack, serve, drop in, reload live, status, rollback, remove. */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { admin } from '../../src/admin/client.js';
import { AuditLog } from '../../src/catalog/audit.js';
import { sha256 } from '../helpers/artifact.js';
import { MoltProcess, molt, packCalcVersions } from '../helpers/cli.js';
import { connectHttp, textOf } from '../helpers/mcp.js';
import { placeArtifact, pluginSource, tempDir, writeProject } from '../helpers/project.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

test('pack → serve → drop in → reload under calls → status → rollback → remove', async () => {
  const root = await tempDir('cli');
  dirs.push(root);
  const plugins = join(root, 'plugins');
  const data = join(root, 'data');
  const out = join(root, 'out');
  await mkdir(plugins);

  const packed = await packCalcVersions(root, out, [
    ['1.0.0', 'one'],
    ['1.1.0', 'two'],
  ]);
  assert.deepEqual(
    packed.map((p) => p.split('/').pop()),
    ['calc-1.0.0.molt', 'calc-1.1.0.molt'],
  );

  const host = new MoltProcess([
    'serve',
    plugins,
    '--data',
    data,
    '--stable',
    '50',
    '--probation',
    '0',
  ]);
  try {
    await host.waitFor(/^ready: serving 0 plugin/);
    await placeArtifact(packed[0]!, plugins);
    await host.waitFor(/✓ calc@1\.0\.0 \w{12} loaded/);
    const call = (tool: string, args: unknown = {}): Promise<{ result: unknown }> =>
      admin(data, 'POST', `/v1/plugins/calc/tools/${tool}`, args);
    assert.deepEqual(await call('add', { a: 2, b: 3 }), { result: 5 });
    assert.equal((await molt(['call', 'calc', 'version', '--data', data])).stdout.trim(), 'one');

    // A new version arrives while calls run: none fails. Eight callers each keep a 400 ms call
    // running back to back, so calls are in flight at the swap (long calls: on a loaded machine
    // the gap between two HTTP calls of one caller can pass 100 ms); the audit log says how many.
    let running = true;
    let calls = 0;
    const answers = new Set<unknown>();
    let sawTwo!: () => void;
    const twoSeen = new Promise<void>((resolve) => {
      sawTwo = resolve;
    });
    let warmedUp!: () => void;
    const callersRunning = new Promise<void>((resolve) => {
      warmedUp = resolve;
    });
    const failures: unknown[] = [];
    const caller = async (): Promise<void> => {
      for (let i = 0; i < 1_000 && running; i++) {
        try {
          const { result } = await call('slow', { ms: 400 });
          answers.add(result);
          if (result === 'two') sawTwo();
          if (++calls === 8) warmedUp();
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const callers = Array.from({ length: 8 }, caller);
    // The new version arrives once the callers are all in their loops (a first HTTP call can
    // take longer than the whole reload).
    await callersRunning;
    await placeArtifact(packed[1]!, plugins);
    await host.waitFor(/✓ calc@1\.1\.0 \w{12} reloaded/);
    // A call that starts after the swap reaches the new version; the callers go on until one
    // of theirs has too.
    assert.deepEqual(await call('slow', { ms: 0 }), { result: 'two' });
    await Promise.race([twoSeen, Promise.all(callers)]);
    running = false;
    await Promise.all(callers);
    assert.deepEqual(failures, []);
    assert.ok(calls > 8);
    assert.ok(answers.has('one') && answers.has('two'), 'the callers ran on both versions');
    assert.deepEqual(await call('version'), { result: 'two' });
    const reload = (await AuditLog.read(join(data, 'audit.jsonl'))).find(
      (e) => e.action === 'reload',
    );
    const atSwap = reload?.atSwap as { inFlight: number } | undefined;
    assert.ok(
      atSwap !== undefined && atSwap.inFlight > 0,
      `calls in flight at the swap: ${JSON.stringify(atSwap)}`,
    );

    const status = await molt(['status', '--data', data]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^NAME\s+VERSION\s+BUILD\s+STATE/m);
    assert.match(status.stdout, /^calc\s+1\.1\.0\s+\w{12}\s+active/m);
    const json = JSON.parse((await molt(['status', '--data', data, '--json'])).stdout) as {
      version: string;
    }[];
    assert.equal(json[0]?.version, '1.1.0');

    const back = await molt(['rollback', 'calc', '--data', data]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /rolled back calc: now 1\.0\.0/);
    assert.deepEqual(await call('version'), { result: 'one' });

    const missing = await molt(['reload', 'nope', '--data', data]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /UNKNOWN_PLUGIN/);

    // Removing every artifact of the plugin unloads it; its store folders go on the next start.
    await rm(join(plugins, 'calc-1.0.0.molt'));
    await rm(join(plugins, 'calc-1.1.0.molt'));
    await host.waitFor(/- calc unloaded/);
    await assert.rejects(call('version'), { code: 'UNKNOWN_PLUGIN' });
    assert.equal(
      (await readdir(join(data, 'store', 'calc'))).length,
      2,
      'files stay until the next start',
    );

    const logs = await molt(['logs', '--data', data]);
    for (const action of ['install', 'load', 'reload', 'rollback', 'remove']) {
      assert.match(logs.stdout, new RegExp(`\\s${action}\\s+calc`), `audit log has ${action}`);
    }
  } finally {
    await host.stop();
  }
  assert.equal((await molt(['status', '--data', data])).code, 3, 'no host: exit code 3');
  const verified = await molt(['audit', 'verify', '--data', data]);
  assert.equal(verified.code, 0, `the host's audit log verifies: ${verified.stdout}`);

  const again = new MoltProcess(['serve', plugins, '--data', data, '--stable', '50']);
  try {
    await again.waitFor(/^ready: serving 0 plugin/);
    assert.deepEqual(
      await readdir(join(data, 'store')).then((e) => e.filter((n) => !n.startsWith('.'))),
      [],
    );
  } finally {
    await again.stop();
  }
});

test('a hostile archive dropped in is refused with its code and the host keeps serving', async () => {
  const root = await tempDir('hostile');
  dirs.push(root);
  const plugins = join(root, 'plugins');
  await mkdir(plugins);
  const project = await writeProject(join(root, 'src'), 'calc', '1.0.0', pluginSource('one'));
  const packed = (await molt(['pack', project, '-o', root])).stdout.trim();
  const host = new MoltProcess(['serve', plugins, '--data', join(root, 'data'), '--stable', '50']);
  try {
    await host.waitFor(/^ready/);
    await placeArtifact(packed, plugins);
    await host.waitFor(/✓ calc@1\.0\.0/);
    const data = join(root, 'data');
    const catalogBefore = await readFile(join(data, 'catalog.json'), 'utf8');
    const storeBefore = (await readdir(join(data, 'store'), { recursive: true })).sort();
    await writeFile(join(plugins, 'junk.molt'), 'this is not a zip');
    await host.waitFor(/✗ refused .*junk\.molt: ARCHIVE_CORRUPT/);
    assert.equal(await readFile(join(data, 'catalog.json'), 'utf8'), catalogBefore);
    assert.deepEqual((await readdir(join(data, 'store'), { recursive: true })).sort(), storeBefore);
    const r = await molt(['call', 'calc', 'add', '{"a":1,"b":2}', '--data', join(root, 'data')]);
    assert.equal(r.stdout.trim(), '3');
  } finally {
    await host.stop();
  }
});

test('molt serve --isolation process runs every plugin in a process sandbox', async () => {
  const root = await tempDir('isolation');
  dirs.push(root);
  const plugins = join(root, 'plugins');
  await mkdir(plugins);
  const project = await writeProject(join(root, 'src'), 'calc', '1.0.0', pluginSource('one'));
  await placeArtifact((await molt(['pack', project, '-o', root])).stdout.trim(), plugins);
  const data = join(root, 'data');
  const host = new MoltProcess(['serve', plugins, '--data', data, '--isolation', 'process']);
  try {
    await host.waitFor(/^ready: serving 1 plugin/);
    const status = JSON.parse((await molt(['status', '--data', data, '--json'])).stdout) as {
      isolation: string;
      dataDir: string;
    }[];
    assert.equal(status[0]?.isolation, 'process');
    assert.equal(status[0]?.dataDir, join(data, 'plugins', 'calc'));
    assert.match((await molt(['status', '--data', data])).stdout, /^calc\s.*\sactive\s+process\s/m);
    const r = await molt(['call', 'calc', 'add', '{"a":1,"b":2}', '--data', data]);
    assert.equal(r.stdout.trim(), '3');
  } finally {
    await host.stop();
  }
  const bad = await molt(['serve', plugins, '--data', join(root, 'other'), '--isolation', 'vm']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /OPTIONS_INVALID.*isolation/);
});

test('Ctrl-C on molt serve --http: the MCP call in flight finishes with its answer, then the host exits 0', async () => {
  const root = await tempDir('sigint');
  dirs.push(root);
  const plugins = join(root, 'plugins');
  await mkdir(plugins);
  // A folder artifact: a tool that says it started (progress), then works until the test
  // lets it finish (a file it looks for, since the host is another process), or is aborted.
  const release = join(root, 'release');
  const source = `import { existsSync } from 'node:fs';
export default { tools: {
  work: { handler: async (_args, ctx) => {
    ctx.progress(1, 2, 'started');
    for (let i = 0; i < 3000 && !ctx.signal.aborted && !existsSync(${JSON.stringify(release)}); i++)
      await new Promise((r) => setTimeout(r, 10));
    return ctx.signal.aborted ? 'aborted' : 'finished';
  } },
} };`;
  const staged = join(root, 'work');
  await mkdir(staged);
  await writeFile(join(staged, 'index.mjs'), source);
  await writeFile(
    join(staged, 'molt.json'),
    JSON.stringify({ name: 'work', version: '1.0.0', entry: 'index.mjs', buildId: sha256(source) }),
  );
  await rename(staged, join(plugins, 'work'));
  const host = new MoltProcess(['serve', plugins, '--data', join(root, 'data'), '--http', '0']);
  try {
    const url = (await host.waitFor(/^mcp: http/)).slice('mcp: '.length);
    const { client } = await connectHttp(url);
    let started!: () => void;
    const isStarted = new Promise<void>((r) => {
      started = r;
    });
    const result = client.callTool({ name: 'work__work', arguments: {} }, undefined, {
      onprogress: () => started(),
    });
    await isStarted;
    host.child.kill('SIGINT');
    // The host is stopping while the call is provably still running; only then may it finish.
    await host.waitFor(/^stopping:/);
    await writeFile(release, '');
    assert.equal(textOf(await result), 'finished', 'the call in flight ran to its end');
    assert.deepEqual(await host.exited, { code: 0, signal: null });
    await client.close().catch(() => undefined);
  } finally {
    await host.stop();
  }
});
