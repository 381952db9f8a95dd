/**
 * Runs inside a sandbox worker: evaluates one plugin entry and answers the host's requests.
 *
 * The buildId this worker reports is the sha256 of the entry it evaluated: the proof of which
 * code runs, checked by the host against the manifest.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parentPort } from 'node:worker_threads';
import { ErrorCodes, toWireError, type WireError } from '../errors/errors.js';
import type { JsonSchema, Logger, Plugin, Tool, ToolContext } from '../plugin/index.js';
import type {
  CallBatch,
  HostMessage,
  LoadArg,
  LoadedInfo,
  ReplyBatch,
  SandboxMessage,
  ToolInfo,
} from './protocol.js';

const port = parentPort;
if (port === null) throw new Error('molt sandbox entry must run in a worker thread');

type AnyTool = Tool<unknown, unknown, unknown>;

/** An error raised by this runtime, not by plugin code: only these keep a molt code. */
class SandboxError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

function wire(err: unknown): WireError {
  const w = toWireError(err);
  if (err instanceof SandboxError) w.fromMolt = true;
  return w;
}

let plugin: Plugin | undefined;
let tools = new Map<string, AnyTool>();
let config: unknown;
/** Per in-flight call: its AbortController, created only when a handler reads `ctx.signal`. */
const calls = new Map<number, CallContext>();

/** Synchronous answers of this turn, sent as one message (flat: id, value, id, value…). */
let replies: ReplyBatch = [];
function flushReplies(): void {
  const box = replies;
  if (box.length === 0) return;
  replies = [];
  try {
    port!.postMessage(box);
  } catch {
    for (let i = 0; i < box.length; i += 2)
      post({ t: 'ok', id: box[i] as number, value: box[i + 1] });
  }
}
function reply(id: number, value: unknown): void {
  if (replies.length === 0) queueMicrotask(flushReplies);
  replies.push(id, value);
}

function post(msg: SandboxMessage): void {
  // Batched answers go first, so messages keep the order they were made in.
  if (replies.length > 0) flushReplies();
  try {
    port!.postMessage(msg);
  } catch (err) {
    if (msg.t === 'ok') {
      const error: WireError = {
        fromMolt: true,
        code: ErrorCodes.DATA_CLONE,
        message: `result is not structured-cloneable: ${(err as Error).message}`,
      };
      port!.postMessage({ t: 'err', id: msg.id, error } satisfies SandboxMessage);
    } else {
      throw err;
    }
  }
}

function makeLogger(): Logger {
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (msg: string, data?: unknown): void => {
      post({ t: 'log', level, msg: String(msg), data });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
const log = makeLogger();

class CallContext implements ToolContext {
  #controller: AbortController | undefined;
  #abortReason: Error | undefined;
  readonly #id: number;
  readonly log = log;

  constructor(id: number) {
    this.#id = id;
  }
  get config(): unknown {
    return config;
  }
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }
  abort(wire: WireError): void {
    // An Error with the host's code, so a handler that rethrows `signal.reason` reports it.
    const reason = Object.assign(new Error(wire.message), { name: 'AbortError', code: wire.code });
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }
  progress(done: number, total?: number, message?: string): void {
    post({ t: 'progress', id: this.#id, done, total, message });
  }
}

function describeTool(name: string, tool: AnyTool): ToolInfo {
  const inputSchema: JsonSchema = tool.inputSchema ?? { type: 'object' };
  return { name, description: tool.description ?? '', inputSchema };
}

async function hashFile(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

async function load(arg: LoadArg): Promise<LoadedInfo> {
  // Hash, evaluate, hash again: the reported buildId is that of the bytes evaluated unless the
  // file changed during the import, which is refused. (The store never rewrites a file.)
  const buildId = await hashFile(arg.entryPath);
  const url = pathToFileURL(arg.entryPath);
  url.searchParams.set('build', buildId.slice(0, 12));
  const mod = (await import(url.href)) as { default?: unknown };
  if ((await hashFile(arg.entryPath)) !== buildId) {
    throw new SandboxError(
      ErrorCodes.BUILD_MISMATCH,
      `${arg.entryPath} changed while it was being loaded`,
    );
  }
  const candidate = mod.default;
  if (typeof candidate !== 'object' || candidate === null) {
    throw new SandboxError(
      ErrorCodes.LOAD_FAILED,
      `${arg.entryPath}: the default export must be a plugin object`,
    );
  }
  const p = candidate as Plugin;
  const toolTable = p.tools;
  if (typeof toolTable !== 'object' || toolTable === null) {
    throw new SandboxError(
      ErrorCodes.LOAD_FAILED,
      `${arg.entryPath}: the plugin has no "tools" object`,
    );
  }
  const next = new Map<string, AnyTool>();
  for (const [name, tool] of Object.entries(toolTable)) {
    if (typeof tool?.handler !== 'function') {
      throw new SandboxError(
        ErrorCodes.LOAD_FAILED,
        `${arg.entryPath}: tool "${name}" has no handler function`,
      );
    }
    next.set(name, tool as AnyTool);
  }
  plugin = p;
  tools = next;
  const stateful = typeof p.snapshot === 'function' && typeof p.restore === 'function';
  return {
    buildId,
    tools: [...next].map(([name, tool]) => describeTool(name, tool)),
    stateful,
    stateVersion: typeof p.stateVersion === 'number' ? p.stateVersion : 1,
    hasHealth: typeof p.health === 'function',
  };
}

async function runOp(op: string, arg: unknown): Promise<unknown> {
  switch (op) {
    case 'ping':
      return true;
    case 'load':
      return load(arg as LoadArg);
  }
  const p = plugin;
  if (p === undefined) throw new Error(`"${op}" before "load"`);
  switch (op) {
    case 'init': {
      const { config: c, artifactDir } = arg as { config: unknown; artifactDir: string };
      config = c;
      await p.init?.({ log, config, artifactDir });
      return undefined;
    }
    case 'health':
      return p.health?.();
    case 'snapshot':
      return p.snapshot?.();
    case 'migrate': {
      const { fromVersion, state } = arg as { fromVersion: number; state: unknown };
      if (typeof p.migrate !== 'function') {
        throw new Error(
          `state version changed from ${fromVersion} to ${p.stateVersion ?? 1} but the plugin has no migrate()`,
        );
      }
      return p.migrate(fromVersion, state);
    }
    case 'restore':
      return p.restore?.(arg as never);
    case 'drain':
      return p.drain?.();
    default:
      throw new Error(`unknown op "${op}"`);
  }
}

function settle(id: number, work: Promise<unknown>): void {
  work.then(
    (value) => {
      calls.delete(id);
      post({ t: 'ok', id, value });
    },
    (err: unknown) => {
      calls.delete(id);
      post({ t: 'err', id, error: wire(err) });
    },
  );
}

function onCall(id: number, toolName: string, args: unknown): void {
  const tool = tools.get(toolName);
  if (tool === undefined) {
    post({
      t: 'err',
      id,
      error: {
        fromMolt: true,
        code: ErrorCodes.UNKNOWN_TOOL,
        message: `unknown tool "${toolName}"`,
      },
    });
    return;
  }
  const ctx = new CallContext(id);
  let out: unknown;
  try {
    out = tool.handler(args, ctx);
  } catch (err) {
    post({ t: 'err', id, error: wire(err) });
    return;
  }
  // A synchronous handler answers without a promise allocation or an extra tick.
  if (
    out instanceof Promise ||
    (typeof out === 'object' &&
      out !== null &&
      typeof (out as PromiseLike<unknown>).then === 'function')
  ) {
    calls.set(id, ctx);
    settle(id, Promise.resolve(out));
  } else {
    reply(id, out);
  }
}

port.on('message', (msg: HostMessage | CallBatch) => {
  if (Array.isArray(msg)) {
    for (let i = 0; i < msg.length; i += 3)
      onCall(msg[i] as number, msg[i + 1] as string, msg[i + 2]);
    return;
  }
  switch (msg.t) {
    case 'call':
      onCall(msg.id, msg.tool, msg.args);
      return;
    case 'op':
      settle(msg.id, runOp(msg.op, msg.arg));
      return;
    case 'cancel':
      calls.get(msg.id)?.abort(msg.reason);
      return;
    default: {
      const unreachable: never = msg;
      throw new Error(`unknown message ${JSON.stringify(unreachable)}`);
    }
  }
});
