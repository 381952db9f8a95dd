/**
 * `molt serve --stdio` driven by the MCP SDK's own `Client` + `StdioClientTransport`, with the raw
 * bytes of the server's stdout recorded beside what the client parses, every message the client
 * sent, and the server's stderr with waiters. No sleeps.
 */
import type { ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  type ClientCapabilities,
  type JSONRPCMessage,
  JSONRPCMessageSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { MOLT_BIN } from './cli.js';

export interface StdioSession {
  client: Client;
  transport: StdioClientTransport;
  /** Every byte the server wrote to its stdout, as the client's transport received it. */
  readonly stdout: string;
  /** Everything the server wrote to stderr so far. */
  readonly stderr: string;
  /** Every message the client sent, in order. */
  readonly sent: JSONRPCMessage[];
  /** Whatever the client or its transport reported through `onerror`. */
  readonly errors: unknown[];
  /** Resolves once stderr matches `re`. */
  onStderr(re: RegExp): Promise<void>;
  /** The server process's exit, once the transport has spawned it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  close(): Promise<void>;
}

/** Spawns `molt serve ...args --stdio` through the SDK and connects a client to it. */
export async function connectStdio(
  args: string[],
  name = 'molt-stdio-test',
  capabilities?: ClientCapabilities,
): Promise<StdioSession> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MOLT_BIN, 'serve', ...args, '--stdio'],
    stderr: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  const sent: JSONRPCMessage[] = [];
  const errors: unknown[] = [];
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  transport.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters.filter((x) => x.re.test(stderr))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  let exited!: (e: { code: number | null; signal: NodeJS.Signals | null }) => void;
  const exitedP = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => {
    exited = r;
  });
  // `start` resolves on the child's 'spawn' event, before any of its output can be read: a
  // listener added then sees every byte, beside the transport's own.
  const start = transport.start.bind(transport);
  transport.start = async () => {
    await start();
    const child = (transport as unknown as { _process: ChildProcess })._process;
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('exit', (code, signal) => exited({ code, signal }));
  };
  const send = transport.send.bind(transport);
  transport.send = (message) => {
    sent.push(message);
    return send(message);
  };
  const client = new Client(
    { name, version: '1.0.0' },
    capabilities === undefined ? undefined : { capabilities },
  );
  client.onerror = (err) => errors.push(err);
  try {
    await client.connect(transport);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(`the client could not connect: ${err}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  return {
    client,
    transport,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    sent,
    errors,
    onStderr: (re) =>
      re.test(stderr) ? Promise.resolve() : new Promise((resolve) => waiters.push({ re, resolve })),
    exited: exitedP,
    close: () => client.close(),
  };
}

/**
 * Checks raw stdout bytes line by line: each line is one well-formed JSON-RPC message, and every
 * response answers a request the client really sent, exactly once. Returns the messages; throws
 * with the offending line otherwise.
 */
export function genuineMessages(stdout: string, sent: JSONRPCMessage[]): JSONRPCMessage[] {
  const requested = new Set(
    sent.filter((m) => 'method' in m && 'id' in m).map((m) => (m as { id: string | number }).id),
  );
  const answered = new Set<string | number>();
  const lines = stdout.split('\n');
  if (lines.pop() !== '')
    throw new Error(`stdout does not end with a newline: ${stdout.slice(-200)}`);
  return lines.map((l) => {
    let message: JSONRPCMessage;
    try {
      message = JSONRPCMessageSchema.parse(JSON.parse(l));
    } catch (err) {
      throw new Error(
        `stdout carried a line that is not JSON-RPC: ${l}\n${(err as Error).message}`,
      );
    }
    if (!('method' in message)) {
      const { id } = message as { id?: string | number };
      if (id === undefined || !requested.has(id)) throw new Error(`a response to no request: ${l}`);
      if (answered.has(id)) throw new Error(`a second response to ${id}: ${l}`);
      answered.add(id);
    }
    return message;
  });
}
