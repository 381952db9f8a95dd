/**
 * The MCP front door: the host's tools served to MCP clients over any number of sessions. One
 * SDK `Server` serves one transport, so each session gets its own, all reading one tool table.
 * When the runtime publishes a changed tool list (`tools.changed`, step 8 of a reload) the table
 * is rebuilt and, only if what a client would list changed, every session is told
 * (`notifications/tools/list_changed`).
 *
 * G2: `tools.changed` is emitted in the same turn as the pointer swap, so a client never lists
 * the new tools while calls still reach the old handlers, nor the reverse.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import type { Host } from '../runtime/host.js';
import { toToolError, toToolResult } from './result.js';
import { type NameTool, type TableProblem, ToolTable } from './tool-table.js';

export interface FrontDoorOptions {
  /** Adds `molt__list_tools` and `molt__call_tool`, for clients that ignore list_changed. */
  metaTools?: boolean;
  /** How a plugin's tool is named over MCP (default `<plugin>__<tool>`). */
  naming?: NameTool;
  /** Told of tools left out of the list (bad name, collision, bad schema). */
  onProblem?: (p: TableProblem) => void;
  serverName?: string;
  serverVersion?: string;
}

/** What a session's transport knows that the handlers need: its calls, to cancel them. */
export interface SessionContext {
  /** In-flight tool calls by JSON-RPC request id, so a dropped HTTP stream can cancel them. */
  readonly calls: Map<string | number, AbortController>;
  /** Told after each call leaves `calls` (a graceful stop waits for the last one). */
  readonly settled?: () => void;
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
  readonly #options: FrontDoorOptions;
  readonly #servers = new Set<Server>();
  readonly #unsubscribe: () => void;
  #reported = new Set<string>();

  constructor(host: Host, options: FrontDoorOptions = {}) {
    this.#host = host;
    this.#options = options;
    this.#table = new ToolTable(options.naming);
    this.refresh();
    this.#unsubscribe = host.on('tools.changed', () => this.refresh());
  }

  get sessions(): number {
    return this.#servers.size;
  }

  /** The tools a client lists now, meta-tools first. */
  tools(): Tool[] {
    const own = this.#table.list().map(({ plugin: _p, tool: _t, ...listed }) => listed);
    return this.#options.metaTools ? [...metaTools, ...own] : own;
  }

  /** Rebuilds the table; tells every session if the list changed. */
  refresh(): void {
    const reserved = this.#options.metaTools ? [META_LIST, META_CALL] : [];
    const { changed, problems } = this.#table.rebuild(this.#host.plugins(), reserved);
    // Each problem is reported once, when it appears, not again on every later rebuild.
    const reported = new Set<string>();
    for (const p of problems) {
      const key = `${p.code}\0${p.plugin}\0${p.tool}\0${p.message}`;
      reported.add(key);
      if (!this.#reported.has(key)) this.#options.onProblem?.(p);
    }
    this.#reported = reported;
    if (!changed) return;
    for (const server of this.#servers) {
      // A session whose transport is gone fails here; it is removed on its own close.
      server.sendToolListChanged().catch(() => {});
    }
  }

  /** A new SDK server for one session, registered until its transport closes. */
  createServer(session: SessionContext = { calls: new Map() }): Server {
    const server = new Server(
      { name: this.#options.serverName ?? 'molt', version: this.#options.serverVersion ?? '0.1.0' },
      { capabilities: { tools: { listChanged: true } } },
    );
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: this.tools() }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const { name, arguments: args = {} } = request.params;
      const progressToken = request.params._meta?.progressToken;
      const controller = new AbortController();
      const onAbort = (): void => controller.abort(extra.signal.reason);
      if (extra.signal.aborted) controller.abort(extra.signal.reason);
      else extra.signal.addEventListener('abort', onAbort, { once: true });
      session.calls.set(extra.requestId, controller);
      try {
        return await this.#call(name, args, {
          signal: controller.signal,
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
        });
      } finally {
        extra.signal.removeEventListener('abort', onAbort);
        session.calls.delete(extra.requestId);
        session.settled?.();
      }
    });
    this.#servers.add(server);
    server.onclose = () => {
      this.#servers.delete(server);
      for (const c of session.calls.values())
        c.abort(new MoltError(ErrorCodes.CANCELLED, 'the client went away'));
      session.calls.clear();
    };
    return server;
  }

  async #call(
    name: string,
    args: Record<string, unknown>,
    options: {
      signal: AbortSignal;
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
    try {
      return toToolResult(await this.#host.call(tool.plugin, tool.tool, args, options));
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
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    await Promise.allSettled([...this.#servers].map((s) => s.close()));
    this.#servers.clear();
  }
}
