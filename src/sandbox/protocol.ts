/**
 * Messages between the host and a sandbox. Kept flat and small: tool calls travel in batches,
 * and structured clone cost grows with shape. Everything a sandbox sends is plugin-reachable,
 * so the host checks each message's shape before acting on it (`isSandboxMessage`).
 */
import type { WireError } from '../errors/errors.js';
import type { JsonSchema, ToolAnnotations } from '../plugin/index.js';

/** Lifecycle operations a host asks of a sandbox (everything but tool calls). */
export type OpName =
  | 'load'
  | 'init'
  | 'health'
  | 'snapshot'
  | 'migrate'
  | 'downgrade'
  | 'restore'
  | 'drain'
  | 'ping';

export interface LoadArg {
  entryPath: string;
  artifactDir: string;
  name: string;
  /** The manifest's buildId: the sandbox refuses, before evaluating it, an entry that differs. */
  buildId: string;
  /** Checked against `configSchema` inside the sandbox, before the entry is evaluated. */
  config: unknown;
  configSchema: Record<string, unknown> | undefined;
  /** The plugin's own data folder (`ctx.dataDir`), kept across reloads. */
  dataDir: string;
  /** `limits.maxResultMb` in bytes: a larger result is refused inside the sandbox. */
  maxResultBytes: number;
}

export interface ToolInfo {
  name: string;
  title?: string;
  description: string;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
  annotations?: ToolAnnotations;
  /** Sample arguments for `molt soak` (not listed over MCP), each matching `inputSchema`. */
  examples?: unknown[];
}

/** A resource at one URI. */
export interface ResourceInfo {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
}

/** Resources of a URI template (RFC 6570 level 1: `{var}` segments). */
export interface ResourceTemplateInfo {
  uriTemplate: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
}

export interface PromptInfo {
  name: string;
  title?: string;
  description?: string;
  arguments: { name: string; description?: string; required?: boolean }[];
}

/**
 * What a call serves besides a tool, carried where a tool's name goes in a call batch: a tool
 * name is a string, so the runtime looks these up only when a name misses its tool map, and
 * tool calls pay nothing for them. `read`: a URI; `prompt`: a prompt's name; `complete*`: the
 * prompt's name or the template.
 */
export type ServeKind = 'read' | 'prompt' | 'completePrompt' | 'completeTemplate';
export type ServeTarget = readonly [kind: ServeKind, key: string];
export type CallTarget = string | ServeTarget;

/** The argument of a completion call. */
export interface CompleteArg {
  name: string;
  value: string;
  context: Record<string, string>;
}

/** What a sandbox reports after evaluating an entry: the proof of which code runs. */
export interface LoadedInfo {
  buildId: string;
  tools: ToolInfo[];
  resources: ResourceInfo[];
  resourceTemplates: ResourceTemplateInfo[];
  prompts: PromptInfo[];
  stateful: boolean;
  stateVersion: number;
  hasHealth: boolean;
}

/** The tool calls of one event-loop turn, flat: [id, tool, args, id, tool, args, …]. */
export type CallBatch = unknown[];

/** The synchronous results of one turn, flat: [id, value, id, value, …]. */
export type ReplyBatch = unknown[];

export type HostMessage =
  | { t: 'op'; id: number; op: OpName; arg?: unknown }
  | { t: 'cancel'; id: number; reason: WireError }
  /**
   * The host's answers to `ask`s (calls through the host) of one turn, flat: id, ok, then the
   * value (ok) or a WireError (not ok), for each.
   */
  | { t: 'answers'; batch: unknown[] };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type SandboxMessage =
  | { t: 'ok'; id: number; value: unknown }
  | { t: 'err'; id: number; error: WireError }
  | {
      t: 'progress';
      id: number;
      done: number;
      total?: number | undefined;
      message?: string | undefined;
    }
  /** `on`: the call whose handler logged (`ctx.log`), so its caller's client gets the line. */
  | {
      t: 'log';
      level: LogLevel;
      msg: string;
      data?: unknown;
      dropped?: DropCounts;
      on?: number | undefined;
    }
  /** `ctx.resourceUpdated(uri)`: subscribers of `uri` are told. */
  | { t: 'updated'; uri: string }
  /**
   * `ctx.call(contract, tool, args)`: the plugin asks the host to call another plugin (or the
   * host) on behalf of the call or op `on` (its deadline and cancellation carry over). `id`
   * is the sandbox's own numbering of its asks.
   */
  | {
      t: 'ask';
      id: number;
      on: number;
      kind?: undefined;
      contract: string;
      tool: string;
      args: unknown;
    }
  /**
   * `ctx.sample` / `ctx.elicit`: the plugin asks the client of the call `on` (the same ask
   * numbering, answer and cancellation as a `ctx.call`).
   */
  | { t: 'ask'; id: number; on: number; kind: ClientAskKind; params: unknown }
  /** The plugin gave up on an ask (its `signal` aborted): the host cancels that call. */
  | { t: 'askCancel'; id: number };

/** What a handler may ask of its call's MCP client. */
export type ClientAskKind = 'sample' | 'elicit';

/** What a sandbox dropped over its budgets since its last report. */
export interface DropCounts {
  logs: number;
  progress: number;
  outputBytes: number;
}

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
/** The runtime cuts an error's message and stack to this many characters. */
export const MAX_ERROR_TEXT = 16 * 1024;
/** The runtime cuts every log and progress text to this many characters (and an ellipsis). */
export const MAX_TEXT = 8 * 1024;
const isText = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_TEXT + 1;
const LEVELS = new Set(['debug', 'info', 'warn', 'error']);
/** A contract's or a tool's name in an ask (the manifest allows 128 characters for both). */
const MAX_NAME = 128;

function isDropCounts(v: unknown): v is DropCounts {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Record<string, unknown>;
  return (
    Number.isSafeInteger(d.logs) &&
    Number.isSafeInteger(d.progress) &&
    Number.isSafeInteger(d.outputBytes)
  );
}

/** Whether `msg` is something the sandbox runtime could have sent; anything else is a breach. */
export function isSandboxMessage(msg: unknown): msg is SandboxMessage | ReplyBatch {
  if (Array.isArray(msg)) {
    if (msg.length % 2 !== 0) return false;
    for (let i = 0; i < msg.length; i += 2) if (!isId(msg[i])) return false;
    return true;
  }
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as Record<string, unknown>;
  switch (m.t) {
    case 'ok':
      return isId(m.id);
    case 'err': {
      const e = m.error as Record<string, unknown> | null;
      return (
        isId(m.id) &&
        typeof e === 'object' &&
        e !== null &&
        typeof e.code === 'string' &&
        e.code.length <= 256 &&
        typeof e.message === 'string' &&
        e.message.length <= MAX_ERROR_TEXT + 1 &&
        (e.stack === undefined || (typeof e.stack === 'string' && e.stack.length <= MAX_ERROR_TEXT))
      );
    }
    case 'progress':
      return (
        isId(m.id) &&
        typeof m.done === 'number' &&
        (m.total === undefined || typeof m.total === 'number') &&
        (m.message === undefined || isText(m.message))
      );
    case 'updated':
      return typeof m.uri === 'string' && m.uri.length > 0 && m.uri.length <= MAX_URI;
    case 'ask':
      if (m.kind !== undefined)
        return isId(m.id) && isId(m.on) && (m.kind === 'sample' || m.kind === 'elicit');
      return (
        isId(m.id) &&
        isId(m.on) &&
        typeof m.contract === 'string' &&
        m.contract.length <= MAX_NAME &&
        typeof m.tool === 'string' &&
        m.tool.length <= MAX_NAME
      );
    case 'askCancel':
      return isId(m.id);
    case 'log':
      return (
        typeof m.level === 'string' &&
        LEVELS.has(m.level) &&
        isText(m.msg) &&
        (m.on === undefined || isId(m.on)) &&
        (m.dropped === undefined || isDropCounts(m.dropped))
      );
    default:
      return false;
  }
}

/** Bounds on what a sandbox may report after a load: the host keeps and serves all of it. */
export const MAX_TOOLS = 1_024;
const MAX_TOOL_NAME = 128;
const MAX_DESCRIPTION = 16_384;
export const MAX_TITLE = 256;
/** A tool's `examples`: how many, and their JSON's size together. */
export const MAX_EXAMPLES = 32;
export const MAX_EXAMPLES_BYTES = 64 * 1024;
/** Resources and templates together, and prompts: each at most this many per plugin. */
export const MAX_RESOURCES = 1_024;
export const MAX_PROMPTS = 1_024;
export const MAX_PROMPT_ARGS = 64;
/** A URI or template; also a resource's name (which defaults to its URI). */
export const MAX_URI = 4_096;
const MAX_MIME = 256;
/** MCP's cap on the values of one completion. */
export const MAX_COMPLETIONS = 100;
/** Each completion value, cut to this many characters. */
export const MAX_COMPLETION_TEXT = 4_096;

/**
 * Why `value` is not a load report the host can keep (a shape or a bound it breaks), or
 * undefined when it is one. The runtime inside the sandbox builds the report, but plugin code
 * shares that sandbox, so the host trusts nothing it did not check.
 */
export function loadedInfoProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'the load report is not an object';
  const v = value as Record<string, unknown>;
  if (typeof v.buildId !== 'string' || !/^[0-9a-f]{64}$/.test(v.buildId))
    return 'the load report has no buildId';
  if (typeof v.stateful !== 'boolean' || typeof v.hasHealth !== 'boolean')
    return 'the load report has no stateful/hasHealth flags';
  if (!Number.isSafeInteger(v.stateVersion)) return 'stateVersion must be an integer';
  if (!Array.isArray(v.tools)) return 'the load report has no tool list';
  if (v.tools.length > MAX_TOOLS) return `more than ${MAX_TOOLS} tools`;
  for (const t of v.tools as Record<string, unknown>[]) {
    if (typeof t !== 'object' || t === null) return 'a tool is not an object';
    if (typeof t.name !== 'string' || t.name.length === 0 || t.name.length > MAX_TOOL_NAME)
      return `a tool name must be 1 to ${MAX_TOOL_NAME} characters`;
    if (typeof t.description !== 'string' || t.description.length > MAX_DESCRIPTION)
      return `tool "${t.name}": a description must be a string of at most ${MAX_DESCRIPTION} characters`;
    if (!isPlainObject(t.inputSchema)) return `tool "${t.name}": inputSchema must be an object`;
    if (t.outputSchema !== undefined && !isPlainObject(t.outputSchema))
      return `tool "${t.name}": outputSchema must be an object`;
    if (t.title !== undefined && (typeof t.title !== 'string' || t.title.length > MAX_TITLE))
      return `tool "${t.name}": a title must be a string of at most ${MAX_TITLE} characters`;
    if (t.annotations !== undefined) {
      const problem = annotationsProblem(t.annotations);
      if (problem !== undefined) return `tool "${t.name}": annotations ${problem}`;
    }
    if (t.examples !== undefined) {
      const problem = examplesProblem(t.examples);
      if (problem !== undefined) return `tool "${t.name}": examples ${problem}`;
    }
  }
  const served = servedProblem(v);
  if (served !== undefined) return served;
  return undefined;
}

/** Why a tool's `examples` break their bounds (a list of objects, counted and sized). */
export function examplesProblem(examples: unknown): string | undefined {
  if (!Array.isArray(examples) || examples.length > MAX_EXAMPLES)
    return `must be a list of at most ${MAX_EXAMPLES} argument objects`;
  if (!examples.every(isPlainObject)) return 'must each be an object of arguments';
  let json: string | undefined;
  try {
    json = JSON.stringify(examples);
  } catch {
    return 'must be JSON';
  }
  if (json.length > MAX_EXAMPLES_BYTES)
    return `must be at most ${MAX_EXAMPLES_BYTES} bytes of JSON together`;
  return undefined;
}

const isOptText = (v: unknown, max: number): boolean =>
  v === undefined || (typeof v === 'string' && v.length <= max);

/** The common fields of a resource or a template. */
function describedProblem(r: Record<string, unknown>, what: string): string | undefined {
  if (typeof r.name !== 'string' || r.name.length === 0 || r.name.length > MAX_URI)
    return `${what}: a name must be 1 to ${MAX_URI} characters`;
  if (!isOptText(r.title, MAX_TITLE))
    return `${what}: title must be at most ${MAX_TITLE} characters`;
  if (!isOptText(r.description, MAX_DESCRIPTION))
    return `${what}: description must be at most ${MAX_DESCRIPTION} characters`;
  if (!isOptText(r.mimeType, MAX_MIME))
    return `${what}: mimeType must be at most ${MAX_MIME} characters`;
  return undefined;
}

const isUri = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_URI;

/** The resources, templates and prompts of a load report, each bounded. */
function servedProblem(v: Record<string, unknown>): string | undefined {
  const { resources, resourceTemplates, prompts } = v;
  if (!Array.isArray(resources) || !Array.isArray(resourceTemplates) || !Array.isArray(prompts))
    return 'the load report has no resource, template or prompt list';
  if (resources.length + resourceTemplates.length > MAX_RESOURCES)
    return `more than ${MAX_RESOURCES} resources and templates`;
  if (prompts.length > MAX_PROMPTS) return `more than ${MAX_PROMPTS} prompts`;
  for (const r of resources as Record<string, unknown>[]) {
    if (!isPlainObject(r) || !isUri(r.uri))
      return `a resource URI must be 1 to ${MAX_URI} characters`;
    const problem = describedProblem(r, `resource "${r.uri.slice(0, 64)}"`);
    if (problem !== undefined) return problem;
  }
  for (const r of resourceTemplates as Record<string, unknown>[]) {
    if (!isPlainObject(r) || !isUri(r.uriTemplate))
      return `a URI template must be 1 to ${MAX_URI} characters`;
    const problem = describedProblem(r, `template "${r.uriTemplate.slice(0, 64)}"`);
    if (problem !== undefined) return problem;
  }
  for (const p of prompts as Record<string, unknown>[]) {
    if (!isPlainObject(p)) return 'a prompt is not an object';
    if (typeof p.name !== 'string' || p.name.length === 0 || p.name.length > MAX_TOOL_NAME)
      return `a prompt name must be 1 to ${MAX_TOOL_NAME} characters`;
    const what = `prompt "${p.name}"`;
    if (!isOptText(p.title, MAX_TITLE))
      return `${what}: title must be at most ${MAX_TITLE} characters`;
    if (!isOptText(p.description, MAX_DESCRIPTION))
      return `${what}: description must be at most ${MAX_DESCRIPTION} characters`;
    if (!Array.isArray(p.arguments) || p.arguments.length > MAX_PROMPT_ARGS)
      return `${what}: arguments must be a list of at most ${MAX_PROMPT_ARGS}`;
    for (const a of p.arguments as Record<string, unknown>[]) {
      if (
        !isPlainObject(a) ||
        typeof a.name !== 'string' ||
        a.name.length === 0 ||
        a.name.length > MAX_TOOL_NAME
      )
        return `${what}: an argument name must be 1 to ${MAX_TOOL_NAME} characters`;
      if (
        !isOptText(a.description, MAX_DESCRIPTION) ||
        (a.required !== undefined && typeof a.required !== 'boolean')
      )
        return `${what}: argument "${a.name}" has a bad description or required flag`;
    }
  }
  return undefined;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const HINTS = new Set(['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint']);

/** MCP's annotations and nothing else: a client reads every key it is given. */
export function annotationsProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return 'must be an object';
  for (const [key, v] of Object.entries(value)) {
    if (key === 'title') {
      if (typeof v !== 'string' || v.length > MAX_TITLE)
        return `title must be a string of at most ${MAX_TITLE} characters`;
    } else if (HINTS.has(key)) {
      if (typeof v !== 'boolean') return `${key} must be true or false`;
    } else return `has "${key.slice(0, 64)}", which MCP does not define`;
  }
  return undefined;
}
