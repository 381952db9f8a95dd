import assert from 'node:assert/strict';
import { type Dirent, constants as fsc } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { type ErrorCode, ErrorCodes, isMoltError } from '../../src/errors/errors.js';
import { MAX_CONFIG_DEPTH } from '../../src/manifest/manifest.js';
import { crc32, crc32Fallback } from '../../src/store/crc32.js';
import { STORE_TMP_DIR, Store, type StoreLimits } from '../../src/store/index.js';
import { Budget, DEFAULT_STORE_LIMITS, resolveLimits } from '../../src/store/limits.js';
import { sha256 } from '../helpers/artifact.js';
import {
  noise,
  type PluginFiles,
  pluginFiles,
  rawZip,
  writeZip,
  yazlZip,
  zeroBomb,
  zeroDeflate,
} from '../helpers/zip.js';

const MiB = 1024 * 1024;
let base: string;
let n = 0;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'molt-store-'));
});

after(async () => {
  // The store leaves read-only folders; give write access back so the cleanup can unlink.
  const unlock = async (dir: string): Promise<void> => {
    await chmod(dir, 0o755);
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await unlock(join(dir, e.name));
    }
  };
  await unlock(base);
  await rm(base, { recursive: true, force: true });
});

function fresh(label: string): string {
  n += 1;
  return join(base, `${label}-${n}`);
}

async function file(name: string, bytes: Buffer): Promise<string> {
  return writeZip(join(base, `${++n}-${name}`), bytes);
}

async function folder(files: Record<string, string>): Promise<string> {
  const dir = join(base, `dir-${++n}`);
  for (const [rel, data] of Object.entries(files)) {
    const path = join(dir, rel);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, data);
  }
  return dir;
}

/** Every path under `root` with its type and size: what "the store is unchanged" compares. */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      const st = await lstat(join(dir, e.name));
      out.push(`${childRel} ${st.isDirectory() ? 'dir' : st.size}`);
      if (e.isDirectory()) await walk(join(dir, e.name), childRel);
    }
  };
  await walk(root, '');
  // An empty temp folder is the only trace a refused accept may leave.
  return out.filter((line) => line !== `${STORE_TMP_DIR} dir`).sort();
}

/** A store that already holds one artifact, so "unchanged" is checked against real content. */
async function seededStore(limits?: Partial<StoreLimits>): Promise<Store> {
  const store = new Store(fresh('store'), limits);
  await store.accept(await file('seed.molt', await yazlZip(pluginFiles('seed'))));
  return store;
}

async function assertRefused(
  store: Store,
  source: string,
  code: ErrorCode,
  check?: (details: Record<string, unknown>) => void,
): Promise<void> {
  const before = await snapshot(store.root);
  await assert.rejects(store.accept(source), (err: unknown) => {
    assert.ok(isMoltError(err), `expected a MoltError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    check?.(err.details ?? {});
    return true;
  });
  assert.deepEqual(await snapshot(store.root), before, 'the store changed');
  assert.deepEqual(await readdir(join(store.root, STORE_TMP_DIR)), [], 'a temp folder was left');
}

function good(name = 'hello', version = '1.0.0'): PluginFiles {
  return pluginFiles(name, version);
}

describe('accepting good artifacts', () => {
  test('a .molt is extracted read-only under <name>/<version>-<buildId12>', async () => {
    const store = new Store(fresh('store'));
    const files = pluginFiles('hello', '1.2.3');
    const extra = { 'lib/': '', 'lib/data.txt': 'some asset' };
    const src = await file('hello.molt', await yazlZip({ ...files, ...extra }));
    const stored = await store.accept(src);
    const buildId = sha256(files['index.mjs']);
    assert.deepEqual(stored, {
      name: 'hello',
      version: '1.2.3',
      buildId,
      dir: join(store.root, 'hello', `1.2.3-${buildId.slice(0, 12)}`),
      manifestSha256: sha256(files['molt.json']),
    });
    assert.equal(stored.dir, store.path('hello', '1.2.3', buildId));
    assert.equal(await readFile(join(stored.dir, 'index.mjs'), 'utf8'), files['index.mjs']);
    assert.equal(await readFile(join(stored.dir, 'molt.json'), 'utf8'), files['molt.json']);
    assert.equal(await readFile(join(stored.dir, 'lib/data.txt'), 'utf8'), 'some asset');
    for (const f of ['index.mjs', 'molt.json', 'lib/data.txt']) {
      assert.equal((await stat(join(stored.dir, f))).mode & 0o777, 0o444, f);
    }
    for (const d of ['', 'lib']) {
      assert.equal((await stat(join(stored.dir, d))).mode & 0o777, 0o555, d || '(top)');
    }
    assert.equal(await store.has('hello', '1.2.3', buildId), true);
    assert.equal(await store.has('hello', '1.2.4', buildId), false);
    assert.deepEqual(await readdir(join(store.root, STORE_TMP_DIR)), []);
  });

  test('accepting the same artifact twice returns the existing entry', async () => {
    const store = new Store(fresh('store'));
    const src = await file('a.molt', await yazlZip(good()));
    const first = await store.accept(src);
    const snap = await snapshot(store.root);
    const second = await store.accept(src);
    assert.deepEqual(second, first);
    assert.deepEqual(await snapshot(store.root), snap);
    assert.equal((await store.list()).length, 1);
  });

  test('concurrent accepts of one artifact end with one entry and no temp folder', async () => {
    const store = new Store(fresh('store'));
    const src = await file('a.molt', await yazlZip(good()));
    const results = await Promise.all(Array.from({ length: 5 }, () => store.accept(src)));
    for (const r of results) assert.deepEqual(r, results[0]);
    assert.equal((await store.list()).length, 1);
    assert.deepEqual(await readdir(join(store.root, STORE_TMP_DIR)), []);
  });

  test('a folder artifact is copied, and its zip twin maps to the same entry', async () => {
    const store = new Store(fresh('store'));
    const files = { ...good(), 'lib/util.js': 'export const x = 1;\n' };
    const fromDir = await store.accept(await folder(files));
    assert.equal(await readFile(join(fromDir.dir, 'lib/util.js'), 'utf8'), files['lib/util.js']);
    assert.equal((await stat(join(fromDir.dir, 'lib/util.js'))).mode & 0o777, 0o444);
    const fromZip = await store.accept(await file('twin.molt', await yazlZip(files)));
    assert.deepEqual(fromZip, fromDir);
  });

  test('the same key with other contents is refused, not silently deduplicated', async () => {
    const store = new Store(fresh('store'));
    await store.accept(await folder(good()));
    const other = pluginFiles('hello', '1.0.0', undefined, { description: 'changed' });
    await assertRefused(store, await folder({ ...other }), ErrorCodes.STORE_CONFLICT);
  });
});

describe('hostile zips are refused with their own code and leave the store as it was', () => {
  let store: Store;
  before(async () => {
    store = await seededStore({ maxEntries: 8, maxEntryBytes: MiB, maxTotalBytes: 2 * MiB });
  });
  const manifestAnd = (...extra: { name: string; data?: string; mode?: number }[]) => {
    const f = good();
    return rawZip([
      { name: 'molt.json', data: f['molt.json'] },
      { name: 'index.mjs', data: f['index.mjs'] },
      ...extra,
    ]);
  };

  const unsafe: [string, string][] = [
    ['a ../ escape', '../evil.js'],
    ['an escape from a subfolder', 'a/../../evil.js'],
    ['a .. that stays inside', 'a/../b.js'],
    ['an absolute path', '/tmp/evil.js'],
    ['a drive path with a backslash', 'C:\\evil.js'],
    ['a drive path with a slash', 'C:/evil.js'],
    ['a backslash', 'lib\\evil.js'],
    ['a backslash escape', '..\\evil.js'],
    ['a NUL', 'evil.js\0.txt'],
  ];
  for (const [label, name] of unsafe) {
    test(`${label}: ARCHIVE_UNSAFE_PATH`, async () => {
      const src = await file('unsafe.molt', manifestAnd({ name, data: 'x' }));
      await assertRefused(store, src, ErrorCodes.ARCHIVE_UNSAFE_PATH, (d) => {
        assert.equal(typeof d.entry, 'string');
      });
    });
  }

  test('a symlink entry: ARCHIVE_SYMLINK', async () => {
    const src = await file(
      'link.molt',
      manifestAnd({ name: 'link', data: '/etc/passwd', mode: 0o120777 }),
    );
    await assertRefused(store, src, ErrorCodes.ARCHIVE_SYMLINK, (d) =>
      assert.equal(d.entry, 'link'),
    );
  });

  const duplicates: [string, string, string][] = [
    ['the same name twice', 'lib/a.js', 'lib/a.js'],
    ['a/b and a//b', 'a/b', 'a//b'],
    ['a/b and ./a/b', 'a/b', './a/b'],
    ['names differing only in case', 'README', 'readme'],
    ['a file used as a folder', 'a', 'a/b'],
    ['a folder replaced by a file', 'a/b', 'a'],
  ];
  for (const [label, first, second] of duplicates) {
    test(`${label}: ARCHIVE_DUPLICATE_ENTRY`, async () => {
      const src = await file(
        'dup.molt',
        manifestAnd({ name: first, data: '1' }, { name: second, data: '2' }),
      );
      await assertRefused(store, src, ErrorCodes.ARCHIVE_DUPLICATE_ENTRY);
    });
  }

  test('a manifest given twice: ARCHIVE_DUPLICATE_ENTRY', async () => {
    const src = await file('dup.molt', manifestAnd({ name: 'molt.json', data: '{}' }));
    await assertRefused(store, src, ErrorCodes.ARCHIVE_DUPLICATE_ENTRY);
  });

  test('too many entries: ARCHIVE_TOO_LARGE before any is read', async () => {
    const many = Array.from({ length: 20 }, (_, i) => ({ name: `f${i}.txt`, data: 'x' }));
    const src = await file('many.molt', manifestAnd(...many));
    await assertRefused(store, src, ErrorCodes.ARCHIVE_TOO_LARGE, (d) => {
      assert.deepEqual(d, { limit: 'maxEntries', max: 8, value: 22 });
    });
  });

  test('an entry over maxEntryBytes: ARCHIVE_TOO_LARGE', async () => {
    const big = Buffer.alloc(MiB + 1, 'a').toString();
    const src = await file('big.molt', manifestAnd({ name: 'big.txt', data: big }));
    await assertRefused(store, src, ErrorCodes.ARCHIVE_TOO_LARGE, (d) => {
      assert.deepEqual(d, { limit: 'maxEntryBytes', max: MiB, value: MiB + 1, entry: 'big.txt' });
    });
  });

  test('entries over maxTotalBytes together: ARCHIVE_TOO_LARGE', async () => {
    const part = Buffer.alloc(MiB - 10, 'b').toString();
    const parts = [1, 2, 3].map((i) => ({ name: `part${i}.bin`, data: part }));
    const src = await file('total.molt', manifestAnd(...parts));
    await assertRefused(store, src, ErrorCodes.ARCHIVE_TOO_LARGE, (d) => {
      assert.equal(d.limit, 'maxTotalBytes');
      assert.equal(d.max, 2 * MiB);
    });
  });

  test('a zip bomb (300 MiB of zeros in ~300 KiB) is refused without inflating it', async () => {
    const bomb = zeroBomb(300);
    assert.ok(bomb.length < MiB, `the bomb is ${bomb.length} bytes`);
    const src = await file('bomb.molt', bomb);
    const started = performance.now();
    await assertRefused(store, src, ErrorCodes.ARCHIVE_TOO_LARGE, (d) => {
      assert.deepEqual(d, {
        limit: 'maxEntryBytes',
        max: MiB,
        value: 300 * MiB,
        entry: 'bomb.bin',
      });
    });
    // Inflating 300 MiB takes far longer than this; refusing from the header takes milliseconds.
    assert.ok(performance.now() - started < 1000);
  });

  test('a bomb whose header claims a small size is cut off at that size: ARCHIVE_CORRUPT', async () => {
    const { compressed, crc } = zeroDeflate(300);
    const src = await file(
      'liar.molt',
      rawZip([{ name: 'small.txt', method: 8, compressed, crc, uncompressedSize: 1000 }]),
    );
    const started = performance.now();
    await assertRefused(store, src, ErrorCodes.ARCHIVE_CORRUPT);
    assert.ok(performance.now() - started < 1000);
  });

  test('the bomb is a real one: its deflate stream inflates to zeros', () => {
    const { compressed, crc } = zeroDeflate(3);
    const inflated = zlib.inflateRawSync(compressed);
    assert.equal(inflated.length, 3 * MiB);
    assert.ok(inflated.every((b) => b === 0));
    assert.equal(crc, crc32(inflated));
  });

  test('a truncated zip: ARCHIVE_CORRUPT', async () => {
    const whole = await yazlZip(good());
    const src = await file('cut.molt', whole.subarray(0, Math.floor(whole.length / 2)));
    await assertRefused(store, src, ErrorCodes.ARCHIVE_CORRUPT);
  });

  test('random bytes: ARCHIVE_CORRUPT', async () => {
    await assertRefused(store, await file('noise.molt', noise(4096)), ErrorCodes.ARCHIVE_CORRUPT);
  });

  test('an empty file: ARCHIVE_CORRUPT', async () => {
    await assertRefused(
      store,
      await file('empty.molt', Buffer.alloc(0)),
      ErrorCodes.ARCHIVE_CORRUPT,
    );
  });

  test('a stored entry whose compressed and uncompressed sizes differ: ARCHIVE_CORRUPT', async () => {
    const f = good();
    const src = await file(
      'lie.molt',
      rawZip([
        { name: 'molt.json', data: f['molt.json'] },
        { name: 'index.mjs', data: f['index.mjs'] },
        { name: 'x.txt', data: 'hello', uncompressedSize: 3 },
      ]),
    );
    await assertRefused(store, src, ErrorCodes.ARCHIVE_CORRUPT);
  });

  test('a deflated entry that inflates past its declared size: ARCHIVE_CORRUPT', async () => {
    const f = good();
    const src = await file(
      'lie.molt',
      rawZip([
        { name: 'molt.json', data: f['molt.json'] },
        { name: 'index.mjs', data: f['index.mjs'], method: 8, uncompressedSize: 10 },
      ]),
    );
    await assertRefused(store, src, ErrorCodes.ARCHIVE_CORRUPT);
  });

  test('a deflated entry shorter than its declared size: ARCHIVE_CORRUPT', async () => {
    const f = good();
    const src = await file(
      'lie.molt',
      rawZip([
        { name: 'molt.json', data: f['molt.json'], method: 8, uncompressedSize: 5000 },
        { name: 'index.mjs', data: f['index.mjs'] },
      ]),
    );
    await assertRefused(store, src, ErrorCodes.ARCHIVE_CORRUPT);
  });

  test('an entry whose bytes do not match its CRC-32: ARCHIVE_CORRUPT', async () => {
    const f = good();
    const src = await file(
      'crc.molt',
      rawZip([
        { name: 'molt.json', data: f['molt.json'] },
        { name: 'index.mjs', data: f['index.mjs'], crc: crc32(Buffer.from('something else')) },
      ]),
    );
    await assertRefused(store, src, ErrorCodes.ARCHIVE_CORRUPT);
  });

  test('a manifest whose buildId is not the entry: BUILD_MISMATCH', async () => {
    const f = pluginFiles('hello', '1.0.0', undefined, { buildId: sha256('other code') });
    await assertRefused(
      store,
      await file('bm.molt', await yazlZip({ ...f })),
      ErrorCodes.BUILD_MISMATCH,
      (d) => {
        assert.equal(d.expected, sha256('other code'));
        assert.equal(d.actual, sha256(f['index.mjs']));
      },
    );
  });

  test('no manifest: MANIFEST_INVALID', async () => {
    const src = await file('nomf.molt', await yazlZip({ 'index.mjs': good()['index.mjs'] }));
    await assertRefused(store, src, ErrorCodes.MANIFEST_INVALID);
  });

  test('a manifest that is not JSON: MANIFEST_INVALID', async () => {
    const src = await file('bad.molt', await yazlZip({ ...good(), 'molt.json': '{ nope' }));
    await assertRefused(store, src, ErrorCodes.MANIFEST_INVALID);
  });

  test('a manifest whose entry is not in the archive: MANIFEST_INVALID', async () => {
    const src = await file('noentry.molt', await yazlZip({ 'molt.json': good()['molt.json'] }));
    await assertRefused(store, src, ErrorCodes.MANIFEST_INVALID, (d) => {
      assert.deepEqual(d.problems, [{ path: '/entry', message: 'names no file in the artifact' }]);
    });
  });

  test('a version that would not make a clean folder name: MANIFEST_INVALID', async () => {
    const f = pluginFiles('hello', ' 1.0.0');
    await assertRefused(
      store,
      await file('ver.molt', await yazlZip({ ...f })),
      ErrorCodes.MANIFEST_INVALID,
    );
  });

  test('the seeded artifact is still intact', async () => {
    const [seed] = await store.list();
    assert.equal(seed?.name, 'seed');
    assert.equal(await store.has('seed', '1.0.0', seed.buildId), true);
  });
});

describe('hostile folders', () => {
  test('a folder holding a symlink: ARCHIVE_SYMLINK', async () => {
    const store = await seededStore();
    const dir = await folder(good());
    await symlink('/etc/passwd', join(dir, 'passwd'));
    await assertRefused(store, dir, ErrorCodes.ARCHIVE_SYMLINK, (d) =>
      assert.equal(d.entry, 'passwd'),
    );
  });

  test('a symlinked subfolder: ARCHIVE_SYMLINK', async () => {
    const store = await seededStore();
    const dir = await folder({ ...good(), 'lib/a.js': '' });
    await symlink(tmpdir(), join(dir, 'lib', 'outside'));
    await assertRefused(store, dir, ErrorCodes.ARCHIVE_SYMLINK, (d) =>
      assert.equal(d.entry, 'lib/outside'),
    );
  });

  test('a folder with too many files, or too big a file: ARCHIVE_TOO_LARGE', async () => {
    const store = await seededStore({ maxEntries: 4, maxEntryBytes: 1000 });
    const many = await folder({ ...good(), a: '', b: '', c: '' });
    await assertRefused(store, many, ErrorCodes.ARCHIVE_TOO_LARGE, (d) =>
      assert.equal(d.limit, 'maxEntries'),
    );
    const big = await folder({ ...good(), 'big.txt': 'x'.repeat(1001) });
    await assertRefused(store, big, ErrorCodes.ARCHIVE_TOO_LARGE, (d) =>
      assert.equal(d.limit, 'maxEntryBytes'),
    );
  });

  test('a manifest over 1 MiB, or whose config nests too deep: MANIFEST_INVALID', async () => {
    const store = await seededStore();
    const big = pluginFiles('hello', '1.0.0', undefined, { config: 'x'.repeat(MiB) });
    await assertRefused(store, await folder({ ...big }), ErrorCodes.MANIFEST_INVALID, (d) =>
      assert.deepEqual(d.problems, [{ path: '/', message: `is larger than ${MiB} bytes` }]),
    );
    let config: unknown = 1;
    for (let i = 0; i <= MAX_CONFIG_DEPTH; i++) config = { deeper: config };
    const deep = pluginFiles('hello', '1.0.0', undefined, { config });
    await assertRefused(store, await folder({ ...deep }), ErrorCodes.MANIFEST_INVALID, (d) =>
      assert.deepEqual(
        (d.problems as { path: string }[]).map((p) => p.path),
        ['/config'],
      ),
    );
    await assertRefused(
      store,
      await file('deep.molt', await yazlZip({ ...deep })),
      ErrorCodes.MANIFEST_INVALID,
    );
  });

  test('a folder without a manifest: MANIFEST_INVALID', async () => {
    const store = await seededStore();
    await assertRefused(store, await folder({ 'index.mjs': 'x' }), ErrorCodes.MANIFEST_INVALID);
  });

  test('a FIFO is refused, not waited on', async (t) => {
    const { execFileSync } = await import('node:child_process');
    const store = await seededStore();
    const dir = await folder(good());
    try {
      execFileSync('mkfifo', [join(dir, 'pipe')]);
    } catch {
      t.skip('mkfifo is not available');
      return;
    }
    await assertRefused(store, dir, ErrorCodes.ARCHIVE_CORRUPT);
    await assertRefused(store, join(dir, 'pipe'), ErrorCodes.ARCHIVE_CORRUPT);
  });
});

describe('store housekeeping', () => {
  test('sweep() removes a leftover temp folder, even a read-only one', async () => {
    const store = await seededStore();
    const leftover = join(store.root, STORE_TMP_DIR, 'interrupted');
    await mkdir(join(leftover, 'lib'), { recursive: true });
    await writeFile(join(leftover, 'lib', 'half.js'), 'half');
    await chmod(join(leftover, 'lib', 'half.js'), 0o444);
    await chmod(join(leftover, 'lib'), 0o555);
    await chmod(leftover, 0o555);
    const before = await store.list();
    await store.sweep();
    assert.deepEqual(await readdir(join(store.root, STORE_TMP_DIR)), []);
    assert.deepEqual(await store.list(), before);
  });

  test('sweep() on a store that was never written is a no-op', async () => {
    await new Store(fresh('empty')).sweep();
  });

  test('remove() deletes an entry and is idempotent', async () => {
    const store = new Store(fresh('store'));
    const a = await store.accept(await folder(good('a')));
    const b = await store.accept(await folder(good('b')));
    await store.remove(a.name, a.version, a.buildId);
    assert.equal(await store.has(a.name, a.version, a.buildId), false);
    await assert.rejects(stat(a.dir), { code: 'ENOENT' });
    await store.remove(a.name, a.version, a.buildId);
    assert.deepEqual(await store.list(), [b]);
    assert.deepEqual(await readdir(join(store.root, STORE_TMP_DIR)), []);
    await store.sweep();
    assert.deepEqual((await readdir(store.root)).sort(), [STORE_TMP_DIR, 'b']);
  });

  test('list() returns every entry in name and semver order and skips strays', async () => {
    const store = new Store(fresh('store'));
    const accepted = [];
    for (const [name, version] of [
      ['zeta', '1.0.0'],
      ['alpha', '10.0.0'],
      ['alpha', '9.1.0'],
    ] as const) {
      const src = await file(`${name}.molt`, await yazlZip(pluginFiles(name, version)));
      accepted.push(await store.accept(src));
    }
    await mkdir(join(store.root, 'alpha', 'not-an-artifact'));
    await mkdir(join(store.root, 'zeta', '2.0.0-000000000000'));
    await writeFile(join(store.root, 'zeta', '2.0.0-000000000000', 'molt.json'), '{}');
    const listed = await store.list();
    assert.deepEqual(
      listed.map((s) => `${s.name}@${s.version}`),
      ['alpha@9.1.0', 'alpha@10.0.0', 'zeta@1.0.0'],
    );
    for (const s of listed) assert.ok(accepted.some((a) => a.dir === s.dir));
  });

  test('path() refuses keys that could leave the store', () => {
    const store = new Store(fresh('store'));
    const id = 'a'.repeat(64);
    for (const [name, version, buildId] of [
      ['../x', '1.0.0', id],
      ['x', '../../1.0.0', id],
      ['x', '1.0.0/..', id],
      ['x', '1.0.0', '../../etc'],
      ['.tmp', '1.0.0', id],
    ]) {
      assert.throws(
        () => store.path(name!, version!, buildId!),
        (err: unknown) => isMoltError(err, ErrorCodes.MANIFEST_INVALID),
      );
    }
  });

  test('limits must be positive integers and default to the documented values', () => {
    assert.deepEqual(resolveLimits(), {
      maxEntries: 1000,
      maxEntryBytes: 64 * MiB,
      maxTotalBytes: 256 * MiB,
    });
    assert.deepEqual(new Store(fresh('s'), { maxEntries: 5 }).limits, {
      ...DEFAULT_STORE_LIMITS,
      maxEntries: 5,
    });
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new Store(fresh('s'), { maxEntryBytes: bad }), RangeError);
    }
  });
});

describe('building blocks', () => {
  test('the byte meter stops a stream at the limit instead of reading it all', async () => {
    const budget = new Budget({ maxEntries: 10, maxEntryBytes: MiB, maxTotalBytes: 10 * MiB });
    let pulled = 0;
    const chunk = Buffer.alloc(64 * 1024);
    const zeros = Readable.from(
      (function* () {
        for (let i = 0; i < (300 * MiB) / chunk.length; i++) {
          pulled += chunk.length;
          yield chunk;
        }
      })(),
    );
    const sink = new Writable({ write: (_c, _e, done) => done() });
    await assert.rejects(pipeline(zeros, budget.meter('zeros'), sink), (err: unknown) => {
      assert.ok(isMoltError(err, ErrorCodes.ARCHIVE_TOO_LARGE));
      assert.equal(err.details?.limit, 'maxEntryBytes');
      return true;
    });
    assert.ok(pulled < 2 * MiB, `pulled ${pulled} bytes`);
  });

  test('the byte meter counts the total across entries', async () => {
    const budget = new Budget({ maxEntries: 10, maxEntryBytes: MiB, maxTotalBytes: MiB + 10 });
    const sink = () => new Writable({ write: (_c, _e, done) => done() });
    await pipeline(Readable.from([Buffer.alloc(MiB)]), budget.meter('a'), sink());
    await assert.rejects(
      pipeline(Readable.from([Buffer.alloc(11)]), budget.meter('b'), sink()),
      (err: unknown) => isMoltError(err) && err.details?.limit === 'maxTotalBytes',
    );
  });

  test('the JS CRC-32 fallback agrees with zlib', () => {
    const data = noise(100_000);
    const expected = crc32(data);
    assert.equal(crc32Fallback(data, 0), expected);
    assert.equal(
      crc32Fallback(data.subarray(500), crc32Fallback(data.subarray(0, 500), 0)),
      expected,
    );
    assert.equal(crc32Fallback(Buffer.from('123456789'), 0), 0xcbf43926);
  });

  test('the hand-written hostile zips are well-formed apart from their one flaw', async () => {
    const f = good();
    const bytes = rawZip([
      { name: 'molt.json', data: f['molt.json'] },
      { name: 'index.mjs', data: f['index.mjs'], method: 8 },
      { name: 'link', data: 'x', mode: 0o120777 },
    ]);
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.fromBuffer(bytes, { lazyEntries: true }, (e, z) => (e ? reject(e) : resolve(z))),
    );
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        seen.push(
          `${entry.fileName}:${((entry.externalFileAttributes >>> 16) & 0o170000).toString(8)}`,
        );
        zip.readEntry();
      });
      zip.on('end', resolve);
      zip.on('error', reject);
      zip.readEntry();
    });
    assert.deepEqual(seen, ['molt.json:100000', 'index.mjs:100000', 'link:120000']);
    assert.equal(typeof fsc.O_NOFOLLOW, 'number');
  });
});
