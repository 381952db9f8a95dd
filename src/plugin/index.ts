/**
 * The author SDK (`molt/plugin`). `definePlugin` only adds types: a plugin whose entry's default
 * export is a plain object of the same shape is equally valid, so plain JavaScript plugins need
 * no import at all.
 */

import type { FromSchema } from './from-schema.js';

export type { FromSchema } from './from-schema.js';

/** A JSON Schema object describing a tool's input. */
export type JsonSchema = { readonly [key: string]: unknown };

export interface Logger {
  debug(msg: string, data?: unknown): void;
  info(msg: string, data?: unknown): void;
  warn(msg: string, data?: unknown): void;
  error(msg: string, data?: unknown): void;
}

/**
 * Calls a tool of a contract this plugin `requires`, through the host: it reaches the live
 * provider (another plugin, or the embedding application) whose version satisfies the range,
 * with this call's deadline and cancellation. A contract not in `requires` is
 * CONTRACT_UNDECLARED; no live provider, CONTRACT_UNSATISFIED. `signal` abandons it early.
 */
export type CallContract = <Result = unknown>(
  contract: string,
  tool: string,
  args?: unknown,
  options?: { signal?: AbortSignal },
) => Promise<Result>;

/** One message of a sampling conversation, as MCP's `sampling/createMessage` defines it. */
export interface SamplingMessage {
  role: 'user' | 'assistant';
  content:
    | { type: 'text'; text: string }
    | { type: 'image' | 'audio'; data: string; mimeType: string }
    | { type: string; [key: string]: unknown };
}

/** What `ctx.sample` sends: MCP's `sampling/createMessage` params (only `messages` and `maxTokens` required). */
export interface CreateMessageParams {
  messages: SamplingMessage[];
  maxTokens: number;
  systemPrompt?: string;
  modelPreferences?: {
    hints?: { name?: string }[];
    costPriority?: number;
    speedPriority?: number;
    intelligencePriority?: number;
  };
  includeContext?: 'none' | 'thisServer' | 'allServers';
  temperature?: number;
  stopSequences?: string[];
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The client's answer to `ctx.sample`: one message from the model it chose. */
export interface CreateMessageResult {
  model: string;
  role: 'user' | 'assistant';
  content: SamplingMessage['content'];
  stopReason?: string;
  [key: string]: unknown;
}

/** What `ctx.elicit` sends: MCP's `elicitation/create` params (a flat object schema). */
export interface ElicitParams {
  message: string;
  requestedSchema: {
    type: 'object';
    properties: Record<string, JsonSchema>;
    required?: string[];
  };
  [key: string]: unknown;
}

/** The user's answer to `ctx.elicit`: `content` only when `action` is `accept`. */
export interface ElicitResult {
  action: 'accept' | 'decline' | 'cancel';
  content?: Record<string, string | number | boolean | string[]>;
  [key: string]: unknown;
}

export interface ToolContext<Config = unknown> {
  /** Aborted when the caller cancels, the call times out, or the host forces the sandbox down. */
  readonly signal: AbortSignal;
  /** Reports progress to the caller (MCP progress notifications, `onProgress` in the library). */
  progress(done: number, total?: number, message?: string): void;
  readonly log: Logger;
  readonly config: Config;
  /**
   * The plugin's own data folder, kept across reloads and restarts (`<data>/plugins/<name>/`,
   * or a private temporary folder when the host has no data folder). In a process sandbox it
   * is the one place the plugin may write unless its manifest grants more.
   */
  readonly dataDir: string;
  /**
   * Tells the MCP sessions that subscribed to `uri` (`resources/subscribe`) that it changed
   * (`notifications/resources/updated`); the host event is `resource.updated`. Rate-bounded like
   * logs: past the budget, notes are dropped and counted.
   */
  resourceUpdated(uri: string): void;
  /** See `CallContract`. */
  readonly call: CallContract;
  /**
   * Asks the MCP client whose call this is to sample its model (`sampling/createMessage`) and
   * resolves to its answer. Ends with this call (cancelled, timed out). CLIENT_UNSUPPORTED when
   * the call has no client (a call from code, `molt call`) or the client did not declare the
   * `sampling` capability. A call reached through `ctx.call` asks the outermost call's client.
   */
  sample(params: CreateMessageParams): Promise<CreateMessageResult>;
  /**
   * Asks the user, through the MCP client whose call this is, for input matching a flat schema
   * (`elicitation/create`). Same rules as `sample`, with the `elicitation` capability.
   */
  elicit(params: ElicitParams): Promise<ElicitResult>;
}

export interface InitContext<Config = unknown> {
  readonly log: Logger;
  readonly config: Config;
  /** Folder of the artifact being run (the entry is evaluated from its verified bytes). */
  readonly artifactDir: string;
  /** The plugin's own data folder: see `ToolContext.dataDir`. */
  readonly dataDir: string;
  /**
   * See `CallContract`: `init` may call its providers ("register dependencies or fetch
   * configuration"), bounded by the init timeout; a cycle of inits waiting on each other fails
   * with DEPENDENCY_CYCLE instead of hanging.
   */
  readonly call: CallContract;
}

/**
 * MCP's tool annotations. They are hints a client may show or use to ask before a call; molt
 * trusts none of them for security. `readOnlyHint` or `idempotentHint` mark a tool safe to repeat.
 */
export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: a tool's args default to whatever its schema admits
export interface Tool<Args = any, Result = unknown, Config = unknown> {
  /** A human-readable name for the tool, shown by clients instead of its key. */
  title?: string;
  description?: string;
  /** JSON Schema of the arguments: draft-07 or 2020-12 (by `$schema`; 2020-12 when absent). */
  inputSchema?: JsonSchema;
  /**
   * JSON Schema of the structured result: the handler must then return an object (or a full
   * MCP result with `structuredContent`) that matches it, or the call fails with INVALID_OUTPUT.
   */
  outputSchema?: JsonSchema;
  /** MCP's hints about what the tool does, passed to clients as the plugin states them. */
  annotations?: ToolAnnotations;
  /**
   * Sample arguments, each checked against `inputSchema` at load (a mismatch fails the load with
   * TOOL_SCHEMA_INVALID). `molt soak` calls the tool with them while it reloads the plugin; they
   * are not listed over MCP. At most 32, together at most 64 KiB of JSON.
   */
  examples?: Args[];
  handler(args: Args, ctx: ToolContext<Config>): Result | Promise<Result>;
}

/** One item of a resource's contents, as MCP defines it: text or base64 bytes. */
export type ResourceContents =
  | { uri: string; mimeType?: string; text: string }
  | { uri: string; mimeType?: string; blob: string };

/**
 * What `read` returns: a string (text of the resource's `mimeType`, default `text/plain`),
 * `{ blob: <base64>, mimeType? }`, `{ text, mimeType? }`, or MCP's whole `contents` array (or
 * `{ contents }`). Every item's `uri` defaults to the URI read.
 */
export type ReadResult =
  | string
  | { blob: string; mimeType?: string }
  | { text: string; mimeType?: string }
  | Partial<ResourceContents>[]
  | { contents: Partial<ResourceContents>[] };

/** Suggests values for a partly typed argument; at most 100 are sent (MCP's cap). */
export type Completer<Config = unknown> = (
  value: string,
  ctx: ToolContext<Config>,
  /** The other arguments the client has already filled in (MCP's `context.arguments`). */
  context: Record<string, string>,
) => string[] | Promise<string[]>;

/**
 * A resource. Its key in `resources` is its URI, or a URI template with `{var}` segments
 * (RFC 6570 level 1): the template serves every URI it matches, and `read` gets the variables.
 */
export interface Resource<Config = unknown> {
  /** Defaults to the URI (or template). */
  name?: string;
  title?: string;
  description?: string;
  /** Of the text a `read` returning a string gives; default `text/plain`. */
  mimeType?: string;
  read(
    uri: string,
    ctx: ToolContext<Config>,
    vars: Record<string, string>,
  ): ReadResult | Promise<ReadResult>;
  /** A template's completers, by variable name (`completion/complete` with `ref/resource`). */
  complete?: Record<string, Completer<Config>>;
}

export interface PromptArgument {
  name: string;
  description?: string;
  /** A `prompts/get` without it fails with INVALID_INPUT before `get` runs. */
  required?: boolean;
}

type PromptContent =
  | { type: 'text'; text: string }
  | { type: 'image' | 'audio'; data: string; mimeType: string }
  | { type: 'resource'; resource: ResourceContents }
  | { type: 'resource_link'; uri: string; name: string; [key: string]: unknown };

export interface PromptMessage {
  role: 'user' | 'assistant';
  content: PromptContent;
}

/** What `get` returns: a string (one user message) or MCP's `{ description?, messages }`. */
export type PromptResult = string | { description?: string; messages: PromptMessage[] };

export interface Prompt<Config = unknown> {
  title?: string;
  description?: string;
  arguments?: PromptArgument[];
  get(args: Record<string, string>, ctx: ToolContext<Config>): PromptResult | Promise<PromptResult>;
  /** Completers by argument name (`completion/complete` with `ref/prompt`). */
  complete?: Record<string, Completer<Config>>;
}

interface PluginCommon<Config> {
  // biome-ignore lint/suspicious/noExplicitAny: each tool of a plugin has its own args type
  tools: Record<string, Tool<any, unknown, Config>>;
  /** Resources by URI or URI template (`notes://note/{id}`). */
  resources?: Record<string, Resource<Config>>;
  /** Prompt templates by name. */
  prompts?: Record<string, Prompt<Config>>;
  init?(ctx: InitContext<Config>): void | Promise<void>;
  /** Throw (or reject) to fail the health check; the reload is then abandoned. */
  health?(): unknown;
  /** Called before the sandbox ends: close handles, flush buffers. */
  drain?(): void | Promise<void>;
}

/** A plugin with no state to hand over. */
export interface StatelessPlugin<Config = unknown> extends PluginCommon<Config> {
  snapshot?: undefined;
  restore?: undefined;
  stateVersion?: undefined;
  stateSchema?: undefined;
  migrate?: undefined;
  downgrade?: undefined;
}

/** A plugin whose state moves to the next version on reload: snapshot → migrate → restore. */
export interface StatefulPlugin<State = unknown, Config = unknown> extends PluginCommon<Config> {
  /** Must return a structured-cloneable value. Runs after the generation is drained. */
  snapshot(): State | Promise<State>;
  restore(state: State): void | Promise<void>;
  /** Version of the snapshot's shape; `migrate` runs when it differs from the previous one. */
  stateVersion?: number;
  /**
   * JSON Schema of the state. Every state is checked against it in the sandbox (after
   * `snapshot`, after `migrate`, before `restore`); one that does not match refuses the reload
   * or rollback with STATE_INVALID, and the old generation serves on with its state.
   */
  stateSchema?: JsonSchema;
  /** The way up: the state of an older `stateVersion`, in this version's shape. */
  migrate?(fromVersion: number, state: unknown): State | Promise<State>;
  /**
   * The way back, carried by the newer version (it knows both shapes): this version's state in
   * the shape of the older `toVersion`, for a rollback across state versions.
   */
  downgrade?(toVersion: number, state: State): unknown;
}

export type Plugin<State = unknown, Config = unknown> =
  | StatelessPlugin<Config>
  | StatefulPlugin<State, Config>;

/** The state's type comes from its `stateSchema` (write the schema inline, or `as const`). */
export function definePlugin<const Schema extends JsonSchema, Config = unknown>(
  plugin: StatefulPlugin<FromSchema<Schema>, Config> & { stateSchema: Schema },
): StatefulPlugin<FromSchema<Schema>, Config>;
/**
 * The state's type from a type parameter (or from `snapshot`). Without a `stateSchema`: with one,
 * the overload above applies (TypeScript tries overloads by subtype first, and this one would
 * otherwise win with the type of `snapshot`'s return).
 */
export function definePlugin<State, Config = unknown>(
  plugin: StatefulPlugin<State, Config> & { stateSchema?: undefined },
): StatefulPlugin<State, Config>;
export function definePlugin<Config = unknown>(
  plugin: StatelessPlugin<Config>,
): StatelessPlugin<Config>;
export function definePlugin(plugin: Plugin): Plugin {
  return plugin;
}

/** Gives a tool's handler typed args from a hand-written type. */
export function defineTool<Args, Result, Config = unknown>(
  tool: Tool<Args, Result, Config>,
): Tool<Args, Result, Config> {
  return tool;
}
