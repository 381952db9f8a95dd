/**
 * The MCP front door: the host's tools served to MCP clients over any number of sessions. One
 * SDK `Server` serves one transport, so each session gets its own, all reading one tool table.
 * When the runtime publishes a changed tool list (`tools.changed`, step 8 of a reload) the table
 * is rebuilt and, only if what a client would list changed, a `tools_list_changed` event goes on
 * the door's event bus (event-bus.ts), from which every session is told
 * (`notifications/tools/list_changed`) and every 2026-07-28 listen stream too (stateless.ts).
 *
 * G2: `tools.changed` is emitted in the same turn as the pointer swap, so a client never lists
 * the new tools while calls still reach the old handlers, nor the reverse.
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { Protocol, type RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  CallToolResultSchema,
  type CompleteRequest,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  type GetPromptResult,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type ReadResourceResult,
  type ServerNotification,
  type ServerRequest,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  type Tool,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import type { HostEvents } from '../events/events.js';
import type { Host } from '../runtime/host.js';
import { type LogLevel, MAX_URI } from '../sandbox/protocol.js';
import type { CallClient } from '../sandbox/sandbox.js';
import { toJson } from '../util/json.js';
import { cancelNamed, SessionServer, TrackedCall } from './cancel-link.js';
import { logNotification, RequestClient, SessionLog } from './client-link.js';
import { deliverToSessions, inProcessBus, type ServerEventBus } from './event-bus.js';
import { toToolError, toToolResult } from './result.js';
import { ServedTable } from './served-table.js';
import {
  bareNaming,
  defaultNaming,
  type NameTool,
  type TableProblem,
  ToolTable,
} from './tool-table.js';

/** MCP's "resource not found" (JSON-RPC error code). */
export const RESOURCE_NOT_FOUND = -32002;

/** Subscriptions one session may hold; more are refused (InvalidParams). */
const MAX_SUBSCRIPTIONS = 1_024;

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type CompleteParams = CompleteRequest['params'];
type Completed = { completion: Awaited<ReturnType<Host['complete']>> };
interface CompletionTarget {
  plugin: string;
  ref: { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string };
}

export interface FrontDoorOptions {
  /** Adds `molt__list_tools` and `molt__call_tool`, for clients that ignore list_changed. */
  metaTools?: boolean;
  /**
   * How tools and prompts are named over MCP: `prefixed` (default) `<plugin>__<tool>`, `bare`
   * the tool's own name (a collision is reported and left out).
   */
  toolNames?: 'prefixed' | 'bare';
  /** A naming of one's own; overrides `toolNames`. */
  naming?: NameTool;
  /** Told of tools, resources and prompts left out (bad name, collision, bad schema). */
  onProblem?: (p: TableProblem) => void;
  serverName?: string;
  serverVersion?: string;
  /**
   * Where list changes and resource updates are published (default: in-process). A multi-host
   * deployment gives one shared over its pub/sub; see event-bus.ts.
   */
  bus?: ServerEventBus;
}

/** What a read, a prompt or a completion needs of the request it serves. */
export interface ServedRequest {
  signal: AbortSignal;
  client: CallClient;
}

/** What a session's transport knows that the handlers need: its calls, to cancel them. */
export interface SessionContext {
  /** In-flight tool calls by JSON-RPC request id, so a dropped HTTP stream can cancel them. */
  readonly calls: Map<string | number, TrackedCall>;
  /**
   * Told after each call leaves `calls`: its request id, and whether the SDK aborted the
   * request, which it then leaves unanswered (a graceful stop waits for the last call; an
   * unanswered request's stream ends).
   */
  readonly settled?: (requestId: string | number, unanswered: boolean) => void;
}

const META_LIST = 'molt__list_tools';
const META_CALL = 'molt__call_tool';

const metaTools: Tool[] = [
  {
    name: META_LIST,
    description:
      'Lists the tools this server offers right now (they can change while you are connected).',
    inputSchema: { type: 'object', properties: {} },
  },
  {
    name: META_CALL,
    description: `Calls a tool by name, including tools added after you listed them. Use ${META_LIST} to see them.`,
    inputSchema: {
      type: 'object',
      properties: { name: { type: 'string' }, arguments: { type: 'object' } },
      required: ['name'],
    },
  },
];

export class McpFrontDoor {
  readonly #host: Host;
  readonly #table: ToolTable;
  readonly #served: ServedTable;
  readonly #options: FrontDoorOptions;
  /** Each session's server and the URIs it subscribed to. */
  readonly #servers = new Map<Server, Set<string>>();
  /** Each session's logging level (`logging/setLevel`). */
  readonly #logs = new Map<Server, SessionLog>();
  readonly #unsubscribe: (() => void)[];
  #reported = new Map<string, Set<string>>();
  /** The one bus every list change and resource update goes through (event-bus.ts). */
  readonly bus: ServerEventBus;
  /** False during the first build: the tables filling up is no change to tell a shared bus. */
  #built = false;

  constructor(host: Host, options: FrontDoorOptions = {}) {
    this.#host = host;
    this.#options = options;
    this.bus = options.bus ?? inProcessBus();
    const naming = options.naming ?? (options.toolNames === 'bare' ? bareNaming : defaultNaming);
    this.#table = new ToolTable(naming);
    this.#served = new ServedTable(naming);
    this.refresh();
    this.#built = true;
    this.#unsubscribe = [
      this.bus.subscribe((event) => deliverToSessions(event, this.#servers)),
      host.on('tools.changed', () => this.#refreshTools()),
      host.on('resources.changed', () => this.#refreshResources()),
      host.on('prompts.changed', () => this.#refreshPrompts()),
      host.on('resource.updated', ({ name, uri }) => this.#updated(name, uri)),
      host.on('plugin.log', (e) => this.#logged(e)),
    ];
  }

  get sessions(): number {
    return this.#servers.size;
  }

  /** Who this server says it is, to either protocol generation. */
  get serverInfo(): { name: string; version: string } {
    return {
      name: this.#options.serverName ?? 'molt',
      version: this.#options.serverVersion ?? '0.1.0',
    };
  }

  /** The listed tool of that MCP name (undefined for a meta-tool or an unknown name). */
  listedTool(name: string): Tool | undefined {
    return this.#table.get(name);
  }

  resources(): ReturnType<ServedTable['resources']> {
    return this.#served.resources();
  }

  templates(): ReturnType<ServedTable['templates']> {
    return this.#served.templates();
  }

  prompts(): ReturnType<ServedTable['prompts']> {
    return this.#served.prompts();
  }

  /** The tools a client lists now, meta-tools first. */
  tools(): Tool[] {
    const own = this.#table.list().map(({ plugin: _p, tool: _t, ...listed }) => listed);
    return this.#options.metaTools ? [...metaTools, ...own] : own;
  }

  /** Rebuilds every table; tells every session of each list that changed. */
  refresh(): void {
    this.#refreshTools();
    this.#refreshResources();
    this.#refreshPrompts();
  }

  #refreshTools(): void {
    const reserved = this.#options.metaTools ? [META_LIST, META_CALL] : [];
    const { changed, problems } = this.#table.rebuild(this.#host.plugins(), reserved);
    this.#report('tools', problems);
    if (changed && this.#built) this.bus.publish({ kind: 'tools_list_changed' });
  }

  #refreshResources(): void {
    const { changed, problems } = this.#served.rebuildResources(this.#host.plugins());
    this.#report('resources', problems);
    if (changed && this.#built) this.bus.publish({ kind: 'resources_list_changed' });
  }

  #refreshPrompts(): void {
    const { changed, problems } = this.#served.rebuildPrompts(this.#host.plugins());
    this.#report('prompts', problems);
    if (changed && this.#built) this.bus.publish({ kind: 'prompts_list_changed' });
  }

  /** Each problem is reported once, when it appears, not again on every later rebuild. */
  #report(kind: string, problems: TableProblem[]): void {
    const before = this.#reported.get(kind) ?? new Set<string>();
    const now = new Set<string>();
    for (const p of problems) {
      const key = `${p.code}\0${p.plugin}\0${p.tool}\0${p.message}`;
      now.add(key);
      if (!before.has(key)) this.#options.onProblem?.(p);
    }
    this.#reported.set(kind, now);
  }

  /** Published only if `plugin` is the one serving `uri`; subscribers of `uri` get it. */
  #updated(plugin: string, uri: string): void {
    if (this.#served.route(uri) !== plugin) return;
    this.bus.publish({ kind: 'resource_updated', uri });
  }

  /**
   * A plugin's log line no call's client took (init, a call from code): every session that set
   * a level at or below it gets it. Lines of a session's own calls went to it alone.
   */
  #logged(e: HostEvents['plugin.log']): void {
    if (e.toCaller === true || e.dropped !== undefined) return;
    const level = e.level as LogLevel;
    for (const [server, log] of this.#logs)
      if (log.wants(level))
        server.notification(logNotification(e.name, level, e.msg, e.data)).catch(() => {});
  }

  /** A new SDK server for one session, registered until its transport closes. */
  createServer(session: SessionContext = { calls: new Map() }): Server {
    const server = new SessionServer(
      { name: this.#options.serverName ?? 'molt', version: this.#options.serverVersion ?? '0.1.0' },
      {
        capabilities: {
          tools: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          prompts: { listChanged: true },
          completions: {},
          logging: {},
        },
      },
    );
    server.onCancelled = (id) => cancelNamed(session.calls, id);
    const subscribed = new Set<string>();
    const log = new SessionLog();
    // Ours, not the SDK's: a handler's lines go out with its request, filtered here.
    server.setRequestHandler(SetLevelRequestSchema, async (request) => {
      log.set(request.params.level);
      return {};
    });
    const client = (extra: Extra): RequestClient => new RequestClient(server, extra, log);
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: this.tools() }));
    // Registered as the base Protocol registers any handler, which parses the request once:
    // `Server` wraps a tools/call handler to parse the request again and the result against
    // CallToolResultSchema, and molt makes its results itself (result.ts) but for one kind, a
    // plugin's full result, checked in #call.
    setHandler(server, CallToolRequestSchema, async (request, extra) => {
      const { name, arguments: args = {} } = request.params;
      const progressToken = request.params._meta?.progressToken;
      return this.#tracked(session, extra, (signal) =>
        this.#call(name, args, {
          signal,
          client: client(extra),
          onProgress:
            progressToken === undefined
              ? undefined
              : (p) =>
                  void extra
                    .sendNotification({
                      method: 'notifications/progress',
                      params: {
                        progressToken,
                        progress: p.done,
                        ...(p.total === undefined ? {} : { total: p.total }),
                        ...(p.message === undefined ? {} : { message: p.message }),
                      },
                    })
                    .catch(() => {}),
        }),
      );
    });
    server.setRequestHandler(ListResourcesRequestSchema, async () => ({
      resources: this.#served.resources(),
    }));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
      resourceTemplates: this.#served.templates(),
    }));
    server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) => {
      const { uri } = request.params;
      const plugin = this.#resourceOwner(uri);
      return this.#tracked(session, extra, (signal) =>
        this.#read(plugin, uri, { signal, client: client(extra) }),
      );
    });
    server.setRequestHandler(SubscribeRequestSchema, async (request) => {
      const { uri } = request.params;
      this.#resourceOwner(uri);
      if (!subscribed.has(uri) && subscribed.size >= MAX_SUBSCRIPTIONS)
        throw new McpError(
          ErrorCode.InvalidParams,
          `a session may subscribe to at most ${MAX_SUBSCRIPTIONS} resources`,
        );
      subscribed.add(uri);
      return {};
    });
    server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
      subscribed.delete(request.params.uri);
      return {};
    });
    server.setRequestHandler(ListPromptsRequestSchema, async () => ({
      prompts: this.#served.prompts(),
    }));
    server.setRequestHandler(GetPromptRequestSchema, async (request, extra) => {
      const { name, arguments: args = {} } = request.params;
      const found = this.#promptOf(name);
      return this.#tracked(session, extra, (signal) =>
        this.#get(found, args, { signal, client: client(extra) }),
      );
    });
    server.setRequestHandler(CompleteRequestSchema, async (request, extra) => {
      const target = this.#completionTarget(request.params);
      return this.#tracked(session, extra, (signal) =>
        this.#complete(target, request.params, { signal, client: client(extra) }),
      );
    });
    this.#servers.set(server, subscribed);
    this.#logs.set(server, log);
    server.onclose = () => {
      this.#servers.delete(server);
      this.#logs.delete(server);
      for (const c of session.calls.values())
        c.abort(new MoltError(ErrorCodes.CANCELLED, 'the client went away'));
      session.calls.clear();
    };
    return server;
  }

  /**
   * The same requests for a caller outside a session (a 2026-07-28 stateless request): each
   * checks what it names first, then runs under the caller's signal. Errors are MCP's, as above.
   */
  callTool(
    name: string,
    args: Record<string, unknown>,
    options: ServedRequest & {
      onProgress: ((p: { done: number; total?: number; message?: string }) => void) | undefined;
    },
  ): Promise<CallToolResult> {
    return this.#call(name, args, options);
  }

  readResource(uri: string, request: ServedRequest): Promise<ReadResourceResult> {
    return this.#read(this.#resourceOwner(uri), uri, request);
  }

  getPrompt(
    name: string,
    args: Record<string, string>,
    request: ServedRequest,
  ): Promise<GetPromptResult> {
    return this.#get(this.#promptOf(name), args, request);
  }

  complete(params: CompleteParams, request: ServedRequest): Promise<Completed> {
    return this.#complete(this.#completionTarget(params), params, request);
  }

  #read(plugin: string, uri: string, request: ServedRequest): Promise<ReadResourceResult> {
    return this.#host
      .readResource(plugin, uri, request)
      .then((r) => r as ReadResourceResult)
      .catch((err: unknown) => {
        throw mcpError(err, 'resource');
      });
  }

  #promptOf(name: string): { plugin: string; prompt: string } {
    const found = this.#served.prompt(name);
    if (found === undefined)
      throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name.slice(0, 256)}`);
    return found;
  }

  #get(
    found: { plugin: string; prompt: string },
    args: Record<string, string>,
    request: ServedRequest,
  ): Promise<GetPromptResult> {
    return this.#host
      .getPrompt(found.plugin, found.prompt, args, request)
      .then((r) => asJson(r as GetPromptResult))
      .catch((err: unknown) => {
        throw mcpError(err, 'prompt');
      });
  }

  /** The plugin a completion goes to, and the ref as that plugin names it. */
  #completionTarget({ ref }: CompleteParams): CompletionTarget {
    if (ref.type === 'ref/prompt') {
      const found = this.#promptOf(ref.name);
      return { plugin: found.plugin, ref: { type: 'ref/prompt', name: found.prompt } };
    }
    const plugin = this.#served.templateOwner(ref.uri);
    if (plugin === undefined)
      throw new McpError(RESOURCE_NOT_FOUND, 'Resource not found', {
        uri: ref.uri.slice(0, MAX_URI),
      });
    return { plugin, ref: { type: 'ref/resource', uri: ref.uri } };
  }

  async #complete(
    target: CompletionTarget,
    { ref, argument, context }: CompleteParams,
    request: ServedRequest,
  ): Promise<Completed> {
    try {
      const completion = await this.#host.complete(
        target.plugin,
        target.ref,
        {
          ...argument,
          ...(context?.arguments === undefined ? {} : { context: context.arguments }),
        },
        request,
      );
      return { completion };
    } catch (err) {
      throw mcpError(err, ref.type === 'ref/prompt' ? 'prompt' : 'resource');
    }
  }

  /** The plugin serving `uri`, or MCP's "resource not found". */
  #resourceOwner(uri: string): string {
    const plugin = uri.length > MAX_URI ? undefined : this.#served.route(uri);
    if (plugin === undefined)
      throw new McpError(RESOURCE_NOT_FOUND, 'Resource not found', { uri: uri.slice(0, MAX_URI) });
    return plugin;
  }

  /**
   * Runs one request as a call the session can cancel: the client's `notifications/cancelled`
   * and a dropped stream both abort the plugin's `ctx.signal`, and a graceful stop waits for it.
   */
  async #tracked<T>(
    session: SessionContext,
    extra: Extra,
    run: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    // A CallSignal, not an AbortController, and no listener: cancel-link.ts.
    const signal = new TrackedCall(extra.signal);
    session.calls.set(extra.requestId, signal);
    try {
      return await run(signal.asSignal);
    } finally {
      session.calls.delete(extra.requestId);
      session.settled?.(extra.requestId, extra.signal.aborted);
    }
  }

  async #call(
    name: string,
    args: Record<string, unknown>,
    options: {
      signal: AbortSignal;
      client: CallClient;
      onProgress: ((p: { done: number; total?: number; message?: string }) => void) | undefined;
    },
  ): Promise<CallToolResult> {
    if (this.#options.metaTools && name === META_LIST) {
      return toToolResult({
        tools: this.tools().filter((t) => t.name !== META_LIST && t.name !== META_CALL),
      });
    }
    if (this.#options.metaTools && name === META_CALL) {
      const inner = typeof args.name === 'string' ? args.name : '';
      if (inner === META_LIST || inner === META_CALL) return this.#call(inner, {}, options);
      const innerArgs = (args.arguments ?? {}) as Record<string, unknown>;
      if (this.#table.get(inner) === undefined) {
        return toToolError(
          new MoltError(
            ErrorCodes.UNKNOWN_TOOL,
            `no tool named "${inner}"; ${META_LIST} lists them`,
          ),
        );
      }
      return this.#call(inner, innerArgs, options);
    }
    const tool = this.#table.get(name);
    if (tool === undefined) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    let result: CallToolResult;
    let full = false;
    try {
      const value = await this.#host.call(tool.plugin, tool.tool, args, options);
      result = toToolResult(value);
      if (result === value) {
        full = true;
        result = asJson(result);
      }
    } catch (err) {
      // The runtime names the plugin's tool; a client knows it by its MCP name.
      if (isMoltError(err, ErrorCodes.INVALID_INPUT) && Array.isArray(err.details?.problems)) {
        return toToolError(
          new MoltError(
            ErrorCodes.INVALID_INPUT,
            `invalid arguments for ${name}: ${(err.details.problems as string[]).join('; ')}`,
            { details: err.details },
          ),
        );
      }
      return toToolError(err);
    }
    return full ? checkedFullResult(result) : result;
  }

  async close(): Promise<void> {
    for (const off of this.#unsubscribe) off();
    await Promise.allSettled([...this.#servers.keys()].map((s) => s.close()));
    this.#servers.clear();
    this.#logs.clear();
  }
}

/**
 * What a plugin answered in its own shape (a full tool result, a prompt's messages), as the JSON
 * the client will get: structured clone carries BigInts and cycles, which no transport can
 * write, and a transport that fails to write an answer leaves its client waiting for good. A
 * BigInt becomes its digits; anything else JSON cannot say is RESULT_UNSERIALIZABLE.
 */
function asJson<T>(value: T): T {
  return JSON.parse(toJson(value)) as T;
}

/**
 * `Protocol`'s own `setRequestHandler`, which `Server` overrides for tools/call with a second
 * parse of the request and a parse of every result (see createServer).
 */
function setHandler(
  server: Server,
  schema: typeof CallToolRequestSchema,
  handler: (request: CallToolRequest, extra: Extra) => Promise<CallToolResult>,
): void {
  Protocol.prototype.setRequestHandler.call(server, schema, handler as never);
}

/**
 * A plugin's own full result (it had a `content` array), checked against MCP's schema as the
 * SDK would: an invalid one is the same JSON-RPC error the SDK gives.
 */
function checkedFullResult(result: CallToolResult): CallToolResult {
  const parsed = CallToolResultSchema.safeParse(result);
  if (parsed.success) return parsed.data;
  throw new McpError(ErrorCode.InvalidParams, `Invalid tools/call result: ${parsed.error.message}`);
}

/**
 * A failed read, get or completion as the JSON-RPC error MCP defines: an unknown resource is
 * -32002, bad or missing arguments and an unknown prompt -32602, anything else (a plugin error,
 * a timeout, a crash) an internal error naming molt's code.
 */
function mcpError(err: unknown, kind: 'resource' | 'prompt'): McpError {
  if (!isMoltError(err)) return new McpError(ErrorCode.InternalError, String(err));
  const data = { code: err.code };
  if (
    err.code === ErrorCodes.UNKNOWN_RESOURCE ||
    (kind === 'resource' && err.code === ErrorCodes.UNKNOWN_PLUGIN)
  )
    return new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${err.message}`, data);
  if (
    err.code === ErrorCodes.UNKNOWN_PROMPT ||
    err.code === ErrorCodes.INVALID_INPUT ||
    err.code === ErrorCodes.UNKNOWN_PLUGIN
  )
    return new McpError(ErrorCode.InvalidParams, `${err.code}: ${err.message}`, data);
  return new McpError(ErrorCode.InternalError, `${err.code}: ${err.message}`, data);
}
