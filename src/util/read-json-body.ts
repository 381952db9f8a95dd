/** Reads a request body as JSON, refusing it past `max` bytes without buffering the rest. */
import type { IncomingMessage } from 'node:http';

export type JsonBody =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'too-large' | 'not-json' };

/** An empty body reads as `{ ok: true, value: undefined }`; each caller decides what that means. */
export async function readJsonBody(req: IncomingMessage, max: number): Promise<JsonBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return { ok: false, reason: 'too-large' };
    chunks.push(chunk);
  }
  if (size === 0) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch {
    return { ok: false, reason: 'not-json' };
  }
}
