import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { ErrorCodes, MoltError } from '../errors/errors.js';

let table: Uint32Array | undefined;

function crc32Js(data: Uint8Array, previous: number): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) {
    crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}

// zlib.crc32 arrived in Node 20.15; molt supports every Node 20.
const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 (the zip polynomial) of `data`, continuing from `previous`. */
export function crc32(data: Uint8Array, previous = 0): number {
  return typeof native === 'function' ? native(data, previous) : crc32Js(data, previous);
}

/** Exposed for the test that proves the fallback agrees with zlib. */
export const crc32Fallback = crc32Js;

/**
 * A pass-through that fails at the end if the bytes' CRC-32 is not `expected`: yauzl checks
 * sizes but not checksums, and a flipped byte in a zip must not reach the store.
 */
export function crc32Check(expected: number, entry: string): Transform {
  let crc = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      crc = crc32(chunk, crc);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      if (crc !== expected >>> 0) {
        const message = `${entry}: CRC-32 is ${crc.toString(16)}, the header says ${expected.toString(16)}`;
        done(new MoltError(ErrorCodes.ARCHIVE_CORRUPT, message, { details: { entry } }));
      } else {
        done();
      }
    },
  });
}
