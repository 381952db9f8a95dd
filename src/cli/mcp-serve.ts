/**
 * The MCP side of `molt serve` and `molt dev`, shared so both take the same flags and refuse the
 * same unsafe setups: the front door over a host, Streamable HTTP (`--http`, made safe by
 * mcp-http-security.ts) and stdio (`--stdio`, behind the relay of stdio-relay.ts).
 *
 * Two steps, because a refusal must come before anything opens: `mcpPlan` checks the flags (and
 * reads the token file), `startMcp` serves once the host is up.
 */
import type { Host } from '../index.js';
import { McpFrontDoor } from '../mcp/front-door.js';
import { type McpHttpOptions, startMcpHttp } from '../mcp/http.js';
import { type StdioStreams, serveStdio } from '../mcp/stdio.js';
import { type HttpSecurityFlags, httpSecurity } from './mcp-http-security.js';
import { line } from './output.js';

/** The MCP flags of `molt serve` and `molt dev`, as commander hands them over. */
export interface McpFlags extends HttpSecurityFlags {
  stdio?: boolean;
  http?: string;
  metaTools?: boolean;
  sessionTtl?: string;
  /** MCP names of tools and prompts: `prefixed` (default) or `bare`. */
  toolNames?: 'prefixed' | 'bare';
  /** With `stdio`: the streams to speak MCP on instead of the process's stdin and stdout. */
  stdioStreams?: StdioStreams;
}

/** The flags, checked: what `startMcp` needs. Undefined when neither --stdio nor --http. */
export interface McpPlan {
  flags: McpFlags;
  http: McpHttpOptions | undefined;
}

export interface McpServing {
  door: McpFrontDoor;
  /** With --http: the URL it listens on (the real port when asked for port 0). */
  url: string | undefined;
  /** With --stdio: resolves when the client closes its input. */
  stdioClosed: Promise<void> | undefined;
  /**
   * New requests refused, the calls in flight finish (up to `drainMs`), then every session
   * closes.
   */
  close(options: { drainMs: number }): Promise<void>;
}

/** Checks the MCP flags before the host opens anything: an unsafe server does not start at all. */
export async function mcpPlan(flags: McpFlags): Promise<McpPlan | undefined> {
  if (!flags.stdio && flags.http === undefined) return undefined;
  const http =
    flags.http === undefined
      ? undefined
      : {
          port: Number(flags.http),
          ...(flags.host === undefined ? {} : { host: flags.host }),
          ...(flags.sessionTtl === undefined ? {} : { sessionTtlMs: Number(flags.sessionTtl) }),
          ...(await httpSecurity(flags)),
        };
  return { flags, http };
}

/** Serves MCP over `host` as planned. */
export async function startMcp(host: Host, plan: McpPlan): Promise<McpServing> {
  const { flags } = plan;
  const door = new McpFrontDoor(host, {
    metaTools: flags.metaTools === true,
    toolNames: flags.toolNames ?? 'prefixed',
    onProblem: (p) => line(`! ${p.plugin}.${p.tool} left out of MCP: ${p.code} ${p.message}`),
  });
  const http = plan.http === undefined ? undefined : await startMcpHttp(door, plan.http);
  const stdio = flags.stdio ? await serveStdio(door, flags.stdioStreams) : undefined;
  return {
    door,
    url: http?.url,
    stdioClosed: stdio?.closed,
    close: async ({ drainMs }) => {
      await http?.close({ drainMs });
      await door.close();
    },
  };
}

/** Where MCP is served, for the log (stderr): `mcp: URL`, `mcp: stdio`. */
export function announceMcp(mcp: McpServing | undefined): void {
  if (mcp?.url !== undefined) line(`mcp: ${mcp.url}`);
  if (mcp?.stdioClosed !== undefined) line('mcp: stdio');
}
