/**
 * Checks an audit log's whole chain, streaming it, and names the first line that breaks it.
 *
 * Lines before the first chained one are an older molt's: they are not checked one by one but
 * as a block, by the first chained line, whose `prev` must be the sha256 of their bytes (see
 * AuditLog). A log with no chained line at all has nothing vouching for it and fails at line 1.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { hashOf, isChained, ZERO_HASH } from './audit-chain.js';
import { MAX_LINE_BYTES, rawLines } from './audit-lines.js';

export type AuditBreak =
  | 'not JSON'
  | 'torn tail'
  | 'unchained'
  | 'hash mismatch'
  | 'seq gap'
  | 'prev mismatch';

export type AuditVerdict =
  | {
      ok: true;
      /** Lines in the file. */
      lines: number;
      /** How many of them, at the start, predate the chain. */
      unchained: number;
      /** The last line's seq and hash (0 and 64 zeros for an empty log): record them elsewhere
       * to notice a log cut short, which a chain alone cannot show. */
      seq: number;
      hash: string;
    }
  | {
      ok: false;
      /** 1-based line number of the first bad line. */
      line: number;
      /** Its seq, when it has one. */
      seq: number | undefined;
      reason: AuditBreak;
      detail: string;
    };

export async function verifyAudit(file: string): Promise<AuditVerdict> {
  const before = createHash('sha256');
  let n = 0;
  let unchained = 0;
  let head: { seq: number; hash: string } | undefined;
  const bad = (reason: AuditBreak, detail: string, seq?: unknown): AuditVerdict => ({
    ok: false,
    line: n,
    seq: typeof seq === 'number' ? seq : undefined,
    reason,
    detail,
  });
  try {
    for await (const l of rawLines(file)) {
      n++;
      if (!l.terminated) return bad('torn tail', 'the last line has no newline: a write cut short');
      if (l.bytes === undefined) {
        return bad(
          'not JSON',
          `${l.length} bytes, longer than any line molt writes (${MAX_LINE_BYTES})`,
        );
      }
      let e: unknown;
      try {
        e = JSON.parse(l.bytes.toString('utf8'));
      } catch {
        if (head !== undefined) return bad('not JSON', 'the line does not parse');
        e = undefined;
      }
      if (!isChained(e)) {
        if (head !== undefined)
          return bad('unchained', 'no seq, prev and hash', (e as { seq?: unknown })?.seq);
        before.update(l.bytes);
        before.update('\n');
        unchained++;
        continue;
      }
      const want = head ?? { seq: 0, hash: unchained > 0 ? before.digest('hex') : ZERO_HASH };
      const actual = hashOf(e);
      if (actual !== e.hash)
        return bad('hash mismatch', `the line hashes to ${actual}, not its hash ${e.hash}`, e.seq);
      if (e.seq !== want.seq + 1)
        return bad('seq gap', `expected seq ${want.seq + 1}, found ${e.seq}`, e.seq);
      if (e.prev !== want.hash) {
        const of =
          head === undefined
            ? unchained > 0
              ? `the ${unchained} lines before it`
              : 'nothing (a first line)'
            : `line ${n - 1}`;
        return bad('prev mismatch', `prev is ${e.prev}, the hash of ${of} is ${want.hash}`, e.seq);
      }
      head = { seq: e.seq, hash: e.hash };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MoltError(ErrorCodes.AUDIT_NOT_FOUND, `no audit log at ${file}`);
    }
    throw err;
  }
  if (head === undefined && unchained > 0) {
    n = 1;
    return bad(
      'unchained',
      'no line of the log is chained: an older molt wrote it, and no newer host has opened it',
    );
  }
  return { ok: true, lines: n, unchained, seq: head?.seq ?? 0, hash: head?.hash ?? ZERO_HASH };
}
