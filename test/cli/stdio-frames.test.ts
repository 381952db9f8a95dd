/**
 * The frames between the host and the `--stdio` relay: the relay passes on exactly the messages
 * the host signed, however the pipe cuts them, and drops whatever else arrives on the channel
 * (forged lines, tampered ones, garbage without a newline, a line too long to buffer).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { FrameReader, MAX_FRAME_BYTES, signer } from '../../src/cli/stdio-relay.js';

const key = randomBytes(32);
const sign = signer(key);
const messages = [
  { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'héllo ✓ \n escaped' }] } },
  { jsonrpc: '2.0', method: 'notifications/tools/list_changed' },
  { jsonrpc: '2.0', id: 'x', result: {} },
].map((m) => JSON.stringify(m));

function read(reader: FrameReader, chunks: Buffer[]): { out: string; dropped: number } {
  let out = '';
  let dropped = 0;
  for (const c of chunks) {
    const r = reader.push(c);
    out += Buffer.concat(r.genuine).toString();
    dropped += r.dropped;
  }
  return { out, dropped };
}

test('signed messages come out as JSON lines, wherever the stream is cut', () => {
  const wire = Buffer.from(messages.map(sign).join(''));
  const expected = messages.map((m) => `${m}\n`).join('');
  for (let cut = 0; cut <= wire.length; cut++) {
    const got = read(new FrameReader(key), [wire.subarray(0, cut), wire.subarray(cut)]);
    assert.deepEqual(got, { out: expected, dropped: 0 }, `cut at ${cut}`);
  }
  const bytes = [...wire].map((b) => Buffer.from([b]));
  assert.deepEqual(read(new FrameReader(key), bytes), { out: expected, dropped: 0 });
});

test('forged, tampered and unterminated lines are dropped; the genuine ones around them pass', () => {
  const forged = `${JSON.stringify({ jsonrpc: '2.0', id: 1, result: {} })}\n`;
  const otherKey = signer(randomBytes(32))(messages[0]!);
  const tampered = sign(messages[2]!).replace('"x"', '"y"');
  const badMac = `\n${'A'.repeat(22)} ${messages[2]}\n`;
  const junk = 'no newline here';
  const wire = [forged, sign(messages[0]!), otherKey, tampered, badMac, junk, sign(messages[1]!)];
  const got = read(new FrameReader(key), [Buffer.from(wire.join(''))]);
  assert.equal(got.out, `${messages[0]}\n${messages[1]}\n`);
  // Every byte of what was dropped, but the empty line that opens each frame.
  const len = Buffer.byteLength;
  const framesDropped = len(otherKey) + len(tampered) + len(badMac) - 3;
  assert.equal(got.dropped, len(forged) + framesDropped + len(junk) + 1);
});

test('a line longer than the bound is skipped without being kept, and reading goes on', () => {
  const reader = new FrameReader(key);
  const mib = Buffer.alloc(1024 * 1024, 'x');
  let dropped = 0;
  for (let i = 0; i <= MAX_FRAME_BYTES / mib.length; i++) {
    const r = reader.push(mib);
    assert.deepEqual(r.genuine, []);
    dropped += r.dropped;
  }
  const got = read(reader, [Buffer.from(sign(messages[1]!))]);
  assert.equal(got.out, `${messages[1]}\n`);
  assert.equal(dropped + got.dropped, MAX_FRAME_BYTES + mib.length + 1);
});
