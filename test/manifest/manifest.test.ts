/**
 * Step 2 of a reload (validate before any code runs): `validateManifest` and `host.load` reject a
 * bad manifest with MANIFEST_INVALID, reporting every problem with its field path.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  checkConfig,
  createHost,
  HOST_API_VERSION,
  type Host,
  type MoltError,
  validateManifest,
} from '../../src/index.js';
import { LIMIT_RANGES } from '../../src/manifest/limits.js';
import { MAX_CONFIG_DEPTH } from '../../src/manifest/manifest.js';
import { cleanArtifacts, sha256, versionPlugin, writeArtifact } from '../helpers/artifact.js';

after(cleanArtifacts);

const source = versionPlugin('ok');
const good = {
  name: 'geo',
  version: '1.2.3',
  entry: 'index.mjs',
  buildId: sha256(source),
};

interface Problem {
  path: string;
  message: string;
}

/** The problems of a MANIFEST_INVALID error; fails the test on any other error. */
function problemsOf(fn: () => unknown): Problem[] {
  try {
    fn();
  } catch (err) {
    return checkInvalid(err);
  }
  assert.fail('expected MANIFEST_INVALID, but the manifest was accepted');
}

function checkInvalid(err: unknown): Problem[] {
  const e = err as MoltError;
  assert.equal(
    e.code,
    'MANIFEST_INVALID',
    `expected MANIFEST_INVALID, got ${e.code}: ${e.message}`,
  );
  const problems = e.details?.problems as Problem[] | undefined;
  assert.ok(Array.isArray(problems), 'details.problems is a list');
  for (const p of problems) {
    assert.equal(typeof p.path, 'string');
    assert.equal(typeof p.message, 'string');
    assert.ok(p.message.length > 0);
    // Each problem is also in the human message.
    assert.ok(e.message.includes(p.path), `the message names ${p.path}`);
  }
  return problems;
}

/** The sorted field paths of a manifest's problems. */
function pathsOf(manifest: unknown): string[] {
  return problemsOf(() => validateManifest(manifest))
    .map((p) => p.path)
    .sort();
}

/** A config of `levels` objects and arrays, each inside the last (`{"a":[…]}`). */
function nested(levels: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { a: value };
  return value;
}

function without(key: keyof typeof good): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...good };
  delete copy[key];
  return copy;
}

describe('validateManifest', () => {
  test('accepts the smallest valid manifest {name, version, entry, buildId}', () => {
    assert.deepEqual(validateManifest({ ...good }), good);
  });

  test('accepts a full manifest', () => {
    const full = {
      ...good,
      $schema: 'https://example.com/molt.schema.json',
      description: 'geocoding',
      hostApi: '^1.0.0',
      provides: { geo: '1.3.0' },
      requires: { 'auth.tokens': '^2' },
      limits: {
        memoryMb: 64,
        youngGenerationMb: 8,
        stackMb: 4,
        callTimeoutMs: 1000,
        initTimeoutMs: 1000,
        drainTimeoutMs: 0,
        maxQueuedCalls: 0,
      },
      permissions: { net: ['example.com'] },
      isolation: 'worker',
      config: { port: 8080 },
      configSchema: { type: 'object', properties: { port: { type: 'integer' } } },
    };
    assert.deepEqual(validateManifest(full), full);
  });

  for (const key of ['name', 'version', 'entry', 'buildId'] as const) {
    test(`a missing ${key} is reported at /${key}`, () => {
      const problems = problemsOf(() => validateManifest(without(key)));
      assert.deepEqual(
        problems.map((p) => p.path),
        [`/${key}`],
      );
      assert.match(problems[0]!.message, /required/);
    });
  }

  test('every missing field is reported, not just the first', () => {
    assert.deepEqual(pathsOf({}), ['/buildId', '/entry', '/name', '/version']);
  });

  test('a manifest that is not an object is invalid', () => {
    for (const value of [null, 'geo', 42, [good]]) {
      assert.ok(problemsOf(() => validateManifest(value)).length >= 1, JSON.stringify(value));
    }
  });

  test('wrong types are reported with their field paths', () => {
    assert.deepEqual(
      pathsOf({
        name: 42,
        version: 1,
        entry: ['index.mjs'],
        buildId: true,
        description: {},
        isolation: 'vm',
        limits: { memoryMb: 'lots', callTimeoutMs: 1.5 },
        permissions: 'all',
        configSchema: 'object',
      }),
      [
        '/buildId',
        '/configSchema',
        '/description',
        '/entry',
        '/isolation',
        '/limits/callTimeoutMs',
        '/limits/memoryMb',
        '/name',
        '/permissions',
        '/version',
      ],
    );
  });

  test('a name outside [a-z0-9_-] or longer than 64 characters is invalid', () => {
    for (const name of ['', 'Geo', 'geo plugin', '-geo', '../geo', 'g'.repeat(65)]) {
      assert.deepEqual(pathsOf({ ...good, name }), ['/name'], name);
    }
  });

  test('a version that is not semver is invalid', () => {
    for (const version of [
      '1.0',
      '1',
      'latest',
      '1.0.0.0',
      '',
      '^1.0.0',
      ' 1.0.0',
      'v1.0.0',
      '1.0.0\n',
      '=1.0.0',
    ]) {
      const problems = problemsOf(() => validateManifest({ ...good, version }));
      assert.deepEqual(
        problems.map((p) => p.path),
        ['/version'],
        version,
      );
      assert.match(problems[0]!.message, /semver/);
    }
    assert.equal(
      validateManifest({ ...good, version: '2.0.0-rc.1+build.5' }).version,
      '2.0.0-rc.1+build.5',
    );
  });

  test('a buildId that is not 64 lowercase hex digits is invalid', () => {
    for (const buildId of [
      'abc',
      good.buildId.slice(1),
      `${good.buildId}0`,
      good.buildId.toUpperCase(),
      `sha256:${good.buildId}`,
    ]) {
      assert.deepEqual(pathsOf({ ...good, buildId }), ['/buildId'], buildId);
    }
  });

  test('an entry that escapes the artifact folder is invalid', () => {
    for (const entry of [
      '../x.mjs',
      '..',
      'lib/../../x.mjs',
      '/etc/x.mjs',
      '/abs/index.mjs',
      '',
      'a\0b.mjs',
    ]) {
      assert.deepEqual(pathsOf({ ...good, entry }), ['/entry'], JSON.stringify(entry));
    }
    // Inside the folder is fine, even through "..".
    assert.equal(
      validateManifest({ ...good, entry: 'lib/../dist/index.mjs' }).entry,
      'lib/../dist/index.mjs',
    );
    assert.equal(
      validateManifest({ ...good, entry: './dist/index.mjs' }).entry,
      './dist/index.mjs',
    );
  });

  test('unknown fields are reported by path, at the top and inside limits', () => {
    const problems = problemsOf(() =>
      validateManifest({ ...good, colour: 'red', limits: { memoryMb: 64, cpus: 2 } }),
    );
    assert.deepEqual(problems.map((p) => p.path).sort(), ['/colour', '/limits/cpus']);
    for (const p of problems) assert.match(p.message, /not a known field/);
  });

  test('three bad fields yield three problems: /version, /buildId, /entry', () => {
    const problems = problemsOf(() =>
      validateManifest({ ...good, version: 'one', buildId: 'xyz', entry: '../escape.mjs' }),
    );
    assert.equal(problems.length, 3);
    assert.deepEqual(problems.map((p) => p.path).sort(), ['/buildId', '/entry', '/version']);
  });

  test('hostApi, provides and requires are checked as semver ranges and versions', () => {
    assert.deepEqual(
      pathsOf({
        ...good,
        hostApi: 'banana',
        provides: { geo: '^1.3.0' },
        requires: { auth: 'not a range' },
      }),
      ['/hostApi', '/provides/geo', '/requires/auth'],
    );
  });

  test('limits outside their bounds are reported by path', () => {
    assert.deepEqual(
      pathsOf({
        ...good,
        limits: { memoryMb: 8, stackMb: 0, callTimeoutMs: 0, drainTimeoutMs: -1 },
      }),
      ['/limits/callTimeoutMs', '/limits/drainTimeoutMs', '/limits/memoryMb', '/limits/stackMb'],
    );
  });

  test('config is not run against configSchema here: that runs in the sandbox, or checkConfig', () => {
    const configSchema = { type: 'object', properties: { port: { type: 'integer' } } };
    const manifest = { ...good, configSchema, config: { port: 'eighty' } };
    assert.deepEqual(validateManifest(manifest), manifest);
  });

  test(`config nests at most ${MAX_CONFIG_DEPTH} objects and arrays deep; one more is invalid at /config`, () => {
    assert.equal(MAX_CONFIG_DEPTH, 32, 'the documented bound');
    for (const config of [0, 'text', null, {}, [], nested(MAX_CONFIG_DEPTH)]) {
      assert.deepEqual(validateManifest({ ...good, config }).config, config);
    }
    const problems = problemsOf(() =>
      validateManifest({ ...good, config: nested(MAX_CONFIG_DEPTH + 1) }),
    );
    assert.deepEqual(problems, [
      { path: '/config', message: `nests deeper than ${MAX_CONFIG_DEPTH} levels` },
    ]);
    // A deep branch is found beside shallow ones, under arrays as under objects, and it is
    // reported with the manifest's other problems.
    const wide = { a: 1, b: [1, 2, { c: nested(MAX_CONFIG_DEPTH - 1) }] };
    assert.deepEqual(pathsOf({ ...good, config: wide, version: '1' }), ['/config', '/version']);
    // Half a million levels in under a megabyte: refused, not a stack overflow.
    const abyss = JSON.parse(`${'['.repeat(500_000)}${']'.repeat(500_000)}`) as unknown;
    assert.deepEqual(pathsOf({ ...good, config: abyss }), ['/config']);
  });
});

describe('checkConfig', () => {
  const configSchema = {
    type: 'object',
    required: ['port', 'host'],
    properties: { port: { type: 'integer' }, host: { type: 'string' } },
  };
  const paths = (m: Record<string, unknown>): string[] =>
    checkConfig(validateManifest({ ...good, ...m }))
      .map((p) => p.path)
      .sort();

  test('config that does not match configSchema is reported under /config', () => {
    assert.deepEqual(paths({ configSchema, config: { port: 'eighty' } }), [
      '/config',
      '/config/port',
    ]);
    assert.deepEqual(paths({ configSchema, config: 'nope' }), ['/config']);
    assert.deepEqual(paths({ configSchema, config: { port: 80, host: 'localhost' } }), []);
    assert.deepEqual(paths({}), []);
  });

  test('a configSchema that is not a valid JSON Schema is reported at /configSchema', () => {
    assert.deepEqual(paths({ configSchema: { type: 'no-such-type' } }), ['/configSchema/type']);
    assert.deepEqual(paths({ configSchema: { type: 'string', pattern: '(' } }), [
      '/configSchema/pattern',
    ]);
  });
});

describe('host.load with a bad artifact', () => {
  let host: Host;
  const hostReady = createHost();

  after(async () => {
    await (await hostReady).close();
  });

  /** An artifact folder whose molt.json is exactly `text` (the entry is a valid plugin). */
  async function withManifestText(text: string): Promise<string> {
    const dir = await writeArtifact({ name: 'geo', source });
    await writeFile(join(dir, 'molt.json'), text);
    return dir;
  }

  async function rejectsInvalid(dir: string): Promise<Problem[]> {
    host = await hostReady;
    let problems: Problem[] = [];
    await assert.rejects(host.load(dir), (err: unknown) => {
      problems = checkInvalid(err);
      return true;
    });
    assert.equal(
      host.plugins().some((p) => p.name === 'geo'),
      false,
      'nothing was loaded',
    );
    return problems;
  }

  test('the smallest valid manifest {name, version, entry, buildId} loads and serves', async () => {
    host = await hostReady;
    const dir = await withManifestText(JSON.stringify(good));
    const loaded = await host.load(dir);
    try {
      assert.deepEqual(loaded, { name: 'geo', version: '1.2.3', buildId: good.buildId });
      assert.equal(await host.call('geo', 'version', {}), 'ok');
    } finally {
      await host.unload('geo');
    }
  });

  test('missing molt.json', async () => {
    const dir = await writeArtifact({ name: 'geo', source });
    await rm(join(dir, 'molt.json'));
    const problems = await rejectsInvalid(dir);
    assert.equal(problems.length, 1);
    await assert.rejects(host.load(join(dir, 'no-such-folder')), (err: unknown) => {
      checkInvalid(err);
      assert.match((err as Error).message, /molt\.json/);
      return true;
    });
  });

  test('molt.json that is a folder, not a file', async () => {
    const dir = await writeArtifact({ name: 'geo', source });
    await rm(join(dir, 'molt.json'));
    await mkdir(join(dir, 'molt.json'));
    await rejectsInvalid(dir);
  });

  test('invalid JSON', async () => {
    for (const text of ['{ "name": "geo", ', '', 'name: geo', "{'name': 'geo'}"]) {
      const problems = await rejectsInvalid(await withManifestText(text));
      assert.deepEqual(
        problems.map((p) => p.path),
        ['/'],
        text,
      );
    }
  });

  test('a config nested too deep: refused by the reader, before any sandbox starts', async () => {
    const text = JSON.stringify({ ...good, config: nested(MAX_CONFIG_DEPTH + 1) });
    const problems = await rejectsInvalid(await withManifestText(text));
    assert.deepEqual(
      problems.map((p) => p.path),
      ['/config'],
    );
  });

  test('missing fields, wrong types: every problem with its path', async () => {
    assert.deepEqual(
      (await rejectsInvalid(await withManifestText(JSON.stringify({ name: 'geo' }))))
        .map((p) => p.path)
        .sort(),
      ['/buildId', '/entry', '/version'],
    );
    assert.deepEqual(
      (
        await rejectsInvalid(
          await withManifestText(JSON.stringify({ ...good, version: 2, name: true })),
        )
      )
        .map((p) => p.path)
        .sort(),
      ['/name', '/version'],
    );
  });

  test('three bad fields: /version, /buildId, /entry', async () => {
    const dir = await withManifestText(
      JSON.stringify({ ...good, version: 'v-next', buildId: 'deadbeef', entry: '../x.mjs' }),
    );
    const problems = await rejectsInvalid(dir);
    assert.equal(problems.length, 3);
    assert.deepEqual(problems.map((p) => p.path).sort(), ['/buildId', '/entry', '/version']);
  });

  test('an entry escaping the folder never loads, relative or absolute', async () => {
    // A real module outside the artifact folder, so only validation can stop it.
    const outside = await writeArtifact({ name: 'outside', source });
    for (const entry of ['../x.mjs', join(outside, 'index.mjs')]) {
      const problems = await rejectsInvalid(
        await withManifestText(JSON.stringify({ ...good, entry })),
      );
      assert.deepEqual(
        problems.map((p) => p.path),
        ['/entry'],
        entry,
      );
    }
  });

  test('an unknown field', async () => {
    const problems = await rejectsInvalid(
      await withManifestText(JSON.stringify({ ...good, entrypoint: 'index.mjs' })),
    );
    assert.deepEqual(
      problems.map((p) => p.path),
      ['/entrypoint'],
    );
  });

  test('a hostApi range this host does not satisfy: HOST_API_MISMATCH', async () => {
    host = await hostReady;
    const major = Number(HOST_API_VERSION.split('.')[0]);
    const dir = await withManifestText(JSON.stringify({ ...good, hostApi: `^${major + 1}.0.0` }));
    await assert.rejects(host.load(dir), (err: MoltError) => {
      assert.equal(err.code, 'HOST_API_MISMATCH', err.message);
      assert.equal(err.details?.hostApi, `^${major + 1}.0.0`);
      assert.equal(err.details?.host, HOST_API_VERSION);
      return true;
    });
    assert.equal(
      host.plugins().some((p) => p.name === 'geo'),
      false,
    );
    // A range the host satisfies loads.
    await host.load(await withManifestText(JSON.stringify({ ...good, hostApi: `^${major}.0.0` })));
    await host.unload('geo');
  });

  test('config not matching configSchema', async () => {
    const configSchema = {
      type: 'object',
      required: ['port'],
      properties: { port: { type: 'integer', minimum: 1 } },
    };
    const problems = await rejectsInvalid(
      await withManifestText(JSON.stringify({ ...good, configSchema, config: { port: 0 } })),
    );
    assert.deepEqual(
      problems.map((p) => p.path),
      ['/config/port'],
    );
    // Matching config loads and reaches the plugin.
    host = await hostReady;
    const configSource = `export default {
  tools: { config: { handler: (_args, ctx) => ctx.config } },
};
`;
    const dir = await writeArtifact({
      name: 'geo',
      source: configSource,
      manifest: { configSchema, config: { port: 8080 } },
    });
    await host.load(dir);
    try {
      assert.deepEqual(await host.call('geo', 'config', {}), { port: 8080 });
    } finally {
      await host.unload('geo');
    }
  });

  test('reload with a bad manifest fails with every problem; the old version serves', async () => {
    host = await hostReady;
    await host.load(await withManifestText(JSON.stringify(good)));
    try {
      const failed = new Promise<string>((resolve) => {
        const off = host.on('reload.failed', (e) => {
          if (e.name !== 'geo') return;
          off();
          resolve(e.error.code);
        });
      });
      const bad = await withManifestText(
        JSON.stringify({ ...good, version: '2', buildId: 'nope', entry: '/etc/passwd' }),
      );
      let problems: Problem[] = [];
      await assert.rejects(host.reload('geo', bad), (err: unknown) => {
        problems = checkInvalid(err);
        return true;
      });
      assert.deepEqual(problems.map((p) => p.path).sort(), ['/buildId', '/entry', '/version']);
      assert.equal(await failed, 'MANIFEST_INVALID');
      assert.equal(await host.call('geo', 'version', {}), 'ok');
      assert.equal(host.plugins().find((p) => p.name === 'geo')?.version, '1.2.3');
    } finally {
      await host.unload('geo');
    }
  });
});

describe('ranges of durations and sizes', () => {
  test('every limit has a documented range: its ends are valid, one past them is MANIFEST_INVALID', () => {
    for (const [key, [min, max]] of Object.entries(LIMIT_RANGES)) {
      assert.deepEqual(validateManifest({ ...good, limits: { [key]: min } }).limits, {
        [key]: min,
      });
      assert.deepEqual(validateManifest({ ...good, limits: { [key]: max } }).limits, {
        [key]: max,
      });
      assert.deepEqual(pathsOf({ ...good, limits: { [key]: max + 1 } }), [`/limits/${key}`], key);
      assert.deepEqual(pathsOf({ ...good, limits: { [key]: min - 1 } }), [`/limits/${key}`], key);
    }
    // The one from the field: a call timeout of 1e12 ms would never fire.
    assert.deepEqual(pathsOf({ ...good, limits: { callTimeoutMs: 1e12 } }), [
      '/limits/callTimeoutMs',
    ]);
  });

  test('a host refuses the same out-of-range durations as options: OPTIONS_INVALID', async () => {
    for (const options of [
      { callTimeoutMs: 1e12 },
      { probationMs: -1 },
      { drainTimeoutMs: 1.5 },
      { standby: 1000 },
      { restartBackoff: { initialMs: 0 } },
    ]) {
      await assert.rejects(createHost(options), (err: MoltError) => {
        assert.equal(err.code, 'OPTIONS_INVALID', JSON.stringify(options));
        assert.match(err.message, /must be an integer from/);
        return true;
      });
    }
  });
});
