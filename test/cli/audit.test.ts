/** `molt audit verify` and `molt logs` through the real CLI, on a log a real deployment wrote. */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Deployment } from '../../src/deploy/deployment.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { molt } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';

const dirs: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('molt audit verify: exit 0 on an intact log, 1 naming the first bad line', async () => {
  const data = await tempDir('cli-audit');
  dirs.push(data);
  const d = await Deployment.open({ dataDir: data, probationMs: 0 });
  try {
    await d.install(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
    await d.remove('p');
  } finally {
    await d.close();
  }
  const file = join(data, 'audit.jsonl');
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');

  const ok = await molt(['audit', 'verify', '--data', data]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^ok: ${lines.length} lines, chain intact$`, 'm'));
  const json = await molt(['audit', 'verify', '--data', data, '--json']);
  assert.equal(json.code, 0);
  assert.equal((JSON.parse(json.stdout) as { lines: number }).lines, lines.length);

  const logs = await molt(['logs', '--data', data]);
  assert.deepEqual(
    logs.stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0]),
    lines.map((_, i) => `#${i + 1}`),
    'molt logs starts each entry with its seq',
  );

  lines[1] = lines[1]!.replace('"name":"p"', '"name":"q"');
  await writeFile(file, lines.map((l) => `${l}\n`).join(''));
  const bad = await molt(['audit', 'verify', '--data', data]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /^line 2 \(seq 2\): hash mismatch: /m);
  const badJson = await molt(['audit', 'verify', '--data', data, '--json']);
  assert.equal(badJson.code, 1);
  assert.deepEqual(
    (({ ok: o, line, seq, reason }) => ({ ok: o, line, seq, reason }))(JSON.parse(badJson.stdout)),
    { ok: false, line: 2, seq: 2, reason: 'hash mismatch' },
  );

  const missing = await molt(['audit', 'verify', '--data', join(data, 'nowhere')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /AUDIT_NOT_FOUND/);
});

test('molt logs -n N reads back from the end: the last N entries of a long log, whole lines only', async () => {
  const data = await tempDir('cli-logs');
  dirs.push(data);
  // 3,000 entries (~330 KB): -n 1000 needs more than the first 64 KiB piece read from the end.
  const entry = (seq: number) =>
    JSON.stringify({
      seq,
      ts: '2026-11-30T00:00:00.000Z',
      action: 'reload',
      name: 'p',
      pad: 'x'.repeat(40),
    });
  const all = Array.from({ length: 3000 }, (_, i) => entry(i + 1));
  // A torn last line (a writer killed mid-append) is never shown.
  await writeFile(join(data, 'audit.jsonl'), `${all.join('\n')}\n{"seq":3001,"ts":"2026`);
  const seqs = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.trim().split(/\s+/)[0]);

  const last = await molt(['logs', '--data', data, '-n', '1000']);
  assert.equal(last.code, 0, last.stderr);
  assert.deepEqual(
    seqs(last.stdout),
    Array.from({ length: 1000 }, (_, i) => `#${2001 + i}`),
  );
  const more = await molt(['logs', '--data', data, '-n', '5000']);
  assert.deepEqual(
    seqs(more.stdout),
    Array.from({ length: 3000 }, (_, i) => `#${i + 1}`),
  );
  const none = await molt(['logs', '--data', data, '-n', '0']);
  assert.equal(none.stdout.trim(), '');
  const bad = await molt(['logs', '--data', data, '-n', 'ten']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /OPTIONS_INVALID/);
});
