import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { readJsonBody } from '../../src/util/read-json-body.js';

const body = (...chunks: string[]): IncomingMessage =>
  Readable.from(chunks.map((c) => Buffer.from(c))) as IncomingMessage;

test('readJsonBody: JSON, empty, not JSON, and too large (stops reading at the limit)', async () => {
  assert.deepEqual(await readJsonBody(body('{"a":', '[1,2]}'), 100), {
    ok: true,
    value: { a: [1, 2] },
  });
  assert.deepEqual(await readJsonBody(body(), 100), { ok: true, value: undefined });
  assert.deepEqual(await readJsonBody(body('{nope'), 100), { ok: false, reason: 'not-json' });
  let pulled = 0;
  const endless = Readable.from(
    (function* () {
      for (;;) {
        pulled++;
        yield Buffer.alloc(64, 0x20);
      }
    })(),
  ) as IncomingMessage;
  assert.deepEqual(await readJsonBody(endless, 1000), { ok: false, reason: 'too-large' });
  assert.ok(pulled <= 20, `read ${pulled} chunks of an endless body`);
});
