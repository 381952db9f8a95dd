/**
 * Input is checked against a tool's JSON Schema before its handler runs, for every door, inside
 * the plugin's own sandbox: a schema built to stall (a backtracking pattern) costs that plugin
 * its call deadline and nothing else. A manifest's configSchema is run the same way, at load.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, type TestContext, test } from 'node:test';
import { admin } from '../../src/admin/client.js';
import { startAdmin } from '../../src/admin/server.js';
import { Deployment } from '../../src/deploy/deployment.js';
import { createHost, type Host, type HostOptions, type MoltError } from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { ManualClock } from '../helpers/clock.js';
import {
  assertBystanderServes,
  loadBystander,
  nextEvent,
  withCode,
} from '../helpers/faults-plugins.js';
import { tempDir } from '../helpers/project.js';

const dirs: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const LIMIT = { timeout: 20_000 };

/** The pattern of the field: nested quantifiers, and a string that makes them backtrack. */
const EVIL_PATTERN = '^(a+)+$';
const EVIL_INPUT = `${'a'.repeat(31)}!`;

const greeter = `export default { tools: {
  greet: {
    inputSchema: {
      type: 'object',
      properties: { who: { type: 'string', minLength: 1 }, times: { type: 'integer', minimum: 1 } },
      required: ['who'],
      additionalProperties: false,
    },
    handler: ({ who, times = 1 }) => ('hello ' + who + ' ').repeat(times).trim(),
  },
  free: { handler: (args) => args },
  modern: {
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      prefixItems: [],
      properties: { pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false } },
      required: ['pair'],
    },
    handler: ({ pair }) => pair.join(':'),
  },
} };`;

async function host(t: TestContext, options: HostOptions = {}): Promise<Host> {
  const h = await createHost({ probationMs: 0, ...options });
  t.after(() => h.close());
  return h;
}

test(
  'host.call checks arguments against the schema: INVALID_INPUT lists each problem; the handler never sees them',
  LIMIT,
  async (t) => {
    const h = await host(t);
    await h.load(await writeArtifact({ name: 'g', source: greeter }));
    assert.equal(await h.call('g', 'greet', { who: 'Ada', times: 2 }), 'hello Ada hello Ada');
    await assert.rejects(h.call('g', 'greet', { times: 0, extra: true }), (err: MoltError) => {
      withCode('INVALID_INPUT', /^invalid arguments for greet: /)(err);
      const problems = err.details?.problems as string[];
      assert.ok(
        problems.some((p) => /^\(root\) must have required property 'who'$/.test(p)),
        String(problems),
      );
      assert.ok(
        problems.some((p) => /^\/times /.test(p)),
        String(problems),
      );
      assert.ok(
        problems.some((p) => /additional property 'extra'/.test(p)),
        String(problems),
      );
      return true;
    });
    await assert.rejects(
      h.call('g', 'greet', { who: 5 }),
      withCode('INVALID_INPUT', /\/who must be string/),
    );
    // A tool with no schema takes any object, and only objects.
    assert.deepEqual(await h.call('g', 'free', { any: ['thing'] }), { any: ['thing'] });
    assert.deepEqual(await h.call('g', 'free'), {}, 'no arguments are an empty object');
    await assert.rejects(
      h.call('g', 'free', [1, 2]),
      withCode('INVALID_INPUT', /must be an object/),
    );
    await assert.rejects(h.call('g', 'free', 'text'), withCode('INVALID_INPUT'));
    // JSON Schema 2020-12, MCP's default dialect, works as such (prefixItems, items: false).
    assert.equal(await h.call('g', 'modern', { pair: ['a', 1] }), 'a:1');
    await assert.rejects(
      h.call('g', 'modern', { pair: ['a', 1, 'extra'] }),
      withCode('INVALID_INPUT'),
    );
    const info = h.plugin('g');
    assert.equal(info?.stats.errors, 5);
    assert.equal(info?.stats.crashes, 0, 'bad input never costs the plugin its sandbox');
  },
);

test('molt call (the control endpoint) gets the same check: 400 INVALID_INPUT', LIMIT, async () => {
  const data = await tempDir('validate-control');
  dirs.push(data);
  const d = await Deployment.open({ dataDir: data, probationMs: 0 });
  const server = await startAdmin(d, data);
  try {
    await d.install(await writeArtifact({ name: 'g', source: greeter }));
    await assert.rejects(admin(data, 'POST', '/v1/plugins/g/tools/greet', { who: 3 }), {
      code: 'INVALID_INPUT',
      message: /\/who must be string/,
    });
    assert.deepEqual(await admin(data, 'POST', '/v1/plugins/g/tools/greet', { who: 'Bo' }), {
      result: 'hello Bo',
    });
  } finally {
    await server.close();
    await d.close();
  }
});

test(
  'a backtracking pattern in an inputSchema stalls only its own plugin, until its call deadline',
  LIMIT,
  async (t) => {
    const clock = new ManualClock();
    const h = await host(t, { clock, unresponsiveMs: 100, restartBackoff: { initialMs: 10 } });
    const generation = await loadBystander(h);
    const evil = `export default { tools: {
    match: {
      inputSchema: { type: 'object', properties: { s: { type: 'string', pattern: ${JSON.stringify(EVIL_PATTERN)} } } },
      handler: ({ s }) => s,
    },
    version: { handler: () => 'evil' },
  } };`;
    await h.load(
      await writeArtifact({
        name: 'evil',
        source: evil,
        manifest: { limits: { callTimeoutMs: 500 } },
      }),
    );
    const crashed = nextEvent(h, 'plugin.crashed', (e) => e.name === 'evil');
    const recovered = nextEvent(h, 'plugin.recovered', (e) => e.name === 'evil');
    const stalled = h.call('evil', 'match', { s: EVIL_INPUT });
    // The host's event loop is free: the neighbour answers, many times, while the pattern runs.
    for (let i = 0; i < 20; i++) await assertBystanderServes(h, generation);
    await clock.fire(500);
    await assert.rejects(stalled, withCode('CALL_TIMEOUT'));
    await clock.fire(100);
    assert.match((await crashed).error.message, /blocked/);
    await clock.fire(10);
    await recovered;
    assert.equal(await h.call('evil', 'version', {}), 'evil');
    await assertBystanderServes(h, generation);
  },
);

test(
  'a backtracking pattern in a configSchema stalls only that load, until its init deadline',
  LIMIT,
  async (t) => {
    const clock = new ManualClock();
    const h = await host(t, { clock });
    const generation = await loadBystander(h);
    const dir = await writeArtifact({
      name: 'evil',
      source: `export default { tools: { version: { handler: () => 'never' } } };`,
      manifest: {
        configSchema: {
          type: 'object',
          properties: { s: { type: 'string', pattern: EVIL_PATTERN } },
        },
        config: { s: EVIL_INPUT },
        limits: { initTimeoutMs: 500 },
      },
    });
    const loading = h.load(dir);
    for (let i = 0; i < 20; i++) await assertBystanderServes(h, generation);
    await clock.fire(500);
    await assert.rejects(loading, withCode('INIT_TIMEOUT'));
    assert.equal(h.plugin('evil'), undefined);
    await assertBystanderServes(h, generation);
  },
);

test(
  'config that does not match its configSchema: MANIFEST_INVALID at load, before the entry runs',
  LIMIT,
  async (t) => {
    const h = await host(t);
    const configSchema = {
      type: 'object',
      properties: { port: { type: 'integer' } },
      required: ['port'],
    };
    const source = `throw new Error('the entry must not run');`;
    await assert.rejects(
      h.load(
        await writeArtifact({
          name: 'cfg',
          source,
          manifest: { configSchema, config: { port: 'x' } },
        }),
      ),
      (err: MoltError) => {
        withCode('MANIFEST_INVALID', /config does not match configSchema/)(err);
        assert.deepEqual(
          (err.details!.problems as { path: string }[]).map((p) => p.path),
          ['/config/port'],
        );
        return true;
      },
    );
    await assert.rejects(
      h.load(
        await writeArtifact({ name: 'cfg', source, manifest: { configSchema: { type: 'nope' } } }),
      ),
      withCode('MANIFEST_INVALID', /configSchema cannot be used/),
    );
  },
);

test(
  'a tool schema that cannot be used fails the load (TOOL_SCHEMA_INVALID); on reload the old version serves',
  LIMIT,
  async (t) => {
    const h = await host(t);
    const withSchema = (schema: string): string =>
      `export default { tools: { t: { inputSchema: ${schema}, handler: () => 'new' } } };`;
    for (const [schema, path] of [
      [
        `{ type: 'object', properties: { a: { type: 'strnig' } } }`,
        '/tools/t/inputSchema/properties/a/type',
      ],
      [
        `{ type: 'object', properties: { a: { pattern: '(' } } }`,
        '/tools/t/inputSchema/properties/a/pattern',
      ],
      [`{ type: 'object', properties: { a: 42 } }`, '/tools/t/inputSchema/properties/a'],
      [`{ type: 'object', required: 'a' }`, '/tools/t/inputSchema/required'],
    ] as const) {
      await assert.rejects(
        h.load(await writeArtifact({ name: 's', source: withSchema(schema) })),
        (err: MoltError) => {
          withCode('TOOL_SCHEMA_INVALID', /tool "t" has an inputSchema that cannot be used/)(err);
          assert.deepEqual(
            (err.details!.problems as { path: string }[]).map((p) => p.path),
            [path],
          );
          return true;
        },
      );
    }
    await h.load(await writeArtifact({ name: 's', source: withSchema(`{ type: 'object' }`) }));
    await assert.rejects(
      h.reload(
        's',
        await writeArtifact({ name: 's', version: '2.0.0', source: withSchema('{ anyOf: 1 }') }),
      ),
      withCode('TOOL_SCHEMA_INVALID'),
    );
    assert.equal(await h.call('s', 't', {}), 'new');
    assert.equal(h.plugin('s')?.version, '1.0.0');
  },
);
