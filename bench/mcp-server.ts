/**
 * Child of bench (k): one MCP server over Streamable HTTP on loopback, sessionful, serving one
 * tool `add` ({a, b} → `a+b` as text), in a process of its own so `process.cpuUsage()` counts
 * exactly its CPU, every thread included (molt's worker sandbox too).
 *  - `raw`: the SDK 1.x as its README shows it: an `McpServer` and a
 *    `StreamableHTTPServerTransport` per session, the tool's input checked by zod; it answers
 *    every call as an SSE stream (the SDK's default).
 *  - `raw-json`: the same with `enableJsonResponse`, each answer one JSON body, as molt answers
 *    a call that sends nothing before its result: the SDK at its cheapest.
 *  - `molt`: `molt serve`'s own path (`serve()`: the plugins folder, the host, metrics, the
 *    event stream, the admin API, the MCP front door) on an artifact folder whose `add` has a
 *    JSON Schema, in a worker sandbox (the default).
 * Over IPC: says {t:'ready', url}; answers {t:'mark'} with its CPU and resource usage so the
 * parent reads them at the edges of each measured window; exits on disconnect.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { serve } from '../src/cli/serve.js';
import { scratchDir } from './artifacts.js';

export interface Mark {
  t: 'mark';
  /** µs of CPU, user + system, all threads of this process. */
  cpuUs: number;
  /** KB */
  maxRssKb: number;
  voluntarySwitches: number;
  /** µs of CPU of the main thread alone (Linux; NaN elsewhere): the rest is in other threads. */
  mainCpuUs: number;
}

/** The molt plugin: the same work as the raw tool, its input checked by the runtime. */
export const ADD_PLUGIN = `export default {
  tools: {
    add: {
      description: 'Adds two numbers',
      inputSchema: {
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number' } },
        required: ['a', 'b'],
      },
      handler: ({ a, b }) => String(a + b),
    },
  },
};
`;

async function raw(json: boolean): Promise<{ url: string }> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const newServer = (): McpServer => {
    const server = new McpServer({ name: 'raw', version: '1.0.0' });
    server.registerTool(
      'add',
      { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
      ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
    );
    return server;
  };
  const readBody = async (req: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const id = req.headers['mcp-session-id'] as string | undefined;
    const body = req.method === 'POST' ? await readBody(req) : undefined;
    let transport = id === undefined ? undefined : transports.get(id);
    if (transport === undefined) {
      if (id !== undefined || !isInitializeRequest(body)) {
        res.writeHead(id === undefined ? 400 : 404).end();
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: json,
        onsessioninitialized: (sid) => {
          transports.set(sid, created);
        },
      });
      created.onclose = () => {
        if (created.sessionId !== undefined) transports.delete(created.sessionId);
      };
      await newServer().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  };
  const http = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp` };
}

async function molt(): Promise<{ url: string }> {
  const root = await scratchDir('mcp-molt');
  const plugins = join(root, 'plugins');
  const artifact = join(plugins, 'calc');
  await mkdir(artifact, { recursive: true });
  await writeFile(join(artifact, 'index.mjs'), ADD_PLUGIN);
  await writeFile(
    join(artifact, 'molt.json'),
    JSON.stringify({
      name: 'calc',
      version: '1.0.0',
      entry: 'index.mjs',
      buildId: createHash('sha256').update(ADD_PLUGIN).digest('hex'),
    }),
  );
  const running = await serve(plugins, { data: join(root, 'data'), http: '0', probation: '0' });
  // The folder loads what it finds before serve() returns; wait for it if not.
  const host = running.deployment.host;
  if (!host.plugins().some((p) => p.name === 'calc'))
    await new Promise<void>((resolve) => {
      const off = host.on('tools.changed', () => {
        if (!host.plugins().some((p) => p.name === 'calc')) return;
        off();
        resolve();
      });
    });
  return { url: running.mcpUrl! };
}

/**
 * The main thread's user + system CPU from /proc (its task id is the pid), in clock ticks of
 * 10 ms: coarse, so read over windows of seconds. Node 20 has no `process.threadCpuUsage()`.
 */
function mainThreadCpuUs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th, 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

function mark(): Mark {
  const cpu = process.cpuUsage();
  const ru = process.resourceUsage();
  return {
    t: 'mark',
    cpuUs: cpu.user + cpu.system,
    maxRssKb: ru.maxRSS,
    voluntarySwitches: ru.voluntaryContextSwitches,
    mainCpuUs: mainThreadCpuUs(),
  };
}

if (process.send !== undefined) {
  const kind = process.argv[2];
  const { url } = kind === 'molt' ? await molt() : await raw(kind === 'raw-json');
  process.on('message', (m: { t?: string }) => {
    if (m.t === 'mark') process.send!(mark());
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ t: 'ready', url });
}
