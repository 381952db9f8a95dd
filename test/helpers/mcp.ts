/**
 * MCP test clients: the SDK's own `Client`, plus the events the tests wait on (the session's
 * GET stream being open, `list_changed` arriving, a plugin reporting from its worker). No sleeps.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type CallToolResult,
  type ClientCapabilities,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

export interface ListChanged {
  /** How many `notifications/tools/list_changed` arrived so far. */
  readonly count: number;
  /** Resolves when the count reaches `n` (default: one more than now). */
  reached(n?: number): Promise<void>;
}

export function watchListChanged(client: Client): ListChanged {
  let count = 0;
  let waiters: { n: number; resolve: () => void }[] = [];
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    count++;
    const ready = waiters.filter((w) => count >= w.n);
    waiters = waiters.filter((w) => count < w.n);
    for (const w of ready) w.resolve();
  });
  return {
    get count() {
      return count;
    },
    reached(n = count + 1) {
      if (count >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
}

export interface HttpClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  listChanged: ListChanged;
  /** Resolves once the session's GET stream is open: over HTTP, list_changed travels only on it. */
  streamOpen: Promise<void>;
  /** Whatever the client or its transport reported through `onerror`. */
  errors: unknown[];
  close(): Promise<void>;
}

export interface ConnectOptions {
  name?: string;
  /** Headers sent on every request (`authorization`, `origin`). */
  headers?: Record<string, string>;
  /**
   * false: the client never opens its GET stream (its GET is answered 405 without reaching the
   * server, as a server without one would), so the session has nothing open between calls.
   */
  stream?: boolean;
  /** What the client declares at `initialize` (`sampling`, `elicitation`). */
  capabilities?: ClientCapabilities;
}

/** Connects an SDK `Client` over Streamable HTTP. */
export async function connectHttp(
  url: string,
  options: string | ConnectOptions = {},
): Promise<HttpClient> {
  const {
    name = 'molt-test',
    headers,
    stream = true,
    capabilities,
  } = typeof options === 'string' ? { name: options } : options;
  let opened!: () => void;
  const streamOpen = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(headers === undefined ? {} : { requestInit: { headers } }),
    // The server registers the GET stream before it answers the GET, so its response is the sign.
    fetch: async (input, init) => {
      if (init?.method === 'GET' && !stream) return new Response(null, { status: 405 });
      const res = await fetch(input, init);
      if (init?.method === 'GET' && res.ok) opened();
      return res;
    },
  });
  const client = new Client(
    { name, version: '1.0.0' },
    capabilities === undefined ? undefined : { capabilities },
  );
  const listChanged = watchListChanged(client);
  const errors: unknown[] = [];
  client.onerror = (err) => errors.push(err);
  await client.connect(transport);
  return { client, transport, listChanged, streamOpen, errors, close: () => client.close() };
}

/** The text of a successful tool result (fails the test on an error result). */
export function textOf(result: unknown): string {
  const r = result as CallToolResult;
  if (r.isError) throw new Error(`tool error: ${JSON.stringify(r.content)}`);
  const [first] = r.content;
  if (first?.type !== 'text') throw new Error(`no text content: ${JSON.stringify(r)}`);
  return first.text;
}

/** The text of an error result (fails the test on a success). */
export function errorText(result: unknown): string {
  const r = result as CallToolResult;
  if (r.isError !== true) throw new Error(`expected a tool error, got ${JSON.stringify(r)}`);
  const [first] = r.content;
  if (first?.type !== 'text') throw new Error(`no text content: ${JSON.stringify(r)}`);
  return first.text;
}

let probes = 0;

/** Messages a plugin posts from its worker (`report('...')` from `probeSource`). */
export interface Probe {
  readonly name: string;
  readonly messages: string[];
  /** Resolves with the first message matching `re` that arrived after the last one matched. */
  next(re: RegExp): Promise<string>;
  close(): void;
}

export function createProbe(label = 'probe'): Probe {
  const name = `molt-test-${label}-${process.pid}-${++probes}`;
  const channel = new BroadcastChannel(name);
  const messages: string[] = [];
  let seen = 0;
  let waiters: { re: RegExp; resolve: (m: string) => void }[] = [];
  const scan = (): void => {
    for (const w of [...waiters]) {
      for (let i = seen; i < messages.length; i++) {
        if (w.re.test(messages[i]!)) {
          seen = i + 1;
          waiters = waiters.filter((x) => x !== w);
          w.resolve(messages[i]!);
          break;
        }
      }
    }
  };
  channel.onmessage = (ev) => {
    messages.push(String((ev as MessageEvent).data));
    scan();
  };
  (channel as unknown as { unref?: () => void }).unref?.();
  return {
    name,
    messages,
    next(re) {
      const p = new Promise<string>((resolve) => waiters.push({ re, resolve }));
      scan();
      return p;
    },
    close() {
      channel.close();
    },
  };
}

/** Source of a `report(msg)` function, to paste into a plugin's entry, posting to `probe`. */
export function probeSource(probe: Probe): string {
  return `
import { BroadcastChannel as __Probe } from 'node:worker_threads';
const __probe = new __Probe(${JSON.stringify(probe.name)});
__probe.unref?.();
const report = (msg) => __probe.postMessage(msg);
`;
}

/**
 * A tool that waits until its call is aborted, reporting `entered` and then
 * `aborted:<reason code or message>` through the probe.
 */
export const waitForAbortTool = `
    wait: {
      description: 'waits until cancelled',
      handler: (_args, ctx) => new Promise((resolve) => {
        ctx.signal.addEventListener('abort', () => {
          const r = ctx.signal.reason;
          report('aborted:' + (r?.code ?? r?.message ?? String(r)));
          resolve('stopped');
        });
        report('entered');
      }),
    },`;
