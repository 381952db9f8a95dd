/**
 * Resources, prompts and completions through the host API: calls of their own kind on the tool
 * call path (typed errors, cancellation, a crash, the hold queue of a handover), answers
 * normalized and bounded in the sandbox, and hostile declarations refused at load with a typed
 * code while the host serves on.
 */
import assert from 'node:assert/strict';
import { after, type TestContext, test } from 'node:test';
import { createHost, type Host } from '../../src/index.js';
import { loadedInfoProblem } from '../../src/sandbox/protocol.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';
import { ManualClock } from '../helpers/clock.js';
import { withCode } from '../helpers/faults-plugins.js';
import { createGate, gateSource } from '../helpers/gate.js';

after(cleanArtifacts);

const LIMIT = { timeout: 60_000 };

async function host(t: TestContext): Promise<Host> {
  const h = await createHost({ probationMs: 0 });
  t.after(() => h.close());
  return h;
}

const plugin = (body: string): string => `export default { tools: {}, ${body} };`;

test(
  'read answers are normalized to MCP contents; a bad one is INVALID_OUTPUT',
  LIMIT,
  async (t) => {
    const h = await host(t);
    await h.load(
      await writeArtifact({
        name: 'shapes',
        source: plugin(`resources: {
        'a://text': { mimeType: 'text/markdown', read: () => '# hi' },
        'a://many': { read: () => [{ text: 'one' }, { uri: 'a://other', blob: 'AA==', mimeType: 'application/octet-stream' }] },
        'a://full': { read: async () => ({ contents: [{ uri: 'a://full', text: 'x' }] }) },
        'a://number': { read: () => 42 },
        'a://nothing': { read: () => [{ uri: 'a://nothing' }] },
        'a://throws': { read: () => { throw new Error('no such note'); } },
      }`),
      }),
    );
    assert.deepEqual(await h.readResource('shapes', 'a://text'), {
      contents: [{ uri: 'a://text', mimeType: 'text/markdown', text: '# hi' }],
    });
    assert.deepEqual(await h.readResource('shapes', 'a://many'), {
      contents: [
        { uri: 'a://many', mimeType: 'text/plain', text: 'one' },
        { uri: 'a://other', mimeType: 'application/octet-stream', blob: 'AA==' },
      ],
    });
    assert.deepEqual(await h.readResource('shapes', 'a://full'), {
      contents: [{ uri: 'a://full', mimeType: 'text/plain', text: 'x' }],
    });
    await assert.rejects(h.readResource('shapes', 'a://number'), withCode('INVALID_OUTPUT'));
    await assert.rejects(
      h.readResource('shapes', 'a://nothing'),
      withCode('INVALID_OUTPUT', /text or a blob/),
    );
    await assert.rejects(
      h.readResource('shapes', 'a://throws'),
      withCode('PLUGIN_ERROR', /no such note/),
    );
    await assert.rejects(h.readResource('shapes', 'a://unknown'), withCode('UNKNOWN_RESOURCE'));
    await assert.rejects(h.readResource('shapes', 'x'.repeat(5000)), withCode('INVALID_INPUT'));
    await assert.rejects(h.readResource('nobody', 'a://text'), withCode('UNKNOWN_PLUGIN'));
    // The tool path is untouched: an unknown tool is still UNKNOWN_TOOL.
    await assert.rejects(h.call('shapes', 'read', {}), withCode('UNKNOWN_TOOL'));
  },
);

test(
  'prompts and completions: arguments checked before get, completions capped at 100',
  LIMIT,
  async (t) => {
    const h = await host(t);
    await h.load(
      await writeArtifact({
        name: 'p',
        source: plugin(`prompts: {
        ask: {
          arguments: [{ name: 'q', required: true }],
          get: ({ q }) => 'Q: ' + q,
          complete: { q: (v, _ctx, context) => Array.from({ length: 500 }, (_, i) => v + i + (context.lang ?? '')) },
        },
        bad: { get: () => ({ messages: [{ role: 'system', content: { type: 'text', text: 'x' } }] }) },
        badComplete: { get: () => 'x', complete: { a: () => 'not a list' } },
      }`),
      }),
    );
    assert.deepEqual(await h.getPrompt('p', 'ask', { q: 'why' }), {
      messages: [{ role: 'user', content: { type: 'text', text: 'Q: why' } }],
    });
    await assert.rejects(h.getPrompt('p', 'ask', {}), withCode('INVALID_INPUT', /missing q/));
    await assert.rejects(
      h.getPrompt('p', 'ask', { q: 1 } as unknown as Record<string, string>),
      withCode('INVALID_INPUT', /must be a string/),
    );
    await assert.rejects(h.getPrompt('p', 'bad'), withCode('INVALID_OUTPUT', /role/));
    const done = await h.complete(
      'p',
      { type: 'ref/prompt', name: 'ask' },
      { name: 'q', value: 'n', context: { lang: '-fr' } },
    );
    assert.equal(done.values.length, 100);
    assert.equal(done.values[0], 'n0-fr');
    assert.equal(done.total, 500);
    assert.equal(done.hasMore, true);
    await assert.rejects(
      h.complete('p', { type: 'ref/prompt', name: 'badComplete' }, { name: 'a', value: '' }),
      withCode('INVALID_OUTPUT'),
    );
    await assert.rejects(
      h.complete('p', { type: 'ref/prompt', name: 'none' }, { name: 'a', value: '' }),
      withCode('UNKNOWN_PROMPT'),
    );
    await assert.rejects(
      h.complete('p', { type: 'ref/resource', uri: 'a://{x}' }, { name: 'x', value: '' }),
      withCode('UNKNOWN_RESOURCE'),
    );
  },
);

test(
  'a read is a call: cancelled through ctx.signal, a crash is PLUGIN_CRASHED',
  LIMIT,
  async (t) => {
    const h = await host(t);
    const gate = createGate('read-cancel');
    t.after(() => gate.close());
    await h.load(
      await writeArtifact({
        name: 'calls',
        source:
          gateSource +
          plugin(`resources: {
        'c://wait': { read: (uri, ctx) => new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => resolve('aborted'));
          gate(${JSON.stringify(gate.name)});
        }) },
        'c://crash': { read: () => process.exit(3) },
      }`),
      }),
    );
    const controller = new AbortController();
    const reading = h.readResource('calls', 'c://wait', { signal: controller.signal });
    await gate.entered(1);
    assert.equal(h.plugin('calls')?.inFlight, 1);
    controller.abort(new Error('enough'));
    await assert.rejects(reading, withCode('CANCELLED', /enough/));
    await assert.rejects(h.readResource('calls', 'c://crash'), withCode('PLUGIN_CRASHED'));
  },
);

test(
  'during a state handover a read waits in the hold queue and runs on the new generation',
  LIMIT,
  async (t) => {
    const h = await host(t);
    const gate = createGate('handover');
    t.after(() => gate.close());
    const stateful = (tag: string): string =>
      gateSource +
      `let n = 0;
export default {
  tools: { hold: { handler: async () => { await gate(${JSON.stringify(gate.name)}); return ++n; } } },
  resources: { 's://tag': { read: () => ${JSON.stringify(tag)} + ':' + n } },
  snapshot: () => n,
  restore: (s) => { n = s; },
};`;
    await h.load(await writeArtifact({ name: 's', source: stateful('v1') }));
    const holding = h.call('s', 'hold', {});
    await gate.entered(1);
    const held = new Promise<void>((resolve) => {
      const off = h.on('slot.state', (e) => {
        if (e.to === 'held') {
          off();
          resolve();
        }
      });
    });
    const reload = h.reload(
      's',
      await writeArtifact({ name: 's', version: '2.0.0', source: stateful('v2') }),
    );
    await held;
    const read = h.readResource('s', 's://tag');
    gate.open();
    assert.equal(await holding, 1);
    await reload;
    assert.deepEqual((await read).contents[0], {
      uri: 's://tag',
      mimeType: 'text/plain',
      text: 'v2:1',
    });
  },
);

test(
  'hostile declarations fail the load with a typed code; the host serves on',
  LIMIT,
  async (t) => {
    const h = await host(t);
    await h.load(
      await writeArtifact({
        name: 'fine',
        source: plugin(`resources: { 'f://x': { read: () => 'fine' } }`),
      }),
    );
    const cases: [string, string, RegExp][] = [
      [
        `resources: Object.fromEntries(Array.from({ length: 100000 }, (_, i) => ['r://' + i, { read: () => '' }]))`,
        'RESOURCE_INVALID',
        /100000 resources: at most 1024/,
      ],
      [
        `resources: { ['r://' + 'x'.repeat(1024 * 1024)]: { read: () => '' } }`,
        'RESOURCE_INVALID',
        /1 to 4096/,
      ],
      [`resources: { 'r://{id': { read: () => '' } }`, 'RESOURCE_INVALID', /never closed/],
      [`resources: { 'r://id}': { read: () => '' } }`, 'RESOURCE_INVALID', /closes nothing/],
      [`resources: { 'r://{+path}': { read: () => '' } }`, 'RESOURCE_INVALID', /only \{name\}/],
      [`resources: { 'r://{a}{b}': { read: () => '' } }`, 'RESOURCE_INVALID', /nothing between/],
      [
        `resources: { 'r://x': { name: 'n'.repeat(5000), read: () => '' } }`,
        'RESOURCE_INVALID',
        /name/,
      ],
      [`resources: { 'r://x': {} }`, 'RESOURCE_INVALID', /no read function/],
      [
        `resources: { 'r://{a}': { read: () => '', complete: { a: 'nope' } } }`,
        'RESOURCE_INVALID',
        /not a function/,
      ],
      [
        `prompts: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => ['p' + i, { get: () => '' }]))`,
        'PROMPT_INVALID',
        /at most 1024/,
      ],
      [
        `prompts: { p: { get: () => '', arguments: [{ description: 'no name' }] } }`,
        'PROMPT_INVALID',
        /argument/,
      ],
      [
        `prompts: { p: { get: () => '', arguments: [{ name: 'a', required: 'yes' }] } }`,
        'PROMPT_INVALID',
        /required/,
      ],
      [`prompts: { p: {} }`, 'PROMPT_INVALID', /no get function/],
    ];
    for (const [body, code, message] of cases) {
      await assert.rejects(
        h.load(await writeArtifact({ name: 'bad', source: plugin(body) })),
        withCode(code, message),
      );
    }
    assert.deepEqual(
      h.plugins().map((p) => p.name),
      ['fine'],
    );
    assert.equal((await h.readResource('fine', 'f://x')).contents.length, 1);
  },
);

test(
  'ctx.resourceUpdated: a host event per note; a URI out of bounds is RESOURCE_INVALID',
  LIMIT,
  async (t) => {
    const h = await host(t);
    await h.load(
      await writeArtifact({
        name: 'u',
        source: `export default { tools: {
        touch: { handler: ({ uri }, ctx) => { ctx.resourceUpdated(uri); return 'ok'; } },
      } };`,
      }),
    );
    const seen: string[] = [];
    const got = new Promise<void>((resolve) =>
      h.on('resource.updated', (e) => {
        seen.push(`${e.name} ${e.uri} ${e.generation === h.plugin('u')?.generation}`);
        resolve();
      }),
    );
    await h.call('u', 'touch', { uri: 'u://1' });
    await got;
    assert.deepEqual(seen, ['u u://1 true']);
    await assert.rejects(
      h.call('u', 'touch', { uri: 'x'.repeat(5000) }),
      withCode('RESOURCE_INVALID'),
    );
    await assert.rejects(h.call('u', 'touch', { uri: 7 }), withCode('RESOURCE_INVALID'));
  },
);

test('the host re-checks a forged load report: counts and lengths past their bounds', () => {
  const base = {
    buildId: 'a'.repeat(64),
    tools: [],
    stateful: false,
    stateVersion: 1,
    hasHealth: false,
    resources: [],
    resourceTemplates: [],
    prompts: [],
  };
  assert.equal(loadedInfoProblem(base), undefined);
  const many = Array.from({ length: 100_000 }, (_, i) => ({ uri: `r://${i}`, name: 'r' }));
  assert.match(loadedInfoProblem({ ...base, resources: many }) ?? '', /more than 1024/);
  assert.match(
    loadedInfoProblem({ ...base, resources: [{ uri: 'x'.repeat(1 << 20), name: 'x' }] }) ?? '',
    /URI must be 1 to 4096/,
  );
  assert.match(
    loadedInfoProblem({ ...base, resourceTemplates: [{ uriTemplate: 'r://{a}', name: 7 }] }) ?? '',
    /name must be/,
  );
  assert.match(
    loadedInfoProblem({ ...base, prompts: [{ name: 'p', arguments: [{ name: '' }] }] }) ?? '',
    /argument name/,
  );
  assert.match(
    loadedInfoProblem({ ...base, prompts: undefined }) ?? '',
    /no resource, template or prompt list/,
  );
});

test('in a process sandbox too: a template read, a prompt and a completion', LIMIT, async (t) => {
  const h = await host(t);
  await h.load(
    await writeArtifact({
      name: 'proc',
      manifest: { isolation: 'process' },
      source:
        plugin(`resources: { 'p://item/{n}': { read: (_u, _c, { n }) => 'item ' + n, complete: { n: (v) => [v + '1'] } } },
        prompts: { hi: { get: () => 'hi' } }`),
    }),
  );
  assert.equal(h.plugin('proc')?.isolation, 'process');
  assert.deepEqual((await h.readResource('proc', 'p://item/9')).contents[0], {
    uri: 'p://item/9',
    mimeType: 'text/plain',
    text: 'item 9',
  });
  assert.equal((await h.getPrompt('proc', 'hi')).messages.length, 1);
  assert.deepEqual(
    (
      await h.complete(
        'proc',
        { type: 'ref/resource', uri: 'p://item/{n}' },
        { name: 'n', value: '4' },
      )
    ).values,
    ['41'],
  );
});

test(
  'a read and a prompt have the call deadline: CALL_TIMEOUT at callTimeoutMs',
  LIMIT,
  async (t) => {
    const clock = new ManualClock();
    const h = await createHost({ probationMs: 0, clock, callTimeoutMs: 500 });
    const gate = createGate('deadline');
    t.after(async () => {
      gate.open();
      gate.close();
      await h.close();
    });
    await h.load(
      await writeArtifact({
        name: 'slow',
        source:
          gateSource +
          plugin(`resources: { 's://slow': { read: () => gate(${JSON.stringify(gate.name)}).then(() => 'late') } },
        prompts: { slow: { get: () => gate(${JSON.stringify(gate.name)}).then(() => 'late') } }`),
      }),
    );
    const read = h.readResource('slow', 's://slow');
    const got = h.getPrompt('slow', 'slow');
    await gate.entered(2);
    await clock.fire(500);
    await assert.rejects(read, withCode('CALL_TIMEOUT'));
    await assert.rejects(got, withCode('CALL_TIMEOUT'));
  },
);
