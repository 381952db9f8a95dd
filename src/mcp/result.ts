/** Maps a plugin's return value or error onto an MCP tool result. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { isMoltError } from '../errors/errors.js';

function json(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ??
      'null'
    );
  } catch {
    return String(value);
  }
}

/**
 * A string becomes text content; a plain object becomes `structuredContent` plus its JSON as
 * text (for clients that read only text); a value that already has a `content` array is taken
 * as a full MCP result; anything else becomes its JSON as text.
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
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return {
      content: [{ type: 'text', text: json(value) }],
      structuredContent: value as Record<string, unknown>,
    };
  }
  return { content: [{ type: 'text', text: json(value) }] };
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
