/** Cancellation and progress cross the sandbox boundary. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { BroadcastChannel } from 'node:worker_threads';
import { createHost, type Progress } from '../../src/index.js';
import { cleanArtifacts, writeArtifact } from '../helpers/artifact.js';

after(cleanArtifacts);

test("aborting a call rejects it with CANCELLED and aborts the plugin's ctx.signal", async () => {
  const host = await createHost();
  const channel = new BroadcastChannel(`molt-cancel-${process.pid}`);
  try {
    const source = `
import { BroadcastChannel } from 'node:worker_threads';
const ch = new BroadcastChannel(${JSON.stringify(`molt-cancel-${process.pid}`)});
export default {
  tools: {
    wait: {
      handler: (_args, ctx) => new Promise((resolve) => {
        ctx.signal.addEventListener('abort', () => {
          ch.postMessage('aborted:' + ctx.signal.reason.code);
          resolve('stopped');
        });
        ch.postMessage('entered');
      }),
    },
  },
};`;
    await host.load(await writeArtifact({ name: 'w', source }));
    const messages: string[] = [];
    const next = (): Promise<string> =>
      new Promise((r) => {
        channel.onmessage = (ev) => {
          messages.push((ev as MessageEvent).data as string);
          r((ev as MessageEvent).data as string);
        };
      });
    let got = next();
    const ac = new AbortController();
    const call = host.call('w', 'wait', {}, { signal: ac.signal });
    assert.equal(await got, 'entered');
    got = next();
    ac.abort(new Error('user pressed stop'));
    await assert.rejects(call, { code: 'CANCELLED', message: /user pressed stop/ });
    assert.equal(await got, 'aborted:CANCELLED');
    // An already-aborted signal never reaches the plugin.
    await assert.rejects(host.call('w', 'wait', {}, { signal: AbortSignal.abort() }), {
      code: 'CANCELLED',
    });
    assert.deepEqual(messages, ['entered', 'aborted:CANCELLED']);
  } finally {
    channel.close();
    await host.close();
  }
});

test('progress reports reach onProgress in order, and the result is returned unchanged', async () => {
  const host = await createHost();
  try {
    const source = `export default { tools: { work: { handler: async (args, ctx) => {
      for (let i = 1; i <= 3; i++) ctx.progress(i, 3, 'step ' + i);
      return { done: true, nested: { list: [1, 'two', null], when: new Date(0) } };
    } } } };`;
    await host.load(await writeArtifact({ name: 'w', source }));
    const seen: Progress[] = [];
    const out = await host.call('w', 'work', {}, { onProgress: (p) => seen.push(p) });
    assert.deepEqual(out, { done: true, nested: { list: [1, 'two', null], when: new Date(0) } });
    assert.deepEqual(seen, [
      { done: 1, total: 3, message: 'step 1' },
      { done: 2, total: 3, message: 'step 2' },
      { done: 3, total: 3, message: 'step 3' },
    ]);
  } finally {
    await host.close();
  }
});

test("ctx gives the plugin its manifest config and a log that reaches the host's events", async () => {
  const host = await createHost();
  try {
    const source = `export default {
      init(ctx) { ctx.log.info('init with', ctx.config); },
      tools: { cfg: { handler: (_a, ctx) => ctx.config } },
    };`;
    const logs: unknown[] = [];
    host.on('plugin.log', (e) => logs.push([e.name, e.level, e.msg, e.data]));
    await host.load(
      await writeArtifact({ name: 'cfg', source, manifest: { config: { region: 'eu' } } }),
    );
    assert.deepEqual(await host.call('cfg', 'cfg', {}), { region: 'eu' });
    assert.deepEqual(logs, [['cfg', 'info', 'init with', { region: 'eu' }]]);
  } finally {
    await host.close();
  }
});

test('the entry runs from its artifact folder: import.meta.url, createRequire and artifactDir work', async () => {
  const host = await createHost();
  try {
    const source = `import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const require = createRequire(import.meta.url);
let dir;
export default {
  init(ctx) { dir = ctx.artifactDir; },
  tools: { read: { handler: () => ({
    manifest: require('./molt.json').name,
    sameDir: new URL('.', import.meta.url).pathname.replace(/\\/$/, '') === dir,
    viaDir: JSON.parse(readFileSync(dir + '/molt.json', 'utf8')).version,
  }) } },
};`;
    await host.load(await writeArtifact({ name: 'files', version: '3.1.4', source }));
    assert.deepEqual(await host.call('files', 'read', {}), {
      manifest: 'files',
      sameDir: true,
      viaDir: '3.1.4',
    });
  } finally {
    await host.close();
  }
});
