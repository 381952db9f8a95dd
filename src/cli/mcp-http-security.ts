/**
 * What `molt serve --http` needs to be safe before it starts: the bearer token (`--token-file`
 * or `MOLT_MCP_TOKEN`), the extra hosts and origins, the session cap, and the refusal to put
 * every tool on the network with no authentication. Checked before the host opens anything.
 */
import { open } from 'node:fs/promises';
import type { McpHttpOptions } from '../mcp/http.js';
import { accessCheck, isLoopback } from '../mcp/http-access.js';
import { line, UsageError } from './output.js';

export interface HttpSecurityFlags {
  host?: string;
  tokenFile?: string;
  allowedHosts?: string;
  allowedOrigins?: string;
  insecureNoAuth?: boolean;
  maxSessions?: string;
}

/** A token file is a secret: anything past this is not one. */
const MAX_TOKEN_FILE = 4096;

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');

async function readToken(file: string): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw new UsageError(`--token-file ${file}: ${(err as Error).message}`);
  }
  try {
    const st = await handle.stat();
    // Windows has no such mode bits; there the file's ACL is the user's business.
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new UsageError(
        `--token-file ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 ${file}`,
      );
    }
    if (!st.isFile() || st.size > MAX_TOKEN_FILE) {
      throw new UsageError(
        `--token-file ${file} must be a file of at most ${MAX_TOKEN_FILE} bytes`,
      );
    }
    return (await handle.readFile('utf8')).trim();
  } finally {
    await handle.close();
  }
}

export async function httpSecurity(
  flags: HttpSecurityFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Partial<McpHttpOptions>> {
  const host = flags.host ?? '127.0.0.1';
  const token =
    flags.tokenFile !== undefined
      ? await readToken(flags.tokenFile)
      : env.MOLT_MCP_TOKEN?.trim() || undefined;
  if (token !== undefined && token.length < 16) {
    throw new UsageError(
      `the MCP token (${flags.tokenFile === undefined ? 'MOLT_MCP_TOKEN' : flags.tokenFile}) must be at least 16 characters; e.g. openssl rand -hex 32`,
    );
  }
  const maxSessions = Number(flags.maxSessions ?? 1000);
  if (!Number.isInteger(maxSessions) || maxSessions < 1) {
    throw new UsageError(`--max-sessions must be a whole number >= 1, not ${flags.maxSessions}`);
  }
  if (!isLoopback(host) && token === undefined) {
    if (flags.insecureNoAuth !== true) {
      throw new UsageError(
        `refusing to serve MCP on ${host} without authentication: anyone who can reach it could call every tool. Give a token (--token-file FILE, or MOLT_MCP_TOKEN), or say --insecure-no-auth`,
      );
    }
    line(
      `!!! WARNING: MCP on ${host} with NO AUTHENTICATION (--insecure-no-auth): anyone who can reach this address can call every tool`,
    );
  }
  const allowedHosts = list(flags.allowedHosts);
  const allowedOrigins = list(flags.allowedOrigins);
  try {
    accessCheck({ bind: host, port: 0, allowedHosts, allowedOrigins });
  } catch (err) {
    throw new UsageError(`--allowed-hosts/--allowed-origins: ${(err as Error).message}`);
  }
  return {
    maxSessions,
    allowedHosts,
    allowedOrigins,
    ...(token === undefined ? {} : { token }),
    ...(flags.insecureNoAuth === true ? { insecureNoAuth: true } : {}),
  };
}
