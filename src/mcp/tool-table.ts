/**
 * The MCP view of the host's tools: every tool of every active plugin as `<plugin>__<tool>`,
 * with its description and JSON Schema. Rebuilt from the host when a plugin's tools change;
 * `rebuild` says whether what a client would list changed. Arguments are validated by the
 * runtime (in the plugin's sandbox), for every door alike.
 */
import { type ErrorCode, ErrorCodes } from '../errors/errors.js';
import type { PluginInfo } from '../runtime/host.js';

/** Claude and most clients accept only these tool names. */
export const MCP_TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface McpTool {
  name: string;
  plugin: string;
  tool: string;
  description: string;
  inputSchema: { type: 'object'; [key: string]: unknown };
}

export interface TableProblem {
  code: ErrorCode;
  plugin: string;
  tool: string;
  message: string;
}

export type NameTool = (plugin: string, tool: string) => string;
export const defaultNaming: NameTool = (plugin, tool) => `${plugin}__${tool}`;

export class ToolTable {
  readonly #name: NameTool;
  #tools = new Map<string, McpTool>();
  #signature = '';

  constructor(name: NameTool = defaultNaming) {
    this.#name = name;
  }

  get(name: string): McpTool | undefined {
    return this.#tools.get(name);
  }

  list(): McpTool[] {
    return [...this.#tools.values()];
  }

  /** Recomputes the table; `changed` is true when names, descriptions or schemas differ. */
  rebuild(
    plugins: PluginInfo[],
    reserved: readonly string[] = [],
  ): { changed: boolean; problems: TableProblem[] } {
    const problems: TableProblem[] = [];
    const next = new Map<string, McpTool>();
    const sorted = [...plugins].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const p of sorted) {
      for (const t of [...p.tools].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const name = this.#name(p.name, t.name);
        const problem = (code: ErrorCode, message: string): void => {
          problems.push({ code, plugin: p.name, tool: t.name, message });
        };
        if (!MCP_TOOL_NAME.test(name)) {
          problem(
            ErrorCodes.TOOL_NAME_INVALID,
            `"${name}" is not 1-64 characters of A-Z a-z 0-9 _ -`,
          );
          continue;
        }
        if (next.has(name) || reserved.includes(name)) {
          const other = next.get(name);
          problem(
            ErrorCodes.TOOL_NAME_COLLISION,
            `"${name}" is already taken by ${other === undefined ? 'a molt meta-tool' : `${other.plugin}.${other.tool}`}`,
          );
          continue;
        }
        const schema = t.inputSchema as McpTool['inputSchema'];
        if (schema.type !== 'object') {
          // MCP lists only object schemas; other doors can still call the tool.
          problem(ErrorCodes.TOOL_SCHEMA_INVALID, 'inputSchema must have type "object"');
          continue;
        }
        next.set(name, {
          name,
          plugin: p.name,
          tool: t.name,
          description: t.description,
          inputSchema: schema,
        });
      }
    }
    this.#tools = next;
    const signature = JSON.stringify(
      [...next.values()].map((t) => [t.name, t.description, t.inputSchema]),
    );
    const changed = signature !== this.#signature;
    this.#signature = signature;
    return { changed, problems };
  }
}
