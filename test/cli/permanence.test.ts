/**
 * Two-phase permanence (issue 11): a host SIGKILLed while a version is on trial comes back on
 * the last permanent version, and says so in its audit log; once `molt promote` ended the
 * trial, a restart serves the new one.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { admin } from '../../src/admin/client.js';
import { MoltProcess, molt, packCalcVersions } from '../helpers/cli.js';
import { placeArtifact, tempDir } from '../helpers/project.js';

let root = '';
const packed: string[] = [];
before(async () => {
  root = await tempDir('permanence');
  packed.push(
    ...(await packCalcVersions(root, join(root, 'out'), [
      ['1.0.0', 'one'],
      ['2.0.0', 'two'],
    ])),
  );
});
after(() => rm(root, { recursive: true, force: true }));

async function version(data: string): Promise<unknown> {
  const { result } = await admin<{ result: unknown }>(
    data,
    'POST',
    '/v1/plugins/calc/tools/version',
    {},
  );
  return result;
}

/** v1 serving, then v2 on a trial of an hour; resolves once v2 serves. */
async function onTrial(name: string): Promise<{ data: string; host: MoltProcess; args: string[] }> {
  const plugins = join(root, name, 'plugins');
  const data = join(root, name, 'data');
  await mkdir(plugins, { recursive: true });
  await placeArtifact(packed[0]!, plugins);
  const args = ['serve', plugins, '--data', data, '--stable', '50', '--probation', '3600000'];
  const host = new MoltProcess(args);
  await host.waitFor(/^ready: serving 1 plugin/);
  await placeArtifact(packed[1]!, plugins);
  await host.waitFor(/calc@2\.0\.0 \S+ reloaded/);
  assert.equal(await version(data), 'two');
  return { data, host, args };
}

test('SIGKILL during a trial: the restarted host serves the last permanent version, audited', async () => {
  const { data, host, args } = await onTrial('killed');
  const status = await molt(['status', '--data', data]);
  assert.match(status.stdout, /calc 2\.0\.0 on trial for .*: 1 calls.*undecided \(1 of 50 calls/);
  host.child.kill('SIGKILL');
  assert.equal((await host.exited).signal, 'SIGKILL');

  const again = new MoltProcess(args);
  try {
    await again.waitFor(/^ready: serving 1 plugin/);
    assert.equal(await version(data), 'one');
    const audit = (await readFile(join(data, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; trial?: { version: string } });
    const abandoned = audit.filter((e) => e.action === 'restore.trialAbandoned');
    assert.deepEqual(
      abandoned.map((e) => e.trial?.version),
      ['2.0.0'],
    );
    // Nothing is on trial now: promote says so.
    const promote = await molt(['promote', 'calc', '--data', data]);
    assert.notEqual(promote.code, 0);
    assert.match(promote.stderr, /NO_TRIAL/);
  } finally {
    await again.stop();
  }
});

test('after molt promote the new version is permanent: SIGKILL, and the restart serves it', async () => {
  const { data, host, args } = await onTrial('promoted');
  const promote = await molt(['promote', 'calc', '--data', data]);
  assert.equal(promote.code, 0, promote.stderr);
  assert.match(promote.stdout, /promoted calc: 2\.0\.0 .* is permanent/);
  host.child.kill('SIGKILL');
  await host.exited;

  const again = new MoltProcess(args);
  try {
    await again.waitFor(/^ready: serving 1 plugin/);
    assert.equal(await version(data), 'two');
  } finally {
    await again.stop();
  }
});

test('molt abort ends a trial with a rollback to the permanent version', async () => {
  const { data, host } = await onTrial('aborted');
  try {
    const abort = await molt(['abort', 'calc', '--data', data]);
    assert.equal(abort.code, 0, abort.stderr);
    assert.match(abort.stdout, /aborted the trial of calc: now 1\.0\.0/);
    assert.equal(await version(data), 'one');
  } finally {
    await host.stop();
  }
});
