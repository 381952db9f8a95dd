/** `molt dev`: a save reloads the plugin; a syntax error keeps the old one and says where. */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Deployment } from '../../src/deploy/deployment.js';
import { type DevReport, DevSession } from '../../src/dev/dev.js';
import { MoltProcess, molt } from '../helpers/cli.js';
import { ManualClock } from '../helpers/clock.js';
import { pluginSource, tempDir, writeProject } from '../helpers/project.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

test('editing a TypeScript source reloads the plugin; a syntax error keeps the old one serving', async () => {
  const root = await tempDir('dev');
  dirs.push(root);
  const projects = join(root, 'projects');
  const data = join(root, 'data');
  const project = await writeProject(
    join(projects, 'calc'),
    'calc',
    '0.1.0',
    pluginSource('first'),
  );
  const dev = new MoltProcess(['dev', projects, '--data', data]);
  const version = async (): Promise<string> =>
    (await molt(['call', 'calc', 'version', '--data', data])).stdout.trim();
  try {
    await dev.waitFor(/✓ calc@0\.1\.0 \w{12} loaded/);
    await dev.waitFor(/^ready: watching/);
    assert.equal(await version(), 'first');

    await writeFile(join(project, 'src', 'index.ts'), pluginSource('second'));
    await dev.waitFor(/✓ calc@0\.1\.0 \w{12} reloaded in [\d.]+ ms/);
    assert.equal(await version(), 'second');

    await writeFile(
      join(project, 'src', 'index.ts'),
      `${pluginSource('broken')}\nconst oops = ;\n`,
    );
    const error = await dev.waitFor(/✗ calc:/);
    assert.match(error, /src\/index\.ts:\d+:\d+/);
    assert.match(error, /keeps serving/);
    assert.equal(await version(), 'second');

    await writeFile(join(project, 'src', 'index.ts'), pluginSource('third'));
    await dev.waitFor(/✓ calc@0\.1\.0 \w{12} reloaded/);
    assert.equal(await version(), 'third');
  } finally {
    await dev.stop();
  }
});

test('a save whose debounce fired just before close() never builds after close() resolved', async () => {
  const root = await tempDir('dev-close');
  dirs.push(root);
  const project = await writeProject(join(root, 'calc'), 'calc', '0.1.0', pluginSource('first'));
  const deployment = await Deployment.open({ dataDir: join(root, 'data'), probationMs: 0 });
  const clock = new ManualClock();
  const reports: DevReport[] = [];
  const session = new DevSession(project, deployment, (r) => reports.push(r), { clock });
  try {
    await session.start();
    assert.equal(reports.length, 1, 'the first build');
    await writeFile(join(project, 'src', 'index.ts'), pluginSource('second'));
    await clock.whenArmed(30);
    // The quiet period ends and the rebuild check starts (it awaits the file system)…
    clock.advance(30);
    // …and close() arrives in the same turn.
    await session.close();
    const after = reports.length;
    await new Promise((r) => setImmediate(r));
    assert.equal(reports.length, after, 'nothing reported after close()');
    assert.equal(reports.length, 1, 'no build started after close()');
    assert.equal(await deployment.host.call('calc', 'version', {}), 'first');
  } finally {
    await session.close();
    await deployment.close();
  }
});

test('DIR that is itself a project: a save in its src/ rebuilds it (not src/ as a project)', async () => {
  const root = await tempDir('dev-single');
  dirs.push(root);
  const project = await writeProject(join(root, 'calc'), 'calc', '0.1.0', pluginSource('first'));
  const deployment = await Deployment.open({ dataDir: join(root, 'data'), probationMs: 0 });
  let told: ((r: DevReport) => void) | undefined;
  const session = new DevSession(project, deployment, (r) => told?.(r));
  try {
    await session.start();
    const rebuilt = new Promise<DevReport>((resolve) => {
      told = resolve;
    });
    await writeFile(join(project, 'src', 'index.ts'), pluginSource('second'));
    const r = await rebuilt;
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(await deployment.host.call('calc', 'version', {}), 'second');
  } finally {
    await session.close();
    await deployment.close();
  }
});
