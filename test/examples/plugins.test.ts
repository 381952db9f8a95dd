/** The example plugins, built from their sources and run in-process through the library. */
import assert from 'node:assert/strict';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { exampleProjects, findRepoRoot } from '../../examples/example-plugins.js';
import { createHost, type Host, isMoltError } from '../../src/index.js';
import { buildPlugin, writeArtifactDir } from '../../src/pack/index.js';
import { tempDir } from '../helpers/project.js';

let root: string;
let host: Host;
const projects = new Map<string, string>();

/** Builds a project the way `molt pack` does and writes it as an artifact folder. */
async function artifact(project: string): Promise<string> {
  const built = await buildPlugin(project);
  const dir = join(root, 'artifacts', `${built.manifest.name}-${built.manifest.version}`);
  await writeArtifactDir(dir, built);
  return dir;
}

before(async () => {
  root = await tempDir('examples');
  for (const p of await exampleProjects()) projects.set(basename(p), p);
  host = await createHost({ probationMs: 0 });
  for (const name of ['text', 'notes', 'jobs']) {
    const project = projects.get(name);
    assert.ok(project !== undefined, `examples/plugins/${name} is missing`);
    await host.load(await artifact(project));
  }
});

after(async () => {
  await host?.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

test('every example tool has a description and an object input schema', () => {
  const plugins = host.plugins();
  assert.deepEqual(plugins.map((p) => p.name).sort(), ['jobs', 'notes', 'text']);
  for (const p of plugins) {
    for (const t of p.tools) {
      assert.ok(t.description.length > 20, `${p.name}.${t.name} needs a real description`);
      assert.equal(t.inputSchema.type, 'object', `${p.name}.${t.name}`);
    }
  }
});

test('text: slugify, word_count and reverse', async () => {
  assert.equal(await host.call('text', 'slugify', { text: 'Héllo, Wörld!' }), 'hello-world');
  assert.equal(
    await host.call('text', 'slugify', {
      text: 'A Tale of Two Cities',
      separator: '_',
      maxLength: 12,
    }),
    'a_tale_of',
  );
  assert.deepEqual(
    await host.call('text', 'word_count', { text: 'One fish. Two fish!\nRed fish?' }),
    { words: 6, characters: 29, lines: 2, sentences: 3, readingMinutes: 0 },
  );
  assert.equal(await host.call('text', 'reverse', { text: 'café 👍🏽' }), '👍🏽 éfac');
  assert.equal(
    await host.call('text', 'reverse', { text: 'one two three', by: 'words' }),
    'three two one',
  );
});

test('jobs: reports progress every step and stops when cancelled', async () => {
  const progress: { done: number; total?: number; message?: string }[] = [];
  const result = await host.call(
    'jobs',
    'run',
    { steps: 3, stepMs: 1, label: 'quick' },
    { onProgress: (p) => progress.push(p) },
  );
  assert.deepEqual((result as { label: string; steps: number }).label, 'quick');
  assert.deepEqual(
    progress.map((p) => [p.done, p.total]),
    [
      [1, 3],
      [2, 3],
      [3, 3],
    ],
  );
  assert.match(progress[2]!.message ?? '', /step 3 of 3/);

  // Cancel on the first progress report: the job is still far from done (50 × 100 ms).
  const logged = new Promise<string>((resolve) => {
    const off = host.on('plugin.log', (e) => {
      if (e.name !== 'jobs') return;
      off();
      resolve(e.msg);
    });
  });
  const controller = new AbortController();
  await assert.rejects(
    host.call(
      'jobs',
      'run',
      { steps: 50, stepMs: 100 },
      { signal: controller.signal, onProgress: () => controller.abort() },
    ),
    (err) => isMoltError(err, 'CANCELLED'),
  );
  assert.match(await logged, /cancelled during step 2 of 50/);
});

test('notes: the notes survive a reload to a new version of the plugin', async () => {
  type Note = { id: number; text: string; tags: string[]; createdAt: string };
  type List = { count: number; notes: Note[] };
  await host.call('notes', 'add', { text: 'buy milk', tags: ['todo'] });
  await host.call('notes', 'add', { text: 'molt reloads plugins', tags: ['idea'] });
  await host.call('notes', 'add', { text: 'call Ada', tags: ['todo'] });
  const deleted = (await host.call('notes', 'delete', { id: 1 })) as { deleted: Note };
  assert.equal(deleted.deleted.text, 'buy milk');
  const before = (await host.call('notes', 'list', {})) as List;
  assert.deepEqual(
    before.notes.map((n) => [n.id, n.text]),
    [
      [2, 'molt reloads plugins'],
      [3, 'call Ada'],
    ],
  );

  // The same project, re-packed as the next version.
  const copy = join(root, 'notes-next');
  await cp(projects.get('notes')!, copy, { recursive: true });
  const pkg = JSON.parse(await readFile(join(copy, 'package.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  await writeFile(join(copy, 'package.json'), JSON.stringify({ ...pkg, version: '1.0.1' }));
  const succeeded = new Promise<boolean>((resolve) => {
    const off = host.on('reload.succeeded', (e) => {
      if (e.name !== 'notes') return;
      off();
      resolve(e.stateTransferred);
    });
  });
  const reloaded = await host.reload('notes', await artifact(copy));
  assert.equal(reloaded.version, '1.0.1');
  assert.equal(await succeeded, true);

  assert.deepEqual(await host.call('notes', 'list', {}), before);
  const added = (await host.call('notes', 'add', { text: 'ship it', tags: ['todo'] })) as Note;
  assert.equal(added.id, 4, 'ids go on from where the old version stopped');
  const todo = (await host.call('notes', 'list', { tag: 'todo' })) as List;
  assert.deepEqual(
    todo.notes.map((n) => n.text),
    ['call Ada', 'ship it'],
  );
  assert.equal(((await host.call('notes', 'list', { contains: 'MOLT' })) as List).count, 1);
  await assert.rejects(
    host.call('notes', 'delete', { id: 1 }),
    (err) => isMoltError(err, 'PLUGIN_ERROR') && /no note with id 1/.test((err as Error).message),
  );
});

test('notes v2 (examples/next/notes): its state migrates up, and a rollback across the change keeps every note', async () => {
  type Note = { id: number; text: string; pinned?: boolean };
  type List = { count: number; notes: Note[] };
  const own = await createHost({ probationMs: 0 });
  try {
    await own.load(await artifact(projects.get('notes')!));
    await own.call('notes', 'add', { text: 'first' });
    await own.call('notes', 'add', { text: 'second' });
    const up = await own.reload(
      'notes',
      await artifact(join(await findRepoRoot(), 'examples', 'next', 'notes')),
    );
    assert.equal(up.version, '2.0.0');
    await own.call('notes', 'add', { text: 'third, on v2' });
    await own.call('notes', 'pin', { id: 2 });
    const onV2 = (await own.call('notes', 'list', {})) as List;
    assert.deepEqual(
      onV2.notes.map((n) => [n.id, n.pinned]),
      [
        [2, true],
        [1, false],
        [3, false],
      ],
    );
    const rolledBack = new Promise<string>((resolve) =>
      own.once('reload.rolledBack', (e) => resolve(e.state)),
    );
    await own.rollback('notes');
    assert.equal(await rolledBack, 'downgraded');
    const onV1 = (await own.call('notes', 'list', {})) as List;
    assert.deepEqual(
      onV1.notes.map((n) => [n.id, n.text, 'pinned' in n]),
      [
        [1, 'first', false],
        [2, 'second', false],
        [3, 'third, on v2', false],
      ],
    );
    assert.equal(((await own.call('notes', 'add', { text: 'fourth' })) as Note).id, 4);
  } finally {
    await own.close();
  }
});
