import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ErrorCodes, isMoltError, MoltError } from '../../src/index.js';

const docUrl = new URL('../../../docs/errors.md', import.meta.url);

test('every error code is documented and every documented code exists', async () => {
  const doc = await readFile(docUrl, 'utf8');
  const documented = [...doc.matchAll(/^### ([A-Z_]+)$/gm)].map((m) => m[1]);
  const codes = Object.values(ErrorCodes);
  assert.deepEqual([...documented].sort(), [...codes].sort());
  for (const [key, value] of Object.entries(ErrorCodes)) assert.equal(key, value);
});

test('MoltError is recognised across copies by its brand', () => {
  const err = new MoltError(ErrorCodes.CALL_TIMEOUT, 'late');
  assert.ok(isMoltError(err, 'CALL_TIMEOUT'));
  const lookalike = Object.create(Object.getPrototypeOf(err)) as object;
  assert.ok(lookalike instanceof MoltError);
  assert.equal(new Error('x') instanceof MoltError, false);
  assert.equal(err.code, 'CALL_TIMEOUT');
});

test('every code is reached by some test, so a code no path produces any more is noticed', async () => {
  const testDir = new URL('../', import.meta.url);
  const { readdir } = await import('node:fs/promises');
  const files = (await readdir(testDir, { recursive: true }))
    .map(String)
    .filter((f) => f.endsWith('.test.js') && !f.endsWith('errors-doc.test.js'));
  const text = (await Promise.all(files.map((f) => readFile(new URL(f, testDir), 'utf8')))).join(
    '\n',
  );
  const unreached = Object.values(ErrorCodes).filter((c) => !new RegExp(`\\b${c}\\b`).test(text));
  assert.deepEqual(unreached, []);
});
