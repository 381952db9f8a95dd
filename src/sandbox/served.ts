/**
 * The shapes of what a plugin serves besides tools, on both sides of the sandbox: the runtime
 * normalizes a `read`, `get` or completer's answer into MCP's shape (`normalize*`), and the host
 * checks that shape again (`*Problem`) because plugin code shares the sandbox with the runtime.
 * URI templates are RFC 6570 level 1 (`{var}` segments), matched by the MCP SDK's `UriTemplate`.
 */
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import { MAX_COMPLETION_TEXT, MAX_COMPLETIONS, MAX_URI } from './protocol.js';

export interface ReadAnswer {
  contents: (
    | { uri: string; mimeType?: string; text: string }
    | {
        uri: string;
        mimeType?: string;
        blob: string;
      }
  )[];
}

export interface PromptAnswer {
  description?: string;
  messages: { role: 'user' | 'assistant'; content: Record<string, unknown> }[];
}

export interface CompletionAnswer {
  values: string[];
  total: number;
  hasMore: boolean;
}

const VAR = /^[A-Za-z0-9_]+$/;

/**
 * A template of `{var}` segments with a literal between any two, or why not. Adjacent
 * variables (`{a}{b}`) have no one reading and would make matching backtrack, so they are
 * refused, as are operators (`{+a}`, `{?q}`: levels 2-4) and stray braces.
 */
export function parseTemplate(template: string): UriTemplate | string {
  if (template.length > MAX_URI) return `is longer than ${MAX_URI} characters`;
  let previousEnd = -2;
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c === '}') return `has a "}" at ${i} that closes nothing`;
    if (c !== '{') continue;
    const end = template.indexOf('}', i);
    if (end === -1) return `has a "{" at ${i} that is never closed`;
    const name = template.slice(i + 1, end);
    if (!VAR.test(name))
      return `has "{${name.slice(0, 32)}}": only {name} segments (letters, digits, _) are served`;
    if (previousEnd === i - 1) return `has two variables with nothing between them at ${i}`;
    previousEnd = end;
    i = end;
  }
  if (previousEnd === -2) return 'has no {variable}';
  return new UriTemplate(template);
}

/** The variables of `uri` under `template`, or undefined when it does not match. */
export function matchTemplate(
  template: UriTemplate,
  uri: string,
): Record<string, string> | undefined {
  if (uri.length > MAX_URI) return undefined;
  const vars = template.match(uri);
  if (vars === null) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A `read` result in MCP's `contents` shape, or a string saying why it cannot be. */
export function normalizeRead(
  value: unknown,
  uri: string,
  mimeType: string | undefined,
): ReadAnswer | string {
  const type = mimeType ?? 'text/plain';
  if (typeof value === 'string') return { contents: [{ uri, mimeType: type, text: value }] };
  const list = Array.isArray(value)
    ? value
    : isObject(value) && Array.isArray(value.contents)
      ? value.contents
      : isObject(value)
        ? [value]
        : undefined;
  if (list === undefined) return 'read() must return a string, { text | blob } or a contents list';
  const contents: ReadAnswer['contents'] = [];
  for (const item of list as unknown[]) {
    if (!isObject(item)) return 'every item of contents must be an object';
    const itemUri = item.uri === undefined ? uri : item.uri;
    if (typeof itemUri !== 'string' || itemUri.length > MAX_URI)
      return `an item's uri must be a string of at most ${MAX_URI} characters`;
    const itemType = item.mimeType ?? (typeof item.text === 'string' ? type : mimeType);
    if (itemType !== undefined && typeof itemType !== 'string')
      return "an item's mimeType must be a string";
    const typed = itemType === undefined ? {} : { mimeType: itemType };
    if (typeof item.text === 'string') contents.push({ uri: itemUri, ...typed, text: item.text });
    else if (typeof item.blob === 'string')
      contents.push({ uri: itemUri, ...typed, blob: item.blob });
    else return 'every item of contents needs a text or a blob (base64) string';
  }
  return { contents };
}

/** The host's check of a read answer: MCP's shape, nothing the runtime would not build. */
export function readAnswerProblem(value: unknown): string | undefined {
  if (!isObject(value) || !Array.isArray(value.contents)) return 'no contents list';
  for (const item of value.contents as unknown[]) {
    if (!isObject(item) || typeof item.uri !== 'string') return 'an item has no uri';
    if (item.mimeType !== undefined && typeof item.mimeType !== 'string')
      return 'an item has a mimeType that is not a string';
    if (typeof item.text !== 'string' && typeof item.blob !== 'string')
      return 'an item has neither text nor blob';
  }
  return undefined;
}

const ROLES = new Set(['user', 'assistant']);

/** A `get` result as MCP's `{ description?, messages }`, or why it cannot be. */
export function normalizePrompt(value: unknown): PromptAnswer | string {
  if (typeof value === 'string')
    return { messages: [{ role: 'user', content: { type: 'text', text: value } }] };
  const problem = promptAnswerProblem(value);
  if (problem !== undefined) return `get() ${problem}`;
  const v = value as PromptAnswer;
  return v.description === undefined
    ? { messages: v.messages }
    : { description: v.description, messages: v.messages };
}

export function promptAnswerProblem(value: unknown): string | undefined {
  if (!isObject(value) || !Array.isArray(value.messages))
    return 'must return a string or { description?, messages }';
  if (value.description !== undefined && typeof value.description !== 'string')
    return 'returned a description that is not a string';
  for (const m of value.messages as unknown[]) {
    if (!isObject(m) || typeof m.role !== 'string' || !ROLES.has(m.role))
      return 'returned a message whose role is not "user" or "assistant"';
    if (!isObject(m.content) || typeof m.content.type !== 'string')
      return 'returned a message without a typed content';
  }
  return undefined;
}

/** A completer's answer capped at MCP's 100 values, with the total and whether more exist. */
export function normalizeCompletion(value: unknown): CompletionAnswer | string {
  if (!Array.isArray(value)) return 'a completer must return a list of strings';
  const values: string[] = [];
  for (const v of value as unknown[]) {
    if (typeof v !== 'string') return 'a completer must return a list of strings';
    if (values.length < MAX_COMPLETIONS) values.push(v.slice(0, MAX_COMPLETION_TEXT));
  }
  return { values, total: value.length, hasMore: value.length > MAX_COMPLETIONS };
}

export function completionAnswerProblem(value: unknown): string | undefined {
  if (!isObject(value) || !Array.isArray(value.values)) return 'no values list';
  if (value.values.length > MAX_COMPLETIONS) return `more than ${MAX_COMPLETIONS} values`;
  for (const v of value.values as unknown[])
    if (typeof v !== 'string' || v.length > MAX_COMPLETION_TEXT) return 'a value is not a string';
  if (!Number.isSafeInteger(value.total) || typeof value.hasMore !== 'boolean')
    return 'no total or hasMore';
  return undefined;
}
