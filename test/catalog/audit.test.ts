/** The audit log's hash chain: what verify catches, how a torn tail is repaired, restarts. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFile, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type AuditEntry, AuditLog } from '../../src/catalog/audit.js';
import { ZERO_HASH } from '../../src/catalog/audit-chain.js';
import { offsetAfter } from '../../src/catalog/audit-seek.js';
import { verifyAudit } from '../../src/catalog/audit-verify.js';
import { Deployment } from '../../src/deploy/deployment.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { tempDir } from '../helpers/project.js';

const dirs: string[] = [];
after(async () => {
  await cleanArtifacts();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function logFile(): Promise<string> {
  const d = await tempDir('audit');
  dirs.push(d);
  return join(d, 'audit.jsonl');
}

/** A log of `n` plain entries. */
async function written(n: number): Promise<string> {
  const file = await logFile();
  const log = await AuditLog.open(file);
  for (let i = 0; i < n; i++) void log.append('load', `p${i}`, { to: { version: `1.0.${i}` } });
  await log.flush();
  return file;
}

const lines = async (file: string): Promise<string[]> =>
  (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');

const rewrite = (file: string, ls: string[]): Promise<void> =>
  writeFile(file, ls.map((l) => `${l}\n`).join(''));

/** The README's recipe, written apart from the code under test: sort keys, no spaces, sha256. */
function thirdPartyHash(line: string): string {
  const canon = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return `{${Object.keys(o)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${canon(o[k])}`)
        .join(',')}}`;
    }
    return JSON.stringify(v);
  };
  const { hash: _, ...rest } = JSON.parse(line) as Record<string, unknown>;
  return createHash('sha256').update(canon(rest)).digest('hex');
}

test("a real deployment's log is one chain from seq 1, and verifies", async () => {
  const data = await tempDir('audit-deploy');
  dirs.push(data);
  const v1 = await writeArtifact({ name: 'p', source: versionPlugin('v1') });
  const v2 = await writeArtifact({ name: 'p', version: '2.0.0', source: versionPlugin('v2') });
  const d = await Deployment.open({ dataDir: data, probationMs: 60_000 });
  try {
    await d.install(v1);
    await d.install(v2);
    await d.host.rollback('p');
    await d.remove('p');
  } finally {
    await d.close();
  }
  const file = join(data, 'audit.jsonl');
  const ls = await lines(file);
  assert.ok(ls.length >= 5, ls.join('\n'));
  let prev = ZERO_HASH;
  for (const [i, l] of ls.entries()) {
    const e = JSON.parse(l) as AuditEntry;
    assert.equal(e.seq, i + 1);
    assert.equal(e.prev, prev);
    assert.equal(e.hash, thirdPartyHash(l), `line ${i + 1} hashes as the README says`);
    prev = e.hash;
  }
  assert.deepEqual(await verifyAudit(file), {
    ok: true,
    lines: ls.length,
    unchained: 0,
    seq: ls.length,
    hash: prev,
  });
});

test('an edited field fails at that line; an edit that rehashes its line fails at the next', async () => {
  const file = await written(5);
  const ls = await lines(file);
  const original = ls[2]!;
  ls[2] = original.replace('"p2"', '"evil"');
  await rewrite(file, ls);
  assert.deepEqual(await pick(file), { ok: false, line: 3, seq: 3, reason: 'hash mismatch' });

  const e = JSON.parse(ls[2]!) as AuditEntry;
  e.hash = thirdPartyHash(JSON.stringify(e));
  ls[2] = JSON.stringify(e);
  await rewrite(file, ls);
  assert.deepEqual(await pick(file), { ok: false, line: 4, seq: 4, reason: 'prev mismatch' });
});

test('a deleted line fails at the line after the gap, the first line included', async () => {
  const file = await written(5);
  const ls = await lines(file);
  await rewrite(file, [...ls.slice(0, 2), ...ls.slice(3)]);
  assert.deepEqual(await pick(file), { ok: false, line: 3, seq: 4, reason: 'seq gap' });
  await rewrite(file, ls.slice(1));
  assert.deepEqual(await pick(file), { ok: false, line: 1, seq: 2, reason: 'seq gap' });
});

test('a swapped pair fails at the first of the two', async () => {
  const file = await written(5);
  const ls = await lines(file);
  await rewrite(file, [ls[0]!, ls[2]!, ls[1]!, ls[3]!, ls[4]!]);
  assert.deepEqual(await pick(file), { ok: false, line: 2, seq: 3, reason: 'seq gap' });
});

test('a line that is not JSON, or has no chain fields, in the chain fails there', async () => {
  const file = await written(3);
  const ls = await lines(file);
  await rewrite(file, [ls[0]!, '{"ts":"x"', ls[1]!, ls[2]!]);
  assert.deepEqual(await pick(file), { ok: false, line: 2, seq: undefined, reason: 'not JSON' });
  await rewrite(file, [ls[0]!, '{"ts":"x","action":"load","name":"p"}', ls[1]!]);
  assert.deepEqual(await pick(file), { ok: false, line: 2, seq: undefined, reason: 'unchained' });
});

test('a torn tail: verify names it; opening cuts it, says so, and the chain goes on', async () => {
  const file = await written(3);
  const good = (await stat(file)).size;
  // What a SIGKILL in the middle of an append leaves.
  const torn = '{"seq":4,"ts":"2026-01-01T00:00:00.000Z","action":"lo';
  await appendFile(file, torn);
  assert.deepEqual(await pick(file), { ok: false, line: 4, seq: undefined, reason: 'torn tail' });

  const log = await AuditLog.open(file);
  const repaired = (await AuditLog.read(file)).at(-1)!;
  assert.equal(repaired.action, 'audit.repaired');
  assert.equal(repaired.seq, 4);
  assert.equal(repaired.cutBytes, Buffer.byteLength(torn));
  assert.equal((await readFile(file, 'utf8')).includes('"action":"lo"'), false);
  assert.ok((await stat(file)).size > good);
  await log.append('reload', 'p', {});
  await log.flush();
  assert.deepEqual(
    (await AuditLog.read(file)).map((e) => e.seq),
    [1, 2, 3, 4, 5],
  );
  assert.equal((await verifyAudit(file)).ok, true);
});

test('a deployment started on a torn log repairs it before its first entry', async () => {
  const data = await tempDir('audit-torn');
  dirs.push(data);
  const file = join(data, 'audit.jsonl');
  let d = await Deployment.open({ dataDir: data, probationMs: 0 });
  await d.install(await writeArtifact({ name: 'p', source: versionPlugin('v1') }));
  await d.close();
  const seqs = (await AuditLog.read(file)).length;
  await appendFile(file, '{"seq":');
  d = await Deployment.open({ dataDir: data, probationMs: 0 });
  await d.close();
  const es = await AuditLog.read(file);
  assert.deepEqual(
    es.slice(seqs, seqs + 2).map((e) => [e.seq, e.action, e.cutBytes]),
    [
      [seqs + 1, 'audit.repaired', 7],
      [seqs + 2, 'load', undefined],
    ],
  );
  assert.equal((await verifyAudit(file)).ok, true);
});

test('a last line of NULs (a machine crash) is cut with the fragment after it', async () => {
  const file = await written(2);
  await appendFile(file, `${'\0'.repeat(40)}\n{"se`);
  await AuditLog.open(file);
  const es = await AuditLog.read(file);
  assert.deepEqual(
    es.map((e) => [e.seq, e.action, e.cutBytes]),
    [
      [1, 'load', undefined],
      [2, 'load', undefined],
      [3, 'audit.repaired', 45],
    ],
  );
  assert.equal((await verifyAudit(file)).ok, true);
});

test('a torn tail far longer than the first read still finds the last good line', async () => {
  const file = await logFile();
  let log = await AuditLog.open(file);
  await log.append('load', 'big', { blob: 'x'.repeat(200_000) });
  await appendFile(file, `{"seq":2,"blob":"${'y'.repeat(300_000)}`);
  log = await AuditLog.open(file);
  const es = await AuditLog.read(file);
  assert.deepEqual(
    es.map((e) => [e.seq, e.action]),
    [
      [1, 'load'],
      [2, 'audit.repaired'],
    ],
  );
  assert.equal((await verifyAudit(file)).ok, true);
});

test('a torn log with no whole line is cut to nothing and starts at seq 1', async () => {
  const file = await logFile();
  await writeFile(file, '{"seq":1,"ts"');
  const log = await AuditLog.open(file);
  await log.append('load', 'p', {});
  await log.flush();
  assert.deepEqual(
    (await AuditLog.read(file)).map((e) => [e.seq, e.action, e.prev === ZERO_HASH]),
    [
      [1, 'audit.repaired', true],
      [2, 'load', false],
    ],
  );
});

test('a restart continues seq and prev', async () => {
  const file = await written(2);
  const before = await AuditLog.read(file);
  const log = await AuditLog.open(file);
  await log.append('reload', 'p', {});
  await log.flush();
  const third = (await AuditLog.read(file))[2]!;
  assert.equal(third.seq, 3);
  assert.equal(third.prev, before[1]!.hash);
  assert.equal((await verifyAudit(file)).ok, true);
});

test('appends not awaited in between still get consecutive seqs, in call order', async () => {
  const file = await logFile();
  // Not opened first: the first append reads the tail itself, inside the queue.
  const log = new AuditLog(file);
  for (let i = 0; i < 50; i++) void log.append('call', `p${i}`, {});
  await log.flush();
  const es = await AuditLog.read(file);
  assert.deepEqual(
    es.map((e) => `${e.seq}:${e.name}`),
    Array.from({ length: 50 }, (_, i) => `${i + 1}:p${i}`),
  );
  assert.equal((await verifyAudit(file)).ok, true);
});

test("an older molt's log: the chain starts after it, vouching for its bytes", async () => {
  const file = await logFile();
  const old = [
    // An older molt appended after a torn line; it is kept, vouched for like the rest.
    '{"ts":"2025-01-01T00:00:01.000Z","action":"rel{"ts":"x","action":"crash","name":"p"}',
    '{"ts":"2025-01-01T00:00:00.000Z","action":"load","name":"p"}',
  ];
  await rewrite(file, old);
  assert.deepEqual(await pick(file), { ok: false, line: 1, seq: undefined, reason: 'unchained' });

  const log = await AuditLog.open(file);
  await log.append('reload', 'p', {});
  await log.flush();
  const started = JSON.parse((await lines(file))[2]!) as AuditEntry;
  assert.equal(started.action, 'audit.chainStarted');
  assert.equal(started.seq, 1);
  assert.equal(
    started.prev,
    createHash('sha256')
      .update(old.map((l) => `${l}\n`).join(''))
      .digest('hex'),
  );
  const v = await verifyAudit(file);
  assert.equal(v.ok && [v.lines, v.unchained, v.seq].join(), '4,2,2');
  // AuditLog.read pages by seq: the old lines have none, so only a read from the start has them.
  assert.equal((await AuditLog.read(file)).length, 3, 'the torn old line is skipped');
  assert.deepEqual(
    (await AuditLog.read(file, { after: 0 })).map((e) => e.seq),
    [1, 2],
  );

  const ls = await lines(file);
  ls[1] = ls[1]!.replace('"load"', '"unload"');
  await rewrite(file, ls);
  assert.deepEqual(await pick(file), { ok: false, line: 3, seq: 1, reason: 'prev mismatch' });
});

test('read pages by seq: after and limit', async () => {
  const file = await written(10);
  const page = async (o: { after?: number; limit?: number }) =>
    (await AuditLog.read(file, o)).map((e) => e.seq);
  assert.deepEqual(await page({ after: 3, limit: 4 }), [4, 5, 6, 7]);
  assert.deepEqual(await page({ after: 8 }), [9, 10]);
  assert.deepEqual(await page({ limit: 2 }), [1, 2]);
  assert.deepEqual(await page({ after: 10 }), []);
  assert.deepEqual(await page({ limit: 0 }), []);
  assert.deepEqual(await AuditLog.read(`${file}.missing`), []);
});

test('facts from plugins (lone surrogates, __proto__, NaN, huge) still give lines that verify', async () => {
  const file = await logFile();
  const log = await AuditLog.open(file);
  const facts = JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>;
  facts.error = { message: 'bad \uD800 half', code: 'PLUGIN_ERROR' };
  facts.ms = Number.NaN;
  facts.seq = 99; // the log's own fields are not a caller's to set
  await log.append('failure', 'p', facts);
  await log.append('failure', 'p', { error: { message: 'z'.repeat(2 * 1024 * 1024) } });
  const es = await AuditLog.read(file);
  assert.deepEqual(
    es.map((e) => [e.seq, e.ms, Object.hasOwn(e, '__proto__'), e.factsOmitted !== undefined]),
    [
      [1, null, true, false],
      [2, undefined, false, true],
    ],
  );
  assert.equal((es[0]!.error as { message: string }).message, 'bad \uFFFD half');
  assert.equal((await verifyAudit(file)).ok, true);
});

test('verify of a missing log is AUDIT_NOT_FOUND, an empty one is intact', async () => {
  const file = await logFile();
  await assert.rejects(verifyAudit(file), { code: 'AUDIT_NOT_FOUND' });
  await writeFile(file, '');
  assert.deepEqual(await verifyAudit(file), {
    ok: true,
    lines: 0,
    unchained: 0,
    seq: 0,
    hash: ZERO_HASH,
  });
});

/** The verdict without its prose. */
async function pick(file: string) {
  const v = await verifyAudit(file);
  if (v.ok) return v;
  return { ok: v.ok, line: v.line, seq: v.seq, reason: v.reason };
}

test('pages after a seq bisect the file: the right entries from a 20,000-entry log, without a scan from its start', async () => {
  const dir = await tempDir('audit-seek');
  dirs.push(dir);
  const file = join(dir, 'audit.jsonl');
  // Unchained lines of an older molt first, then 20,000 seqs with a torn line, a blank and a
  // 100 KiB garbage run among them (a crash, a hand edit): the seek must step over each.
  const lines = [
    '{"ts":"old","action":"load","name":"a"}',
    '{"ts":"old","action":"load","name":"b"}',
  ];
  for (let seq = 1; seq <= 20_000; seq++) {
    lines.push(JSON.stringify({ seq, ts: 't', action: 'reload', name: 'p', prev: 'x', hash: 'y' }));
    if (seq === 7_000) lines.push('{"seq":7001,"ts":');
    if (seq === 9_000) lines.push('');
    if (seq === 15_000) lines.push('z'.repeat(100 * 1024));
  }
  await writeFile(file, `${lines.join('\n')}\n`);
  const { size } = await stat(file);
  for (const after of [0, 1, 6_999, 7_000, 9_000, 12_345, 14_999, 15_000, 19_998, 20_000, 25_000]) {
    const page = await AuditLog.read(file, { after, limit: 3 });
    const want = [after + 1, after + 2, after + 3].filter((s) => s <= 20_000);
    assert.deepEqual(
      page.map((e) => e.seq),
      want,
      `after ${after}`,
    );
  }
  // The seek lands just before the entries asked for: most of the file is never read.
  const at = await offsetAfter(file, 12_345);
  assert.ok(at > size * 0.55 && at < size * 0.65, `offset ${at} of ${size}`);
  assert.equal(await offsetAfter(file, 0), 0);
  assert.equal(await offsetAfter(join(dir, 'none.jsonl'), 5), 0);
  assert.deepEqual(
    (await AuditLog.readLast(file, 2)).map((e) => e.seq),
    [19_999, 20_000],
  );
});
