/**
 * Zip files for store tests: good ones through yazl, hostile ones through a tiny hand-written
 * writer (yazl refuses the very names and attributes these tests need: `..`, absolute paths,
 * backslashes, symlinks, duplicates, lying sizes).
 */
import { writeFile } from 'node:fs/promises';
import zlib from 'node:zlib';
import yazl from 'yazl';
import { crc32 } from '../../src/store/crc32.js';
import { sha256 } from './artifact.js';

export interface RawEntry {
  /** Written byte for byte, so NULs and backslashes survive. */
  name: string;
  data?: Buffer | string;
  /** 0 stored (default), 8 deflated; with 8 `data` is deflated unless `compressed` is given. */
  method?: 0 | 8;
  /** Already-deflated bytes, for entries built by hand (the zip bomb). */
  compressed?: Buffer;
  /** Unix mode stored in the high 16 bits of the external attributes. */
  mode?: number;
  /** Header lies, to make a corrupt zip on purpose. */
  crc?: number;
  uncompressedSize?: number;
  compressedSize?: number;
}

const DOS_TIME = 0;
const DOS_DATE = (1 << 5) | 1; // 1980-01-01: fixed, so the bytes are deterministic

/** Writes a zip with local headers, a central directory and an end record; no zip64. */
export function rawZip(entries: RawEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const data = Buffer.from(e.data ?? '');
    const method = e.method ?? 0;
    const body = e.compressed ?? (method === 8 ? zlib.deflateRawSync(data) : data);
    const crc = e.crc ?? crc32(data);
    const usize = e.uncompressedSize ?? data.length;
    const csize = e.compressedSize ?? body.length;
    const mode = e.mode ?? (e.name.endsWith('/') ? 0o40755 : 0o100644);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6); // names are UTF-8
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(csize, 18);
    local.writeUInt32LE(usize, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, body);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so the mode bits mean what they say
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(csize, 20);
    central.writeUInt32LE(usize, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((mode & 0xffff) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);

    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** A good zip built by yazl from `files` (name → contents), in the given order. */
export async function yazlZip(files: Record<string, string | Buffer>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(files)) {
    if (name.endsWith('/')) zip.addEmptyDirectory(name, { mtime: new Date(0) });
    else zip.addBuffer(Buffer.from(data), name, { mtime: new Date(0) });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// A type alias, not an interface, so that it fits where a `Record<string, string>` is expected.
export type PluginFiles = {
  'molt.json': string;
  'index.mjs': string;
};

/** The two files of a minimal valid artifact; `manifest` is merged over the generated one. */
export function pluginFiles(
  name: string,
  version = '1.0.0',
  source = `export default { tools: { hi: { handler: () => ${JSON.stringify(name)} } } };\n`,
  manifest: Record<string, unknown> = {},
): PluginFiles {
  const json = { name, version, entry: 'index.mjs', buildId: sha256(source), ...manifest };
  return { 'molt.json': JSON.stringify(json, null, 2), 'index.mjs': source };
}

/**
 * A zip bomb: one entry of `mib` MiB of zeros in about a thousandth of that. Deflating 300 MB is
 * slow (yazl needs ~2 s, mostly its JS CRC), so one MiB is deflated with a sync flush, which ends
 * on a byte boundary without closing the stream, and that block is repeated: every copy is a
 * valid continuation because its back-references only ever reach zeros. An empty final block
 * closes the stream.
 */
export function zeroBomb(mib: number, name = 'bomb.bin'): Buffer {
  const { compressed, crc } = zeroDeflate(mib);
  return rawZip([{ name, method: 8, compressed, crc, uncompressedSize: mib * 1024 * 1024 }]);
}

export function zeroDeflate(mib: number): { compressed: Buffer; crc: number } {
  const zeros = Buffer.alloc(1024 * 1024);
  const block = zlib.deflateRawSync(zeros, { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const finalEmptyBlock = Buffer.from([0x03, 0x00]);
  let crc = 0;
  for (let i = 0; i < mib; i++) crc = crc32(zeros, crc);
  const compressed = Buffer.concat([...Array.from({ length: mib }, () => block), finalEmptyBlock]);
  return { compressed, crc };
}

/** Deterministic pseudo-random bytes (a sha256 chain), so a "random" test never flakes. */
export function noise(length: number, seed = 'molt'): Buffer {
  const out: Buffer[] = [];
  let state = Buffer.from(seed);
  let total = 0;
  while (total < length) {
    state = Buffer.from(sha256(state), 'hex');
    out.push(state);
    total += state.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

export async function writeZip(path: string, bytes: Buffer): Promise<string> {
  await writeFile(path, bytes);
  return path;
}
