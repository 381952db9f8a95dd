/**
 * The public face: a thin `Host` over a map of slots. No host-wide lock exists: each slot
 * serializes its own transitions, so one plugin's reload never waits on another's.
 */
import { mkdtempSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { debuglog } from 'node:util';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { type AnyListener, EventBus, type Listener } from '../events/bus.js';
import type { ArtifactRef, HostEvents, SlotState } from '../events/events.js';
import {
  checkExpected,
  type ExpectedArtifact,
  type Manifest,
  readArtifact,
} from '../manifest/manifest.js';
import type { Isolation } from '../sandbox/permissions.js';
import { defaultSandboxFactory, SandboxPool } from '../sandbox/pool.js';
import {
  MAX_COMPLETION_TEXT,
  MAX_URI,
  type PromptInfo,
  type ResourceInfo,
  type ResourceTemplateInfo,
  type ToolInfo,
} from '../sandbox/protocol.js';
import type { CallOptions } from '../sandbox/sandbox.js';
import {
  type CompletionAnswer,
  completionAnswerProblem,
  type PromptAnswer,
  promptAnswerProblem,
  type ReadAnswer,
  readAnswerProblem,
} from '../sandbox/served.js';
import { CheckpointFiles } from './checkpoints.js';
import { type HostOptions, type ResolvedOptions, resolveOptions, sandboxSpec } from './options.js';
import { type LoadResult, probe, type RuntimeDeps, type SlotStats } from './reload.js';
import { type RollbackOptions, Slot, type SlotLoadOptions } from './slot.js';

const debug = debuglog('molt');

export interface PluginInfo {
  name: string;
  version: string;
  buildId: string;
  state: SlotState;
  generation: number;
  inFlight: number;
  tools: ToolInfo[];
  /** Resources at fixed URIs, templates of URIs, and prompts, as the plugin declared them. */
  resources: ResourceInfo[];
  resourceTemplates: ResourceTemplateInfo[];
  prompts: PromptInfo[];
  /** The sandbox kind the active generation runs in. */
  isolation: Isolation;
  /** The plugin's own data folder (`ctx.dataDir`). */
  dataDir: string;
  /** What a crash restarts from (and a deployment's restart comes back to). */
  knownGood: ArtifactRef | undefined;
  stats: SlotStats;
}

export interface InspectResult {
  name: string;
  version: string;
  buildId: string;
  tools: ToolInfo[];
  manifest: Manifest;
}

export interface ReloadOptions {
  /**
   * The artifact `dir` must hold (name, version, buildId), e.g. the one a catalog recorded when
   * the store accepted it: a folder rewritten since is refused with BUILD_MISMATCH before any
   * sandbox starts.
   */
  expect?: ExpectedArtifact;
}

/** What a completion completes: a prompt's argument, or a URI template's variable. */
export type CompletionRef =
  | { type: 'ref/prompt'; name: string }
  | { type: 'ref/resource'; uri: string };

export interface CompletionArgument {
  name: string;
  value: string;
  /** The arguments already filled in (MCP's `context.arguments`). */
  context?: Record<string, string>;
}

/** A plugin's answer of another kind than a tool's, checked on the host: plugin code shares the
 * sandbox with the runtime that built it. */
function checked<T>(name: string, problem: (v: unknown) => string | undefined) {
  return (value: unknown): T => {
    const p = problem(value);
    if (p !== undefined)
      throw new MoltError(
        ErrorCodes.INVALID_OUTPUT,
        `plugin "${name}" answered out of shape: ${p}`,
      );
    return value as T;
  };
}

function invalid(message: string): MoltError {
  return new MoltError(ErrorCodes.INVALID_INPUT, message, { details: { problems: [message] } });
}

export class Host {
  readonly #options: ResolvedOptions;
  readonly #bus: EventBus<HostEvents>;
  readonly #pool: SandboxPool;
  readonly #slots = new Map<string, Slot>();
  readonly #deps: RuntimeDeps;
  /** Holds each plugin's data folder; a temporary one (removed at close) without `dataDir`. */
  readonly #dataRoot: string;
  readonly #tempData: boolean;
  #closing: Promise<void> | undefined;

  constructor(options: HostOptions = {}) {
    this.#options = resolveOptions(options);
    this.#bus = new EventBus<HostEvents>((err, event) =>
      debug('listener of %s threw: %o', event, err),
    );
    const clock = this.#options.clock;
    this.#pool = new SandboxPool(
      this.#options.sandboxFactory ?? defaultSandboxFactory,
      this.#options.standby,
    );
    this.#tempData = this.#options.dataDir === undefined;
    this.#dataRoot =
      this.#options.dataDir === undefined
        ? mkdtempSync(join(tmpdir(), 'molt-data-'))
        : resolve(this.#options.dataDir);
    // A process sandbox's grants name its plugin's data folder, so only a worker one can be
    // started before any plugin is known.
    if (this.#options.isolation === 'worker') {
      this.#pool.warm(sandboxSpec(undefined, this.#options, this.#dataRoot));
    }
    this.#deps = {
      pool: this.#pool,
      bus: this.#bus,
      options: this.#options,
      clock,
      checkpoints:
        this.#options.dataDir === undefined ? undefined : new CheckpointFiles(this.#dataRoot),
      dataDirOf: async (name) => {
        const dir = this.#dataDirOf(name);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        return dir;
      },
    };
  }

  /** Loads the artifact in `dir` (a folder holding molt.json and its entry) as a new plugin. */
  async load(dir: string, options: SlotLoadOptions = {}): Promise<LoadResult> {
    this.#assertOpen();
    const artifact = await readArtifact(dir);
    // close() may have run while the manifest was read: nothing may start after it.
    this.#assertOpen();
    const name = artifact.manifest.name;
    // A manifest that now names another plugin must not even open a slot under that name.
    if (options.expect !== undefined && name !== options.expect.name) {
      checkExpected(artifact, options.expect);
    }
    if (this.#slots.has(name)) {
      throw new MoltError(
        ErrorCodes.ALREADY_LOADED,
        `plugin "${name}" is already loaded; use reload()`,
        { details: { plugin: name } },
      );
    }
    const slot = new Slot(name, this.#deps);
    this.#slots.set(name, slot);
    try {
      return await slot.load(artifact, options);
    } catch (err) {
      if (this.#slots.get(name) === slot) this.#slots.delete(name);
      await slot.close(this.#closing === undefined ? 'unload' : 'host');
      throw err;
    }
  }

  /**
   * The load's checks on the artifact in `dir`, without making it a plugin: its manifest and
   * host API, `expect`, its entry evaluated in a sandbox (bytes against buildId, config, tool
   * schemas); no init runs and the sandbox then ends. Resolves to what it would serve.
   */
  async inspect(dir: string, options: ReloadOptions = {}): Promise<InspectResult> {
    this.#assertOpen();
    const { artifact, info } = await probe(this.#deps, dir, options.expect);
    const { manifest } = artifact;
    const { name, version, buildId } = manifest;
    return { name, version, buildId, tools: info.tools, manifest };
  }

  /** Resolves after the swap; rejects with a typed error and leaves the old version serving. */
  async reload(name: string, dir: string, options: ReloadOptions = {}): Promise<LoadResult> {
    return this.#slot(name).reload(dir, options.expect);
  }

  async rollback(name: string, options: RollbackOptions = {}): Promise<LoadResult> {
    return this.#slot(name).rollback(options);
  }

  async unload(name: string): Promise<void> {
    const slot = this.#slot(name);
    this.#slots.delete(name);
    this.#bus.emit('plugin.unloaded', { name });
    await slot.close('unload');
    const dataDir = this.#dataDirOf(name);
    this.#pool.discard((spec) => spec.isolation === 'process' && spec.dataDir === dataDir);
  }

  call(name: string, tool: string, args: unknown = {}, options?: CallOptions): Promise<unknown> {
    const slot = this.#slots.get(name);
    if (slot === undefined) return Promise.reject(this.#unknown(name));
    return slot.call(tool, args, options);
  }

  /**
   * Reads a resource of plugin `name`: a URI it serves, or one its templates match. Resolves to
   * MCP's `{ contents }`. A call of its own kind, pinned to one generation like a tool call.
   */
  readResource(name: string, uri: string, options?: CallOptions): Promise<ReadAnswer> {
    const slot = this.#slots.get(name);
    if (slot === undefined) return Promise.reject(this.#unknown(name));
    if (typeof uri !== 'string' || uri.length === 0 || uri.length > MAX_URI)
      return Promise.reject(invalid(`a URI must be 1 to ${MAX_URI} characters`));
    return slot
      .call(['read', uri], undefined, options)
      .then(checked<ReadAnswer>(name, readAnswerProblem));
  }

  /** Gets a prompt: `args` are strings, the required ones present (else INVALID_INPUT). */
  getPrompt(
    name: string,
    prompt: string,
    args: Record<string, string> = {},
    options?: CallOptions,
  ): Promise<PromptAnswer> {
    const slot = this.#slots.get(name);
    if (slot === undefined) return Promise.reject(this.#unknown(name));
    return slot
      .call(['prompt', String(prompt)], args, options)
      .then(checked<PromptAnswer>(name, promptAnswerProblem));
  }

  /**
   * Suggests values for a prompt's argument or a template's variable: at most 100, with the
   * `total` the completer found and whether there are more. No completer: no values.
   */
  complete(
    name: string,
    ref: CompletionRef,
    argument: CompletionArgument,
    options?: CallOptions,
  ): Promise<CompletionAnswer> {
    const slot = this.#slots.get(name);
    if (slot === undefined) return Promise.reject(this.#unknown(name));
    const key = ref.type === 'ref/prompt' ? ref.name : ref.uri;
    if (
      typeof key !== 'string' ||
      key.length > MAX_URI ||
      typeof argument?.name !== 'string' ||
      typeof argument.value !== 'string' ||
      argument.value.length > MAX_COMPLETION_TEXT
    )
      return Promise.reject(invalid('a completion needs a ref and an argument { name, value }'));
    const context = argument.context ?? {};
    return slot
      .call(
        [ref.type === 'ref/prompt' ? 'completePrompt' : 'completeTemplate', key],
        { name: argument.name, value: argument.value, context },
        options,
      )
      .then(checked<CompletionAnswer>(name, completionAnswerProblem));
  }

  plugins(): PluginInfo[] {
    const out: PluginInfo[] = [];
    for (const slot of this.#slots.values()) {
      const info = this.#info(slot);
      if (info !== undefined) out.push(info);
    }
    return out;
  }

  /** One plugin's info, without building the whole list. */
  plugin(name: string): PluginInfo | undefined {
    const slot = this.#slots.get(name);
    return slot === undefined ? undefined : this.#info(slot);
  }

  on<K extends keyof HostEvents>(event: K, listener: Listener<HostEvents[K]>): () => void {
    return this.#bus.on(event, listener);
  }

  /**
   * Every event, in the order emitted, synchronously like `on`: what the admin API's event
   * stream feeds on. Returns the function that unsubscribes.
   */
  onAny(listener: AnyListener<HostEvents>): () => void {
    return this.#bus.onAny(listener);
  }

  once<K extends keyof HostEvents>(event: K, listener: Listener<HostEvents[K]>): () => void {
    return this.#bus.once(event, listener);
  }

  off<K extends keyof HostEvents>(event: K, listener: Listener<HostEvents[K]>): void {
    this.#bus.off(event, listener);
  }

  /** Drains and ends every plugin and standby sandbox. Safe to call more than once. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const slots = [...this.#slots.values()];
      this.#slots.clear();
      await Promise.all([...slots.map((s) => s.close('host')), this.#pool.close()]);
      if (this.#tempData) await rm(this.#dataRoot, { recursive: true, force: true });
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #info(slot: Slot): PluginInfo | undefined {
    const gen = slot.active;
    if (gen === undefined) return undefined;
    return {
      name: slot.name,
      version: gen.version,
      buildId: gen.buildId,
      state: slot.state,
      generation: gen.id,
      inFlight: slot.inFlight,
      tools: gen.info.tools,
      resources: gen.info.resources,
      resourceTemplates: gen.info.resourceTemplates,
      prompts: gen.info.prompts,
      isolation: gen.isolation,
      dataDir: this.#dataDirOf(slot.name),
      knownGood: slot.knownGood,
      stats: { ...slot.stats },
    };
  }

  #dataDirOf(name: string): string {
    return join(this.#dataRoot, 'plugins', name);
  }

  #slot(name: string): Slot {
    this.#assertOpen();
    const slot = this.#slots.get(name);
    if (slot === undefined) throw this.#unknown(name);
    return slot;
  }

  #assertOpen(): void {
    if (this.#closing !== undefined)
      throw new MoltError(ErrorCodes.HOST_CLOSED, 'the host is closed');
  }

  #unknown(name: string): MoltError {
    if (this.#closing !== undefined)
      return new MoltError(ErrorCodes.HOST_CLOSED, 'the host is closed');
    return new MoltError(ErrorCodes.UNKNOWN_PLUGIN, `no plugin named "${name}" is loaded`, {
      details: { plugin: name },
    });
  }
}

/**
 * Creates a host. Async (a promise: `await` it) so set-up that touches the disk fits without
 * an API change.
 */
export async function createHost(options: HostOptions = {}): Promise<Host> {
  return new Host(options);
}
