/** `molt pack`: a TypeScript project with npm dependencies in, a deterministic `.molt` out. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { openPromise } from 'yauzl';
import { ErrorCodes, isMoltError, type MoltError } from '../../src/errors/errors.js';
import { createHost } from '../../src/index.js';
import { buildPlugin, pack, writeArtifactDir } from '../../src/pack/index.js';

const made: string[] = [];
after(() => Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true }))));

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `molt-pack-${prefix}-`));
  made.push(dir);
  return dir;
}

/** Writes `files` (path relative to the project → contents) into a fresh temp folder. */
async function writeProject(files: Record<string, string | object>): Promise<string> {
  const dir = await tempDir('project');
  for (const [path, contents] of Object.entries(files)) {
    const file = join(dir, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(
      file,
      typeof contents === 'string' ? contents : JSON.stringify(contents, null, 2),
    );
  }
  return dir;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Unzips `file` into a fresh folder and returns it with the entry names in archive order. */
async function unzip(file: string): Promise<{ dir: string; names: string[] }> {
  const dir = await tempDir('unzipped');
  const zip = await openPromise(file, { lazyEntries: true });
  const names: string[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      names.push(entry.fileName);
      const chunks: Buffer[] = [];
      for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk);
      await writeFile(join(dir, entry.fileName), Buffer.concat(chunks));
    }
  } finally {
    zip.close();
  }
  return { dir, names };
}

async function rejectsPack(
  promise: Promise<unknown>,
  check: (err: MoltError) => void = () => {},
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isMoltError(err, ErrorCodes.PACK_FAILED), `expected PACK_FAILED, got ${err}`);
    check(err);
    return true;
  });
}

/** An ESM and a CommonJS dependency (the latter requires a node built-in). */
const DEPS = {
  'node_modules/esm-double/package.json': {
    name: 'esm-double',
    version: '1.0.0',
    type: 'module',
    exports: './index.js',
  },
  'node_modules/esm-double/index.js': 'export function double(n) {\n  return n * 2;\n}\n',
  'node_modules/cjs-join/package.json': { name: 'cjs-join', version: '1.0.0', main: 'index.js' },
  'node_modules/cjs-join/index.js':
    "const path = require('node:path');\nexports.joinAll = (...parts) => path.posix.join(...parts);\n",
};

function tsSource(tag: string): string {
  return `import { definePlugin } from 'molt/plugin';
import { double } from 'esm-double';
// @ts-ignore: the dependency ships no types
import { joinAll } from 'cjs-join';

interface ComboArgs {
  n: number;
  parts: string[];
}

const tag: string = ${JSON.stringify(tag)};

export default definePlugin({
  tools: {
    combo: {
      inputSchema: { type: 'object' },
      handler: (args: ComboArgs) => ({ doubled: double(args.n), joined: joinAll(...args.parts), tag }),
    },
  },
});
`;
}

function tsProject(name = 'geo-tools', tag = 'v1'): Promise<string> {
  return writeProject({
    'package.json': { name, version: '1.2.3', type: 'module' },
    'src/index.ts': tsSource(tag),
    ...DEPS,
  });
}

test('a TypeScript project with an ESM and a CommonJS dependency packs and runs in a host', async () => {
  const project = await tsProject();
  const out = await tempDir('out');
  const result = await pack(project, { outDir: out });

  assert.equal(result.file, join(out, 'geo-tools-1.2.3.molt'));
  assert.deepEqual(await readdir(out), ['geo-tools-1.2.3.molt'], 'no temp file is left behind');
  const { dir, names } = await unzip(result.file);
  assert.deepEqual(names, ['molt.json', 'index.mjs']);

  const manifest = JSON.parse(await readFile(join(dir, 'molt.json'), 'utf8'));
  const entry = await readFile(join(dir, 'index.mjs'));
  assert.deepEqual(manifest, {
    name: 'geo-tools',
    version: '1.2.3',
    entry: 'index.mjs',
    buildId: sha256(entry),
  });
  assert.deepEqual(result.manifest, manifest);
  assert.ok(result.entryBytes.equals(entry));
  assert.ok(!entry.includes(project), 'the bundle names no absolute project path');

  const host = await createHost();
  try {
    const loaded = await host.load(dir);
    assert.equal(loaded.buildId, manifest.buildId);
    const answer = await host.call('geo-tools', 'combo', { n: 21, parts: ['a', 'b', '..', 'c'] });
    assert.deepEqual(answer, { doubled: 42, joined: 'a/c', tag: 'v1' });
  } finally {
    await host.close();
  }
});

test('packing the same sources twice gives byte-identical files; a source change a new buildId', async () => {
  const project = await tsProject();
  const first = await pack(project, { outDir: await tempDir('a') });
  const firstBytes = await readFile(first.file);
  const second = await pack(project, { outDir: await tempDir('b') });
  assert.ok(firstBytes.equals(await readFile(second.file)), 'the .molt files are identical');
  assert.equal(second.manifest.buildId, first.manifest.buildId);

  const elsewhere = await pack(await tsProject());
  assert.equal(elsewhere.manifest.buildId, first.manifest.buildId, 'the folder does not matter');
  assert.ok(firstBytes.equals(await readFile(elsewhere.file)));

  await writeFile(join(project, 'src/index.ts'), tsSource('v2'));
  const changed = await pack(project);
  assert.notEqual(changed.manifest.buildId, first.manifest.buildId);
  assert.equal(changed.manifest.buildId, sha256(changed.entryBytes));
});

test('a scoped package name loses its scope', async () => {
  const project = await writeProject({
    'package.json': { name: '@acme/geo', version: '0.3.0' },
    'index.mjs': "export default { tools: { hi: { handler: () => 'hi' } } };\n",
  });
  const result = await pack(project);
  assert.equal(result.manifest.name, 'geo');
  assert.equal(result.file, join(project, 'geo-0.3.0.molt'));

  const bad = await writeProject({
    'package.json': { name: '@acme/Geo.Tools', version: '0.3.0' },
    'index.mjs': 'export default { tools: {} };\n',
  });
  await rejectsPack(pack(bad), (err) => assert.match(err.message, /Geo\.Tools/));
});

test('the molt field of package.json lands in molt.json', async () => {
  const molt = {
    entry: 'lib/main.mjs',
    hostApi: '^1.0.0',
    provides: { geo: '1.3.0' },
    requires: { units: '^2' },
    limits: { memoryMb: 64, callTimeoutMs: 5000 },
    isolation: 'worker',
    configSchema: { type: 'object', properties: { unit: { type: 'string' } } },
    config: { unit: 'km' },
  };
  const project = await writeProject({
    'package.json': { name: 'geo', version: '2.0.0', description: 'distances', molt },
    'lib/main.mjs': "export default { tools: { hi: { handler: () => 'hi' } } };\n",
  });
  const result = await pack(project);
  const { dir } = await unzip(result.file);
  const manifest = JSON.parse(await readFile(join(dir, 'molt.json'), 'utf8'));
  const { entry: _source, ...rest } = molt;
  assert.deepEqual(manifest, {
    name: 'geo',
    version: '2.0.0',
    entry: 'index.mjs',
    buildId: result.manifest.buildId,
    description: 'distances',
    ...rest,
  });

  const invalid = await writeProject({
    'package.json': { name: 'geo', version: '2.0.0', molt: { limits: { memoryMb: 1 } } },
    'index.mjs': 'export default { tools: {} };\n',
  });
  await rejectsPack(pack(invalid), (err) => assert.match(err.message, /\/limits\/memoryMb/));

  const unknown = await writeProject({
    'package.json': { name: 'geo', version: '2.0.0', molt: { buildId: 'x' } },
    'index.mjs': 'export default { tools: {} };\n',
  });
  await rejectsPack(pack(unknown), (err) => assert.match(err.message, /unknown field.*buildId/));
});

test('a syntax error fails with its file:line:column', async () => {
  const project = await writeProject({
    'package.json': { name: 'broken', version: '1.0.0' },
    'src/index.ts':
      "import { definePlugin } from 'molt/plugin';\n\nconst x = ;\nexport default x;\n",
  });
  await rejectsPack(buildPlugin(project), (err) => {
    assert.match(err.message, /src\/index\.ts:3:11: /);
    const errors = err.details?.errors as { file: string; line: number; column: number }[];
    assert.equal(errors.length, 1);
    assert.deepEqual(
      { file: errors[0]!.file, line: errors[0]!.line, column: errors[0]!.column },
      { file: 'src/index.ts', line: 3, column: 11 },
    );
  });
  assert.deepEqual(await readdir(project), ['package.json', 'src'], 'nothing is written');

  const missingDep = await writeProject({
    'package.json': { name: 'broken', version: '1.0.0' },
    'index.mjs': "import 'not-installed';\nexport default { tools: {} };\n",
  });
  await rejectsPack(pack(missingDep), (err) => {
    assert.match(err.message, /index\.mjs:1:8: .*not-installed/);
  });
});

test('no package.json, no name, no version or no entry fails with PACK_FAILED', async () => {
  const empty = await tempDir('empty');
  await rejectsPack(pack(empty), (err) => assert.match(err.message, /package\.json/));

  const noName = await writeProject({ 'package.json': { version: '1.0.0' }, 'index.js': '' });
  await rejectsPack(pack(noName), (err) => assert.match(err.message, /"name" is required/));

  const noVersion = await writeProject({ 'package.json': { name: 'x' }, 'index.js': '' });
  await rejectsPack(pack(noVersion), (err) => assert.match(err.message, /"version" is required/));

  const noEntry = await writeProject({ 'package.json': { name: 'x', version: '1.0.0' } });
  await rejectsPack(pack(noEntry), (err) => assert.match(err.message, /no entry found/));

  const missingEntry = await writeProject({
    'package.json': { name: 'x', version: '1.0.0', molt: { entry: 'src/main.ts' } },
  });
  await rejectsPack(pack(missingEntry), (err) => assert.match(err.message, /src\/main\.ts/));
});

test('writeArtifactDir writes a folder a host loads', async () => {
  const built = await buildPlugin(await tsProject('dev-geo', 'dev'));
  const dir = join(await tempDir('artifact'), 'dev-geo');
  await writeArtifactDir(dir, built);
  assert.deepEqual((await readdir(dir)).sort(), ['index.mjs', 'molt.json']);

  const host = await createHost();
  try {
    const loaded = await host.load(dir);
    assert.equal(loaded.buildId, built.manifest.buildId);
    const answer = await host.call('dev-geo', 'combo', { n: 2, parts: ['x', 'y'] });
    assert.deepEqual(answer, { doubled: 4, joined: 'x/y', tag: 'dev' });
  } finally {
    await host.close();
  }

  await rejectsPack(
    writeArtifactDir(dir, { manifest: built.manifest, entryBytes: Buffer.from('tampered') }),
    (err) => assert.match(err.message, /buildId/),
  );
});
