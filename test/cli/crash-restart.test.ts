/**
 * G6: a host SIGKILLed at each step of a reload restarts into a consistent state, serving a
 * version that was known good, with no temp file left and the catalog intact.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { admin } from '../../src/admin/client.js';
import { verifyAudit } from '../../src/catalog/audit-verify.js';
import type { DeployStep } from '../../src/deploy/deployment.js';
import { MoltProcess, packCalcVersions } from '../helpers/cli.js';
import { placeArtifact, tempDir } from '../helpers/project.js';

let root = '';
const packed: string[] = [];
before(async () => {
  root = await tempDir('kill');
  packed.push(
    ...(await packCalcVersions(root, join(root, 'out'), [
      ['1.0.0', 'one'],
      ['2.0.0', 'two'],
    ])),
  );
});
after(() => rm(root, { recursive: true, force: true }));

/** Every file under `dir`, relative, for spotting leftovers. */
async function files(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

const steps: DeployStep[] = [
  'accepted',
  'installed',
  'catalog.beforeRename',
  'swapped',
  'activated',
];

for (const step of steps) {
  test(`SIGKILL at "${step}" of a reload: the restart is consistent and serves a known-good version`, async () => {
    const case_ = join(root, step);
    const plugins = join(case_, 'plugins');
    const data = join(case_, 'data');
    await mkdir(plugins, { recursive: true });
    await placeArtifact(packed[0]!, plugins);
    const args = ['serve', plugins, '--data', data, '--stable', '50', '--probation', '0'];

    const first = new MoltProcess(args, { MOLT_TEST_KILL_AT: step });
    await first.waitFor(/^ready: serving 1 plugin/);
    await placeArtifact(packed[1]!, plugins);
    const { signal } = await first.exited;
    assert.equal(signal, 'SIGKILL', `the hook stopped the host at ${step}`);

    const catalog = JSON.parse(await readFile(join(data, 'catalog.json'), 'utf8')) as {
      plugins: { calc: { active: { version: string }; knownGood: { version: string } } };
    };
    const activeBefore = catalog.plugins.calc.active.version;
    assert.ok(['1.0.0', '2.0.0'].includes(activeBefore));

    const second = new MoltProcess(args);
    try {
      await second.waitFor(/^ready: serving 1 plugin/);
      // The restart first brought back what the catalog said was active, then the folder's newest.
      const audit = (await readFile(join(data, 'audit.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const loads = audit.filter((e: { action: string }) => e.action === 'load');
      assert.equal(loads.at(-1).to.version, activeBefore, 'restored the active version first');
      const { result } = await admin<{ result: unknown }>(
        data,
        'POST',
        '/v1/plugins/calc/tools/version',
        {},
      );
      assert.equal(result, 'two');
      // The store keeps an empty .tmp folder for its staging; nothing may remain inside it.
      const leftovers = (await files(data)).filter(
        (f) => f.includes('.tmp/') || (f.endsWith('.tmp') && f !== 'store/.tmp'),
      );
      assert.deepEqual(leftovers, []);
      const store = (await readdir(join(data, 'store', 'calc'))).sort();
      assert.equal(store.length, 2);
      assert.ok(store[0]!.startsWith('1.0.0-') && store[1]!.startsWith('2.0.0-'));
    } finally {
      await second.stop();
    }
    const verdict = await verifyAudit(join(data, 'audit.jsonl'));
    assert.equal(verdict.ok, true, `the audit chain survives the kill: ${JSON.stringify(verdict)}`);
  });
}
