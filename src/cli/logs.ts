/** `molt logs`: the audit log, formatted, optionally followed. */
import { watch } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEntry } from '../catalog/audit.js';
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

export async function logs(
  dataDir: string,
  options: { follow?: boolean; lines?: string; json?: boolean },
): Promise<void> {
  const file = join(dataDir, 'audit.jsonl');
  let offset = 0;
  let rest = '';
  const print = (text: string, limit?: number): void => {
    const lines = (rest + text).split('\n');
    rest = lines.pop() ?? '';
    const shown = limit === undefined ? lines : lines.slice(-limit);
    for (const l of shown) {
      if (l.trim() === '') continue;
      try {
        out(options.json ? l : format(JSON.parse(l) as AuditEntry));
      } catch {
        // a torn line from a killed writer
      }
    }
  };
  const readMore = async (limit?: number): Promise<void> => {
    const size = (await stat(file).catch(() => undefined))?.size ?? 0;
    if (size <= offset) return;
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(size - offset);
      await handle.read(buf, 0, buf.length, offset);
      offset = size;
      print(buf.toString('utf8'), limit);
    } finally {
      await handle.close();
    }
  };
  await readMore(options.lines === undefined ? undefined : Number(options.lines));
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
