/**
 * The MCP view of the host's tools: every tool of every active plugin as `<plugin>__<tool>`,
 * with its description and JSON Schema. Rebuilt from the host when a plugin's tools change;
 * `rebuild` says whether what a client would list changed (names, titles,
 * descriptions, schemas or annotations). Arguments are validated by the
 * runtime (in the plugin's sandbox), for every door alike.
 */
import { type ErrorCode, ErrorCodes } from '../errors/errors.js';
import type { ToolAnnotations } from '../plugin/index.js';
import type { PluginInfo } from '../runtime/host.js';

/** Claude and most clients accept only these tool names. */
export const MCP_TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

type ObjectSchema = { type: 'object'; [key: string]: unknown };

/** One listed tool: the MCP fields, exactly as a client gets them, and where it comes from. */
export interface McpTool {
  name: string;
  plugin: string;
  tool: string;
  title?: string;
  description: string;
  inputSchema: ObjectSchema;
  outputSchema?: ObjectSchema;
  annotations?: ToolAnnotations;
}

export interface TableProblem {
  code: ErrorCode;
  plugin: string;
  tool: string;
  message: string;
}

export type NameTool = (plugin: string, tool: string) => string;
export const defaultNaming: NameTool = (plugin, tool) => `${plugin}__${tool}`;
/** `--tool-names bare`: a tool (or prompt) under its own name. */
export const bareNaming: NameTool = (_plugin, tool) => tool;

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

  /** Recomputes the table; `changed` is true when anything a client lists differs. */
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
        const schema = t.inputSchema as ObjectSchema;
        const output = t.outputSchema as ObjectSchema | undefined;
        // MCP lists only object schemas; other doors can still call the tool.
        if (schema.type !== 'object' || (output !== undefined && output.type !== 'object')) {
          const which = schema.type !== 'object' ? 'inputSchema' : 'outputSchema';
          problem(ErrorCodes.TOOL_SCHEMA_INVALID, `${which} must have type "object"`);
          continue;
        }
        const listed: McpTool = {
          name,
          plugin: p.name,
          tool: t.name,
          description: t.description,
          inputSchema: schema,
        };
        if (t.title !== undefined) listed.title = t.title;
        if (output !== undefined) listed.outputSchema = output;
        if (t.annotations !== undefined) listed.annotations = t.annotations;
        next.set(name, listed);
      }
    }
    this.#tools = next;
    const signature = JSON.stringify(
      [...next.values()].map((t) => [
        t.name,
        t.title,
        t.description,
        t.inputSchema,
        t.outputSchema,
        t.annotations,
      ]),
    );
    const changed = signature !== this.#signature;
    this.#signature = signature;
    return { changed, problems };
  }
}
