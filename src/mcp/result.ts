/** Maps a plugin's return value or error onto an MCP tool result. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { isMoltError } from '../errors/errors.js';
import { toJson } from '../util/json.js';

/**
 * A string becomes text content; a plain object becomes `structuredContent` plus its JSON as
 * text (for clients that read only text); a value that already has a `content` array is taken
 * as a full MCP result; anything else becomes its JSON as text. A result JSON cannot carry (a
 * cycle) throws RESULT_UNSERIALIZABLE.
 */
export function toToolResult(value: unknown): CallToolResult {
  if (typeof value === 'string') return { content: [{ type: 'text', text: value }] };
  if (value === undefined) return { content: [] };
  if (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { content?: unknown }).content)
  ) {
    return value as CallToolResult;
  }
  const text = toJson(value);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    // structuredContent is the JSON text read back: what the client gets is exactly JSON.
    return { content: [{ type: 'text', text }], structuredContent: JSON.parse(text) };
  }
  return { content: [{ type: 'text', text }] };
}

/** A tool error the model can read: `CODE: message`, with the code in `_meta` for programs. */
export function toToolError(err: unknown): CallToolResult {
  const code = isMoltError(err) ? err.code : 'PLUGIN_ERROR';
  const message = err instanceof Error ? err.message : String(err);
  return {
    isError: true,
    content: [{ type: 'text', text: `${code}: ${message}` }],
    _meta: { 'molt/code': code },
  };
}
