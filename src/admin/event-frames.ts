/**
 * Server-Sent Events frames, each built once per event and shared by every subscriber. A
 * payload is plugin-fed in places (a log line's `data`, a tool list), so its size is checked
 * before any JSON is built, and what cannot be carried becomes a small marker instead of a throw.
 */
import { estimateBytes } from '../sandbox/size.js';

/** Top-level strings kept in a marker are cut to this many characters. */
const MARKER_TEXT = 1_024;
/** At most this many top-level fields are kept in a marker. */
const MARKER_FIELDS = 32;

/** A comment line: proxies see traffic on an idle stream, clients ignore it. */
export const PING = ': ping\n\n';

/** `id`, `event` and `data` lines; JSON never holds a raw line break, so `data` is one line. */
export function eventFrame(id: number, event: string, payload: unknown, maxChars: number): string {
  return `id: ${id}\nevent: ${event}\ndata: ${boundedJson(payload, maxChars)}\n\n`;
}

/**
 * Says that events `from`…`to` were not delivered. It carries `to` as its id, so a client that
 * reconnects from there is not told of the same gap twice.
 */
export function gapFrame(from: number, to: number): string {
  return `id: ${to}\nevent: gap\ndata: {"dropped":${to - from + 1},"from":${from},"to":${to}}\n\n`;
}

/**
 * The payload's JSON, or, when it would be longer than `maxChars` characters or cannot be
 * JSON (a cycle), a marker: the payload's top-level numbers, booleans and (cut) strings — the
 * plugin's name, a log line's level and message — plus `truncated` and, when known, `size`.
 */
export function boundedJson(payload: unknown, maxChars: number): string {
  // The estimate counts characters and stops early, so a huge payload costs a bounded walk.
  const estimate = estimateBytes(payload, maxChars);
  if (estimate > maxChars) return marker(payload, 'too large', undefined);
  let json: string | undefined;
  try {
    json = JSON.stringify(payload, bigIntAsText);
  } catch {
    return marker(payload, 'unserializable', undefined);
  }
  if (json === undefined) return 'null';
  // Escapes can make the JSON longer than the estimate (up to 6 characters per one).
  return json.length > maxChars ? marker(payload, 'too large', json.length) : json;
}

function bigIntAsText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function marker(payload: unknown, truncated: string, size: number | undefined): string {
  const kept: Record<string, unknown> = {};
  // A host event's top level is the host's own few fields; only what is nested is plugin-fed.
  if (typeof payload === 'object' && payload !== null && !Array.isArray(payload)) {
    for (const key of Object.keys(payload).slice(0, MARKER_FIELDS)) {
      const value = (payload as Record<string, unknown>)[key];
      if (typeof value === 'string') kept[key] = value.slice(0, MARKER_TEXT);
      else if (typeof value === 'number' || typeof value === 'boolean') kept[key] = value;
    }
  }
  kept.truncated = truncated;
  if (size !== undefined) kept.size = size;
  return JSON.stringify(kept);
}
