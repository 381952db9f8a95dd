/** `molt audit verify`: checks the audit log's hash chain and names the first bad line. */
import { join } from 'node:path';
import { verifyAudit } from '../catalog/audit-verify.js';
import { EXIT, out } from './output.js';

export async function verify(dataDir: string, json: boolean): Promise<number> {
  const v = await verifyAudit(join(dataDir, 'audit.jsonl'));
  if (json) out(JSON.stringify(v));
  else if (v.ok) {
    out(`ok: ${v.lines} lines, chain intact`);
    if (v.unchained > 0) {
      out(
        `the first ${v.unchained} lines predate the chain: vouched for as a block by line ${v.unchained + 1}`,
      );
    }
    out(`last: seq ${v.seq} hash ${v.hash}`);
  } else {
    out(`line ${v.line}${v.seq === undefined ? '' : ` (seq ${v.seq})`}: ${v.reason}: ${v.detail}`);
  }
  return v.ok ? EXIT.ok : EXIT.failed;
}
