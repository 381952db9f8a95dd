/** `molt logs`: the audit log, formatted, optionally followed. */
import { watch } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEntry } from '../catalog/audit.js';
import { lastLines, MAX_LINE_BYTES } from '../catalog/audit-lines.js';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { out } from './output.js';

interface Ref {
  version?: string;
  buildId?: string;
}

function format(e: AuditEntry): string {
  const v = (r: unknown): string =>
    r && typeof r === 'object' ? `${(r as Ref).version ?? '?'}` : '-';
  // An older molt's lines have no seq.
  const seq = typeof e.seq === 'number' ? `#${e.seq}` : '#-';
  const parts = [seq.padStart(5), e.ts, e.action.padEnd(9), e.name];
  if (e.from !== undefined || e.to !== undefined) parts.push(`${v(e.from)} → ${v(e.to)}`);
  const err = e.error as { code?: string; message?: string } | undefined;
  if (err?.code) parts.push(`${err.code}: ${err.message ?? ''}`);
  const total = (e.timings as { total?: number } | undefined)?.total;
  if (total !== undefined) parts.push(`(${total.toFixed(1)} ms)`);
  return parts.join('  ');
}

/** Follow mode reads what was appended in pieces no larger than this. */
const PIECE = 1024 * 1024;

export async function logs(
  dataDir: string,
  options: { follow?: boolean; lines?: string; json?: boolean },
): Promise<void> {
  const file = join(dataDir, 'audit.jsonl');
  let offset = 0;
  let rest = '';
  const show = (l: string): void => {
    if (l.trim() === '') return;
    try {
      out(options.json ? l : format(JSON.parse(l) as AuditEntry));
    } catch {
      // a torn line from a killed writer
    }
  };
  const print = (text: string): void => {
    const lines = (rest + text).split('\n');
    rest = lines.pop() ?? '';
    // No line molt writes is longer: a longer run without a newline is garbage, never held.
    if (rest.length > MAX_LINE_BYTES) rest = '';
    for (const l of lines) show(l);
  };
  const readMore = async (): Promise<void> => {
    const size = (await stat(file).catch(() => undefined))?.size ?? 0;
    if (size <= offset) return;
    const handle = await open(file, 'r');
    try {
      while (offset < size) {
        const buf = Buffer.alloc(Math.min(PIECE, size - offset));
        const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        print(buf.subarray(0, bytesRead).toString('utf8'));
      }
    } finally {
      await handle.close();
    }
  };
  const size = (await stat(file).catch(() => undefined))?.size ?? 0;
  const n = options.lines === undefined ? undefined : Number(options.lines);
  if (n !== undefined && !(Number.isInteger(n) && n >= 0)) {
    throw new MoltError(
      ErrorCodes.OPTIONS_INVALID,
      `--lines takes a whole number ≥ 0, not ${JSON.stringify(options.lines)}`,
    );
  }
  if (n !== undefined && size > 0) {
    const { lines, end } = await lastLines(file, size, n);
    for (const l of lines) show(l);
    offset = end;
  } else {
    await readMore();
  }
  if (!options.follow) return;
  await new Promise<void>(() => {
    let busy = Promise.resolve();
    const watcher = watch(dataDir, () => {
      busy = busy.then(() => readMore());
    });
    process.once('SIGINT', () => {
      watcher.close();
      process.exit(0);
    });
  });
}
