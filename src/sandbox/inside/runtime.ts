/**
 * Runs inside a sandbox: evaluates one plugin entry and answers the host's requests. It knows
 * nothing of how messages travel; each sandbox kind's entry (worker-main.ts) connects it.
 *
 * The buildId this runtime reports is the sha256 of the entry it evaluated: the proof of which
 * code runs, checked again by the host against the manifest.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, toWireError, type WireError } from '../../errors/errors.js';
import type {
  CallContract,
  Completer,
  CreateMessageParams,
  CreateMessageResult,
  ElicitParams,
  ElicitResult,
  JsonSchema,
  Logger,
  Plugin,
  Prompt,
  Resource,
  Tool,
  ToolContext,
} from '../../plugin/index.js';
import {
  checkSchema,
  compileSchema,
  formatProblems,
  NO_PROBLEMS,
  type SchemaProblem,
  type ValidateFn,
} from '../../schema/json-schema.js';
import { BUDGETS, Budget } from '../budget.js';
import {
  annotationsProblem,
  type CallBatch,
  type ClientAskKind,
  type CompleteArg,
  examplesProblem,
  type HostMessage,
  type LoadArg,
  type LoadedInfo,
  type LogLevel,
  MAX_ERROR_TEXT,
  MAX_TEXT,
  MAX_TITLE,
  MAX_URI,
  type ReplyBatch,
  type SandboxMessage,
  type ServeTarget,
  type ToolInfo,
} from '../protocol.js';
import { matchTemplate, normalizeCompletion, normalizePrompt, normalizeRead } from '../served.js';
import { exceedsBytes } from '../size.js';
import { loadServed, NOTHING_SERVED } from './declarations.js';

type AnyTool = Tool<unknown, unknown, unknown>;

interface LoadedTool {
  tool: AnyTool;
  validate: ValidateFn;
  /** The tool's `outputSchema`, compiled: what its structured result must match. */
  validateOutput: ValidateFn | undefined;
}

type AnyResource = Resource<unknown>;
type AnyPrompt = Prompt<unknown>;

/** An error raised by this runtime, not by plugin code: only these keep a molt code. */
class SandboxError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

/**
 * The host's answer to a `ctx.call` that failed. Frozen, so plugin code that catches one
 * cannot rewrite its code before rethrowing it: rethrown, it keeps the code the host gave.
 */
class HostCallError extends SandboxError {
  constructor(w: WireError) {
    super(w.code, w.message, w.details);
    this.name = 'MoltError';
    Object.freeze(this);
  }
}

function wire(err: unknown): WireError {
  const denied = permissionError(err);
  const w = toWireError(denied ?? err);
  if (denied !== undefined || err instanceof SandboxError) {
    const own = (denied ?? err) as SandboxError;
    w.fromMolt = true;
    w.details = own.details;
  }
  // The host refuses longer texts: a plugin's error text is untrusted.
  if (w.message.length > MAX_ERROR_TEXT) w.message = `${w.message.slice(0, MAX_ERROR_TEXT)}…`;
  if (w.stack !== undefined && w.stack.length > MAX_ERROR_TEXT)
    w.stack = w.stack.slice(0, MAX_ERROR_TEXT);
  if (w.code.length > 256) w.code = ErrorCodes.PLUGIN_ERROR;
  return w;
}

/**
 * Node's permission model throws ERR_ACCESS_DENIED with what was denied: reported as molt's
 * PERMISSION_DENIED, naming it. (A plugin could throw such an error itself; it only fakes a
 * denial of its own call.)
 */
function permissionError(err: unknown): SandboxError | undefined {
  if (!(err instanceof Error) || (err as { code?: unknown }).code !== 'ERR_ACCESS_DENIED')
    return undefined;
  const { permission, resource } = err as { permission?: unknown; resource?: unknown };
  const what = typeof permission === 'string' ? permission : 'access';
  const where = typeof resource === 'string' ? ` ${resource}` : '';
  return new SandboxError(ErrorCodes.PERMISSION_DENIED, `permission denied: ${what}${where}`, {
    permission: what,
    ...(typeof resource === 'string' ? { resource } : {}),
  });
}

async function hashFile(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** A schema the plugin declared that cannot be run: refused with each problem's path. */
function schemaError(
  code: string,
  what: string,
  at: string,
  problems: SchemaProblem[],
): SandboxError {
  const located = problems.map((p) => ({
    path: `${at}${p.path === '/' ? '' : p.path}`,
    message: p.message,
  }));
  return new SandboxError(code, `${what}: ${formatProblems(located)}`, { problems: located });
}

/** Tools without a schema take any object: the cheap check, not a validator per call. */
const anyObject: ValidateFn = (value) =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? NO_PROBLEMS
    : [{ path: '(root)', message: 'must be an object' }];

const cut = (text: string): string =>
  text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;

export interface Runtime {
  onMessage(msg: HostMessage | CallBatch): void;
  /** Output bytes the sandbox's entry dropped over its budget: counted in the drop report. */
  droppedOutput(bytes: number): void;
}

/** `send` posts one message to the host; it throws if the message cannot be cloned. */
export function createRuntime(send: (msg: SandboxMessage | ReplyBatch) => void): Runtime {
  let plugin: Plugin | undefined;
  /** The plugin's `stateSchema`, compiled: every state is checked before it leaves or enters. */
  let validateState: ValidateFn | undefined;
  let tools = new Map<string, LoadedTool>();
  let served = NOTHING_SERVED;
  let config: unknown;
  let dataDir = '';
  let artifactDir = '';
  let maxResultBytes = 16 * 1024 * 1024;
  /** Per in-flight async call: its context, whose AbortController exists once read. */
  const calls = new Map<number, CallContext>();

  /** Synchronous answers of this turn, sent as one message (flat: id, value, id, value…). */
  let replies: ReplyBatch = [];
  const flushReplies = (): void => {
    const box = replies;
    if (box.length === 0) return;
    replies = [];
    try {
      send(box);
    } catch {
      for (let i = 0; i < box.length; i += 2)
        post({ t: 'ok', id: box[i] as number, value: box[i + 1] });
    }
  };
  const reply = (id: number, value: unknown): void => {
    if (replies.length === 0) queueMicrotask(flushReplies);
    replies.push(id, value);
  };

  const post = (msg: SandboxMessage): void => {
    // Batched answers go first, so messages keep the order they were made in.
    if (replies.length > 0) flushReplies();
    try {
      send(msg);
    } catch (err) {
      if (msg.t !== 'ok') throw err;
      send({
        t: 'err',
        id: msg.id,
        error: {
          fromMolt: true,
          code: ErrorCodes.DATA_CLONE,
          message: `result is not structured-cloneable: ${(err as Error).message}`,
        },
      });
    }
  };

  // A flood of logs or progress notes is dropped here, at its source, and counted: the host
  // would otherwise receive (and hold) every one of them.
  const logBudget = new Budget(BUDGETS.logsPerSecond, 2 * BUDGETS.logsPerSecond);
  const progressBudget = new Budget(BUDGETS.progressPerSecond, 2 * BUDGETS.progressPerSecond);
  const updateBudget = new Budget(BUDGETS.updatesPerSecond, 2 * BUDGETS.updatesPerSecond);
  let droppedOutputBytes = 0;
  let dropReport: ReturnType<typeof setTimeout> | undefined;
  const reportDrops = (): void => {
    dropReport = undefined;
    const logs = logBudget.takeDropped();
    const progress = progressBudget.takeDropped();
    const outputBytes = droppedOutputBytes;
    droppedOutputBytes = 0;
    const updates = updateBudget.takeDropped();
    if (updates > 0)
      post({
        t: 'log',
        level: 'warn',
        msg: `dropped ${updates} resourceUpdated note(s) over the budget`,
      });
    if (logs + progress + outputBytes === 0) return;
    post({
      t: 'log',
      level: 'warn',
      msg: `dropped ${logs} log line(s), ${progress} progress note(s) and ${outputBytes} output byte(s) over the budget`,
      dropped: { logs, progress, outputBytes },
    });
  };
  const dropped = (): void => {
    if (dropReport !== undefined) return;
    dropReport = setTimeout(reportDrops, 1_000);
    dropReport.unref?.();
  };

  /** `on`: the call whose handler logs, so the host can give the line to that call's client. */
  const at =
    (level: LogLevel, on?: number) =>
    (msg: string, data?: unknown): void => {
      if (!logBudget.take(performance.now())) {
        dropped();
        return;
      }
      const text = cut(String(msg));
      const kept =
        data !== undefined && exceedsBytes(data, BUDGETS.logDataBytes)
          ? `[log data over ${BUDGETS.logDataBytes} bytes left out]`
          : data;
      post({ t: 'log', level, msg: text, data: kept, on });
    };
  const loggerFor = (on?: number): Logger => ({
    debug: at('debug', on),
    info: at('info', on),
    warn: at('warn', on),
    error: at('error', on),
  });
  const log = loggerFor();

  /** `ctx.call`s waiting for the host's answer, by this sandbox's ask id. */
  const asks = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  let nextAsk = 1;

  type AskBody =
    | { kind?: undefined; contract: string; tool: string; args: unknown }
    | { kind: ClientAskKind; params: unknown };

  /** One request to the host for the call or op `on`, answered once; `signal` gives it up. */
  function askHost(on: number, body: AskBody, signal: AbortSignal | undefined): Promise<never> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const id = nextAsk++;
      const onAbort = (): void => {
        if (!asks.delete(id)) return;
        post({ t: 'askCancel', id });
        reject(signal!.reason);
      };
      asks.set(id, {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v as never);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        post({ t: 'ask', id, on, ...body } as SandboxMessage);
      } catch (err) {
        asks.delete(id);
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      }
    });
  }

  /** `ctx.call` for the call or op `on`: the host routes it and answers once. */
  function callFor(on: number): CallContract {
    return (contract, tool, args = {}, options = {}) =>
      askHost(on, { contract: String(contract), tool: String(tool), args }, options.signal);
  }

  function onAnswers(batch: unknown[]): void {
    for (let i = 0; i + 2 < batch.length; i += 3) {
      const ask = asks.get(batch[i] as number);
      if (ask === undefined) continue;
      asks.delete(batch[i] as number);
      if (batch[i + 1] === true) ask.resolve(batch[i + 2]);
      else ask.reject(new HostCallError(batch[i + 2] as WireError));
    }
  }

  class CallContext implements ToolContext {
    #controller: AbortController | undefined;
    #abortReason: Error | undefined;
    readonly #id: number;
    #log: Logger | undefined;
    #call: CallContract | undefined;

    constructor(id: number) {
      this.#id = id;
    }
    /** Its own logger, made when first read: a line names this call, so its client gets it. */
    get log(): Logger {
      this.#log ??= loggerFor(this.#id);
      return this.#log;
    }
    sample(params: CreateMessageParams): Promise<CreateMessageResult> {
      return askHost(this.#id, { kind: 'sample', params }, undefined);
    }
    elicit(params: ElicitParams): Promise<ElicitResult> {
      return askHost(this.#id, { kind: 'elicit', params }, undefined);
    }
    get call(): CallContract {
      this.#call ??= callFor(this.#id);
      return this.#call;
    }
    get config(): unknown {
      return config;
    }
    get dataDir(): string {
      return dataDir;
    }
    get signal(): AbortSignal {
      if (this.#controller === undefined) {
        this.#controller = new AbortController();
        if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
      }
      return this.#controller.signal;
    }
    abort(w: WireError): void {
      // An Error with the host's code, so a handler that rethrows `signal.reason` reports it.
      const reason = Object.assign(new Error(w.message), { name: 'AbortError', code: w.code });
      this.#abortReason = reason;
      this.#controller?.abort(reason);
    }
    resourceUpdated(uri: string): void {
      if (typeof uri !== 'string' || uri.length === 0 || uri.length > MAX_URI)
        throw new SandboxError(
          ErrorCodes.RESOURCE_INVALID,
          `resourceUpdated() needs a URI of 1 to ${MAX_URI} characters`,
        );
      if (!updateBudget.take(performance.now())) {
        dropped();
        return;
      }
      post({ t: 'updated', uri });
    }
    progress(done: number, total?: number, message?: string): void {
      if (!progressBudget.take(performance.now())) {
        dropped();
        return;
      }
      post({
        t: 'progress',
        id: this.#id,
        done: Number(done),
        total: total === undefined ? undefined : Number(total),
        message: message === undefined ? undefined : cut(String(message)),
      });
    }
  }

  function usableSchema(schema: unknown, name: string, field: string): ValidateFn {
    const problems = checkSchema(schema);
    if (problems.length > 0) {
      throw schemaError(
        ErrorCodes.TOOL_SCHEMA_INVALID,
        `tool "${name}" has an ${field} that cannot be used`,
        `/tools/${name}/${field}`,
        problems,
      );
    }
    return compileSchema(schema as Record<string, unknown>);
  }

  /** An example that its own schema refuses is the author's mistake: caught at load, not in CI. */
  function checkedExamples(name: string, examples: unknown, validate: ValidateFn): unknown[] {
    const problem = examplesProblem(examples);
    if (problem !== undefined)
      throw new SandboxError(ErrorCodes.TOOL_SCHEMA_INVALID, `tool "${name}": examples ${problem}`);
    const list = structuredClone(examples as unknown[]);
    list.forEach((args, i) => {
      const problems = validate(args);
      if (problems.length > 0)
        throw schemaError(
          ErrorCodes.TOOL_SCHEMA_INVALID,
          `tool "${name}": example ${i} does not match its inputSchema`,
          `/tools/${name}/examples/${i}`,
          [...problems],
        );
    });
    return list;
  }

  function loadTool(name: string, tool: AnyTool): [ToolInfo, LoadedTool] {
    const declared = tool.inputSchema;
    const inputSchema: JsonSchema = declared ?? { type: 'object' };
    const validate =
      declared === undefined ? anyObject : usableSchema(declared, name, 'inputSchema');
    const info: ToolInfo = { name, description: tool.description ?? '', inputSchema };
    let validateOutput: ValidateFn | undefined;
    if (tool.outputSchema !== undefined) {
      validateOutput = usableSchema(tool.outputSchema, name, 'outputSchema');
      info.outputSchema = tool.outputSchema;
    }
    // Only what MCP defines is listed; the host checks the shapes again (plugin code shares
    // this sandbox and could have changed them).
    if (tool.title !== undefined) {
      if (typeof tool.title !== 'string' || tool.title.length > MAX_TITLE)
        throw new SandboxError(
          ErrorCodes.TOOL_SCHEMA_INVALID,
          `tool "${name}": a title must be a string of at most ${MAX_TITLE} characters`,
        );
      info.title = tool.title;
    }
    if (tool.annotations !== undefined) {
      const problem = annotationsProblem(tool.annotations);
      if (problem !== undefined)
        throw new SandboxError(
          ErrorCodes.TOOL_SCHEMA_INVALID,
          `tool "${name}": annotations ${problem}`,
        );
      info.annotations = { ...tool.annotations };
    }
    if (tool.examples !== undefined) info.examples = checkedExamples(name, tool.examples, validate);
    return [info, { tool, validate, validateOutput }];
  }

  async function load(arg: LoadArg): Promise<LoadedInfo> {
    // Validate before any plugin code runs: the bytes are the manifest's, the config fits.
    const buildId = await hashFile(arg.entryPath);
    if (buildId !== arg.buildId) {
      throw new SandboxError(
        ErrorCodes.BUILD_MISMATCH,
        `${arg.name}: the entry's sha256 is ${buildId.slice(0, 12)}…, the manifest's buildId is ${arg.buildId.slice(0, 12)}…; not evaluated`,
        { expected: arg.buildId, actual: buildId },
      );
    }
    if (arg.configSchema !== undefined) {
      const problems = checkSchema(arg.configSchema);
      if (problems.length > 0) {
        throw schemaError(
          ErrorCodes.MANIFEST_INVALID,
          `${arg.name}: configSchema cannot be used`,
          '/configSchema',
          problems,
        );
      }
      const bad = compileSchema(arg.configSchema)(arg.config);
      if (bad.length > 0) {
        throw schemaError(
          ErrorCodes.MANIFEST_INVALID,
          `${arg.name}: config does not match configSchema`,
          '/config',
          bad.map((p) => ({ ...p, path: p.path === '(root)' ? '' : p.path })),
        );
      }
    }
    const url = pathToFileURL(arg.entryPath);
    url.searchParams.set('build', buildId.slice(0, 12));
    const mod = (await import(url.href)) as { default?: unknown };
    // The store never rewrites a file; a folder given to host.load() might. Refuse if it did.
    const after = await hashFile(arg.entryPath);
    if (after !== buildId) {
      throw new SandboxError(
        ErrorCodes.BUILD_MISMATCH,
        `${arg.entryPath} changed while it was being loaded`,
        { expected: buildId, actual: after },
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
    const next = new Map<string, LoadedTool>();
    const infos: ToolInfo[] = [];
    for (const [name, tool] of Object.entries(toolTable)) {
      if (typeof tool?.handler !== 'function') {
        throw new SandboxError(
          ErrorCodes.LOAD_FAILED,
          `${arg.entryPath}: tool "${name}" has no handler function`,
        );
      }
      const [info, loaded] = loadTool(name, tool as AnyTool);
      infos.push(info);
      next.set(name, loaded);
    }
    const stateSchema = (p as { stateSchema?: unknown }).stateSchema;
    let stateCheck: ValidateFn | undefined;
    if (stateSchema !== undefined) {
      const problems =
        typeof stateSchema === 'object' && stateSchema !== null && !Array.isArray(stateSchema)
          ? checkSchema(stateSchema as JsonSchema)
          : [{ path: '/', message: 'must be a JSON Schema object' }];
      if (problems.length > 0) {
        throw schemaError(
          ErrorCodes.LOAD_FAILED,
          `${arg.name}: stateSchema cannot be used`,
          '/stateSchema',
          problems,
        );
      }
      stateCheck = compileSchema(stateSchema as Record<string, unknown>);
    }
    const {
      next: nextServed,
      resources,
      resourceTemplates,
      prompts,
    } = loadServed(p, (code, message) => new SandboxError(code, message));
    plugin = p;
    served = nextServed;
    validateState = stateCheck;
    tools = next;
    config = arg.config;
    dataDir = arg.dataDir;
    artifactDir = arg.artifactDir;
    maxResultBytes = arg.maxResultBytes;
    return {
      buildId,
      tools: infos,
      resources,
      resourceTemplates,
      prompts,
      stateful: typeof p.snapshot === 'function' && typeof p.restore === 'function',
      stateVersion: typeof p.stateVersion === 'number' ? p.stateVersion : 1,
      hasHealth: typeof p.health === 'function',
    };
  }

  async function runOp(op: string, arg: unknown, id: number): Promise<unknown> {
    switch (op) {
      case 'ping':
        return true;
      case 'load':
        return load(arg as LoadArg);
    }
    const p = plugin;
    if (p === undefined) throw new SandboxError(ErrorCodes.LOAD_FAILED, `"${op}" before "load"`);
    switch (op) {
      case 'init': {
        await p.init?.({ log, config, artifactDir, dataDir, call: callFor(id) });
        return undefined;
      }
      case 'health':
        return p.health?.();
      case 'snapshot':
        return checkState(await p.snapshot?.(), 'snapshot()');
      case 'migrate': {
        const { fromVersion, state } = arg as { fromVersion: number; state: unknown };
        if (typeof p.migrate !== 'function') {
          throw new Error(
            `state version changed from ${fromVersion} to ${p.stateVersion ?? 1} but the plugin has no migrate()`,
          );
        }
        return checkState(await p.migrate(fromVersion, state), `migrate(${fromVersion})`);
      }
      case 'downgrade': {
        // Checked by the older generation's restore: only it knows the older shape.
        const { toVersion, state } = arg as { toVersion: number; state: unknown };
        const down = (p as { downgrade?: (v: number, s: unknown) => unknown }).downgrade;
        if (typeof down !== 'function') {
          throw new Error(
            `state version goes back from ${p.stateVersion ?? 1} to ${toVersion} but the plugin has no downgrade()`,
          );
        }
        return down.call(p, toVersion, state);
      }
      case 'restore':
        return p.restore?.(checkState(arg, 'the state to restore') as never);
      case 'drain':
        return p.drain?.();
      default:
        throw new SandboxError(ErrorCodes.LOAD_FAILED, `unknown op "${op}"`);
    }
  }

  /** `state`, if it matches the plugin's `stateSchema`; STATE_INVALID listing each problem. */
  function checkState(state: unknown, where: string): unknown {
    const problems = validateState?.(state) ?? NO_PROBLEMS;
    if (problems.length === 0) return state;
    throw new SandboxError(
      ErrorCodes.STATE_INVALID,
      `${where}: the state does not match stateSchema: ${formatProblems(problems)}`,
      { problems: problems.map((p) => `${p.path} ${p.message}`) },
    );
  }

  /** A result over `limits.maxResultMb` never leaves the sandbox. */
  function tooLarge(value: unknown): SandboxError | undefined {
    let over: boolean;
    try {
      over = exceedsBytes(value, maxResultBytes);
    } catch {
      // A getter that throws: cloning the result will fail too, with its own error.
      return undefined;
    }
    if (!over) return undefined;
    return new SandboxError(
      ErrorCodes.RESULT_TOO_LARGE,
      `the result is larger than ${maxResultBytes / (1024 * 1024)} MB (limits.maxResultMb)`,
      { limitBytes: maxResultBytes },
    );
  }

  /**
   * A tool with an `outputSchema` must answer with structured content that matches it: a plain
   * object, or a full MCP result's `structuredContent`.
   */
  function badOutput(
    toolName: string,
    check: ValidateFn,
    value: unknown,
  ): SandboxError | undefined {
    const structured =
      typeof value === 'object' &&
      value !== null &&
      Array.isArray((value as { content?: unknown }).content)
        ? (value as { structuredContent?: unknown }).structuredContent
        : value;
    const problems =
      typeof structured === 'object' && structured !== null && !Array.isArray(structured)
        ? check(structured)
        : [{ path: '(root)', message: 'must be an object (the tool declares an outputSchema)' }];
    if (problems.length === 0) return undefined;
    return new SandboxError(
      ErrorCodes.INVALID_OUTPUT,
      `the result of ${toolName} does not match its outputSchema: ${formatProblems(problems)}`,
      { problems: problems.map((p) => `${p.path} ${p.message}`) },
    );
  }

  /** Why a tool's result may not leave the sandbox, or undefined when it may. */
  function refusal(toolName: string, loaded: LoadedTool, value: unknown): SandboxError | undefined {
    return (
      tooLarge(value) ??
      (loaded.validateOutput === undefined
        ? undefined
        : badOutput(toolName, loaded.validateOutput, value))
    );
  }

  function settle(
    id: number,
    work: Promise<unknown>,
    tool?: { name: string; loaded: LoadedTool },
  ): void {
    work.then(
      (value) => {
        calls.delete(id);
        const refused = tool === undefined ? undefined : refusal(tool.name, tool.loaded, value);
        if (refused !== undefined) post({ t: 'err', id, error: wire(refused) });
        else post({ t: 'ok', id, value });
      },
      (err: unknown) => {
        calls.delete(id);
        post({ t: 'err', id, error: wire(err) });
      },
    );
  }

  /** A string-valued record (prompt arguments, completion context), else undefined. */
  function strings(value: unknown): Record<string, string> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    for (const v of Object.values(value)) if (typeof v !== 'string') return undefined;
    return value as Record<string, string>;
  }

  /** The resource `uri` names: a static one, else the first template that matches it. */
  function findResource(uri: string): [AnyResource, Record<string, string>] {
    const fixed = served.resources.get(uri);
    if (fixed !== undefined) return [fixed, {}];
    for (const t of served.templates) {
      const vars = matchTemplate(t.template, uri);
      if (vars !== undefined) return [t.resource, vars];
    }
    throw new SandboxError(ErrorCodes.UNKNOWN_RESOURCE, `no resource "${uri.slice(0, 256)}"`, {
      uri: uri.slice(0, MAX_URI),
    });
  }

  function findPrompt(name: string): AnyPrompt {
    const prompt = served.prompts.get(name);
    if (prompt === undefined)
      throw new SandboxError(ErrorCodes.UNKNOWN_PROMPT, `no prompt "${name.slice(0, 128)}"`);
    return prompt;
  }

  /** A prompt's arguments: strings, the required ones present (checked before `get` runs). */
  function promptArgs(name: string, prompt: AnyPrompt, args: unknown): Record<string, string> {
    const given = args === undefined ? {} : strings(args);
    if (given === undefined)
      throw new SandboxError(
        ErrorCodes.INVALID_INPUT,
        `invalid arguments for prompt ${name}: every argument must be a string`,
        { problems: ['(root) every argument must be a string'] },
      );
    const missing = (prompt.arguments ?? [])
      .filter((a) => a.required === true && given[a.name] === undefined)
      .map((a) => a.name);
    if (missing.length > 0)
      throw new SandboxError(
        ErrorCodes.INVALID_INPUT,
        `invalid arguments for prompt ${name}: missing ${missing.join(', ')}`,
        { problems: missing.map((m) => `/${m} is required`) },
      );
    return given;
  }

  /**
   * A call of another kind than a tool (a resource read, a prompt, a completion): the same
   * context, cancellation and size bound, its answer normalized to MCP's shape here.
   */
  function onServe(id: number, target: ServeTarget, args: unknown): void {
    const ctx = new CallContext(id);
    let out: unknown;
    let finish: (value: unknown) => unknown;
    try {
      const [kind, key] = target;
      switch (kind) {
        case 'read': {
          const [resource, vars] = findResource(key);
          finish = (v) => normalizeRead(v, key, resource.mimeType);
          out = resource.read(key, ctx, vars);
          break;
        }
        case 'prompt': {
          const prompt = findPrompt(key);
          finish = normalizePrompt;
          out = prompt.get(promptArgs(key, prompt, args), ctx);
          break;
        }
        case 'completePrompt':
        case 'completeTemplate': {
          const a = args as CompleteArg;
          let complete: Record<string, Completer<unknown>> | undefined;
          if (kind === 'completePrompt') complete = findPrompt(key).complete;
          else {
            const t = served.templates.find((x) => x.uriTemplate === key);
            if (t === undefined)
              throw new SandboxError(
                ErrorCodes.UNKNOWN_RESOURCE,
                `no template "${key.slice(0, 256)}"`,
              );
            complete = t.resource.complete;
          }
          const completer = Object.hasOwn(complete ?? {}, a.name) ? complete?.[a.name] : undefined;
          finish = normalizeCompletion;
          out = completer === undefined ? [] : completer(a.value, ctx, a.context);
          break;
        }
        default:
          throw new SandboxError(ErrorCodes.PROTOCOL_ERROR, `unknown call kind "${String(kind)}"`);
      }
    } catch (err) {
      post({ t: 'err', id, error: wire(err) });
      return;
    }
    calls.set(id, ctx);
    Promise.resolve(out).then(
      (value) => {
        calls.delete(id);
        const answer = finish(value);
        const refused =
          typeof answer === 'string'
            ? new SandboxError(ErrorCodes.INVALID_OUTPUT, answer)
            : tooLarge(answer);
        if (refused !== undefined) post({ t: 'err', id, error: wire(refused) });
        else post({ t: 'ok', id, value: answer });
      },
      (err: unknown) => {
        calls.delete(id);
        post({ t: 'err', id, error: wire(err) });
      },
    );
  }

  function onCall(id: number, toolName: string, args: unknown): void {
    const loaded = tools.get(toolName);
    if (loaded === undefined) {
      // Only now, past the tool lookup: a call of another kind carries a [kind, key] pair.
      if (Array.isArray(toolName)) {
        onServe(id, toolName as unknown as ServeTarget, args);
        return;
      }
      post({
        t: 'err',
        id,
        error: wire(new SandboxError(ErrorCodes.UNKNOWN_TOOL, `unknown tool "${toolName}"`)),
      });
      return;
    }
    let out: unknown;
    const ctx = new CallContext(id);
    try {
      // Input is checked here, in the plugin's own sandbox: a schema's cost (a backtracking
      // pattern, say) is bounded by the call's deadline and paid by this plugin only.
      const problems = loaded.validate(args);
      if (problems.length > 0) {
        throw new SandboxError(
          ErrorCodes.INVALID_INPUT,
          `invalid arguments for ${toolName}: ${formatProblems(problems)}`,
          { problems: problems.map((p) => `${p.path} ${p.message}`) },
        );
      }
      out = loaded.tool.handler(args, ctx);
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
      settle(id, Promise.resolve(out), { name: toolName, loaded });
    } else if (
      typeof out === 'object' ||
      typeof out === 'string' ||
      loaded.validateOutput !== undefined
    ) {
      const refused = refusal(toolName, loaded, out);
      if (refused === undefined) reply(id, out);
      else post({ t: 'err', id, error: wire(refused) });
    } else {
      reply(id, out);
    }
  }

  return {
    droppedOutput(bytes) {
      droppedOutputBytes += bytes;
      dropped();
    },
    onMessage(msg) {
      if (Array.isArray(msg)) {
        for (let i = 0; i < msg.length; i += 3)
          onCall(msg[i] as number, msg[i + 1] as string, msg[i + 2]);
        return;
      }
      switch (msg.t) {
        case 'op':
          settle(msg.id, runOp(msg.op, msg.arg, msg.id));
          return;
        case 'cancel':
          calls.get(msg.id)?.abort(msg.reason);
          return;
        case 'answers':
          onAnswers(msg.batch);
          return;
        default: {
          const unreachable: never = msg;
          throw new Error(`unknown message ${JSON.stringify(unreachable)}`);
        }
      }
    },
  };
}
