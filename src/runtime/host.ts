/**
 * The public face: a thin `Host` over a map of slots. No host-wide lock exists: each slot
 * serializes its own transitions, so one plugin's reload never waits on another's.
 */
import { mkdtempSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { debuglog } from 'node:util';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import { type AnyListener, EventBus, type Listener } from '../events/bus.js';
import type { ArtifactRef, HostEvents, ShadowFigures, SlotState } from '../events/events.js';
import {
  type Artifact,
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
import type { CallOptions, SandboxMemory } from '../sandbox/sandbox.js';
import {
  type CompletionAnswer,
  completionAnswerProblem,
  type PromptAnswer,
  promptAnswerProblem,
  type ReadAnswer,
  readAnswerProblem,
} from '../sandbox/served.js';
import { mergedLatency, quantileMs, type ToolCallStats } from './call-record.js';
import {
  type CanaryOptions,
  type CanaryStatus,
  canaryGate,
  canaryRules,
  canaryStateful,
} from './canary.js';
import { CheckpointFiles } from './checkpoints.js';
import {
  Contracts,
  type HostTools,
  loadOrder,
  provisionsOf,
  type Requirement,
  requirementsOf,
} from './contracts.js';
import type { Generation, GenerationState } from './generation.js';
import { type HostOptions, type ResolvedOptions, resolveOptions, sandboxSpec } from './options.js';
import {
  type LoadResult,
  probe,
  type ReloadGate,
  type RuntimeDeps,
  type SlotStats,
} from './reload.js';
import { resolveShadow, type ShadowOptions, type ShadowStatus, shadowGate } from './shadow.js';
import { type RollbackOptions, Slot, type SlotLoadOptions, type TrialStatus } from './slot.js';

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
  /** The version on probation, its figures against the baseline; absent once permanent. */
  trial: TrialStatus | undefined;
  /** A canary in progress (before its swap): its weight, candidate and figures. */
  canary: CanaryStatus | undefined;
  /** A shadow reload in progress: the candidate, its figures against the current version. */
  shadow: ShadowStatus | undefined;
  stats: SlotStats;
  /**
   * The 99th percentile of its calls' latency (queue wait included) since it was loaded, every
   * tool together, from the call record's histogram; undefined before its first call.
   */
  p99Ms: number | undefined;
  /** The contracts it serves, with their versions. */
  provides: Record<string, string>;
  /** What it requires, and who serves each now (`null`: nobody; only optional ones can be). */
  requires: (Requirement & { providedBy: string | null })[];
}

export interface ReloadResult extends LoadResult {
  /** The dependents reloaded after it (`reloadWithDependencies`), in the order they were. */
  cascaded: string[];
  /** With `shadow`: the figures of the shadow it passed. */
  shadow?: ShadowFigures;
}

export interface UnloadOptions {
  /** Unload the plugins that need this one first, instead of refusing (HAS_DEPENDENTS). */
  cascade?: boolean;
}

export interface InspectResult {
  name: string;
  version: string;
  buildId: string;
  tools: ToolInfo[];
  manifest: Manifest;
}

/** A plugin's call figures (see `host.callStats`). */
export interface PluginCallStats {
  name: string;
  /** Per tool since the plugin was loaded, across its generations: they only grow. */
  tools: ToolCallStats[];
  /** Calls waiting in the hold queue. */
  queued: number;
  /** The active generation's own figures per tool, since it started. */
  active: { generation: number; tools: ToolCallStats[] } | undefined;
}

/** A generation whose sandbox has not ended: starting, serving, kept warm or draining. */
export interface GenerationInfo {
  name: string;
  generation: number;
  version: string;
  buildId: string;
  state: GenerationState;
  isolation: Isolation;
  /** Handlers running on it. */
  inFlight: number;
}

/** A live generation and what its sandbox's memory measures (absent where it cannot tell). */
export type GenerationMemory = GenerationInfo & SandboxMemory;

/** How long `sandboxMemory()` waits for one sandbox's figure before leaving it out. */
const MEMORY_WAIT_MS = 1_000;

export interface ReloadOptions {
  /**
   * The artifact `dir` must hold (name, version, buildId), e.g. the one a catalog recorded when
   * the store accepted it: a folder rewritten since is refused with BUILD_MISMATCH before any
   * sandbox starts.
   */
  expect?: ExpectedArtifact;
  /**
   * Serve the new version beside the current one first, on `weight` of the new calls, and swap
   * only once it has passed its gate (see canary.ts; CANARY_ABORTED otherwise, CANARY_STATEFUL
   * for a plugin with state). Resolves after the swap, like any reload.
   */
  canary?: CanaryOptions;
  /**
   * Prove the new version on mirrored copies of live calls before its swap (see shadow.ts):
   * refused with SHADOW_MISMATCH, SHADOW_INCOMPLETE or PLUGIN_CRASHED, the current version
   * serving on; options checked first (OPTIONS_INVALID; so is a reload asking for a canary too).
   */
  shadow?: ShadowOptions;
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
  readonly #contracts: Contracts;
  /** The cascade running now, if any: the next one starts after it. */
  #cascades: Promise<unknown> = Promise.resolve();
  #cascading = 0;
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
    this.#contracts = new Contracts(() => this.#slots.values(), clock);
    // Routes of ctx.call hold while nothing that serves changes.
    this.#bus.on('slot.changed', () => this.#contracts.invalidate());
    this.#bus.on('plugin.unloaded', () => this.#contracts.invalidate());
    this.#deps = {
      contracts: this.#contracts,
      pool: this.#pool,
      bus: this.#bus,
      options: this.#options,
      clock,
      checkpoints:
        this.#options.dataDir === undefined ? undefined : new CheckpointFiles(this.#dataRoot),
      generations: new Set(),
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
    return this.#load(await readArtifact(dir), options);
  }

  /**
   * Loads plugins that may need each other, in dependency order (providers first; the members
   * of a cycle together), all or nothing: if one fails, those already loaded are unloaded
   * again and the first error rejects. Their requirements may be met inside the set.
   */
  async loadAll(dirs: readonly string[]): Promise<LoadResult[]> {
    this.#assertOpen();
    const artifacts = await Promise.all(dirs.map((d) => readArtifact(d)));
    const manifests = artifacts.map((a) => a.manifest);
    const names = new Set<string>();
    for (const m of manifests) {
      if (names.has(m.name))
        throw new MoltError(ErrorCodes.ALREADY_LOADED, `plugin "${m.name}" is in the set twice`, {
          details: { plugin: m.name },
        });
      names.add(m.name);
    }
    // Every member is checked before any starts: a set that cannot load starts nothing.
    for (const m of manifests) this.#contracts.assertSatisfied(m, manifests);
    const results: LoadResult[] = [];
    const loaded: string[] = [];
    try {
      for (const group of loadOrder(artifacts)) {
        // The first failure in time is the cause: the members of a cycle that fail after it
        // fail because it went away.
        let first: { error: unknown } | undefined;
        const settled = await Promise.allSettled(
          group.map((a) =>
            this.#load(a, { alsoProviding: manifests }).catch((error: unknown) => {
              first ??= { error };
              throw error;
            }),
          ),
        );
        for (const [i, r] of settled.entries()) {
          if (r.status === 'fulfilled') {
            results.push(r.value);
            loaded.push(group[i]!.manifest.name);
          }
        }
        if (first !== undefined) throw first.error;
      }
      return results;
    } catch (err) {
      for (const name of loaded.reverse()) {
        if (this.#slots.has(name)) await this.#unloadNow(name).catch(() => {});
      }
      throw err;
    }
  }

  async #load(artifact: Artifact, options: SlotLoadOptions): Promise<LoadResult> {
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
    this.#contracts.assertSatisfied(artifact.manifest, options.alsoProviding);
    const slot = new Slot(name, this.#deps);
    this.#slots.set(name, slot);
    this.#contracts.invalidate();
    try {
      return await slot.load(artifact, options);
    } catch (err) {
      if (this.#slots.get(name) === slot) this.#slots.delete(name);
      this.#contracts.invalidate();
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

  /**
   * Resolves after the swap; rejects with a typed error and leaves the old version serving.
   * Plugins that opted in (`reloadWithDependencies`) and use a contract this one serves are
   * then reloaded too (fresh generations of their current artifacts, state handed over), in
   * dependency order, each once, transitively: all or nothing. If one fails, every plugin
   * already swapped in the cascade goes back (versions and states) and the reload rejects
   * with CASCADE_FAILED. `cascaded` names the plugins reloaded after this one.
   */
  async reload(name: string, dir: string, options: ReloadOptions = {}): Promise<ReloadResult> {
    const slot = this.#slot(name);
    let passed: { shadow?: ShadowFigures } = {};
    const gate =
      this.#shadow(options, (f) => {
        passed = { shadow: f };
      }) ?? this.#canary(slot, options);
    if (this.#contracts.cascadeOf(name).length === 0 && this.#cascading === 0) {
      const result = await slot.reload(dir, { expect: options.expect, gate });
      return { ...result, cascaded: [], ...passed };
    }
    // Cascades run one at a time: two must never interleave over a shared dependency.
    const run = this.#cascades.then(() => this.#reloadCascading(name, dir, options, gate));
    this.#cascades = run.catch(() => {});
    return { ...(await run), ...passed };
  }

  /** A canary's gate, its options checked; a plugin with state is refused before anything starts. */
  #canary(slot: Slot, options: ReloadOptions): ReloadGate | undefined {
    if (options.canary === undefined) return undefined;
    const rules = canaryRules(options.canary, this.#deps.options.probation);
    const active = slot.active;
    if (active?.info.stateful === true) throw canaryStateful(slot.name, active.version);
    return canaryGate(rules, (tool, args, callOptions) => slot.call(tool, args, callOptions));
  }

  /** A shadow's gate, its options checked before anything starts. */
  #shadow(
    options: ReloadOptions,
    onPassed: (figures: ShadowFigures) => void,
  ): ReloadGate | undefined {
    if (options.shadow === undefined) return undefined;
    if (options.canary !== undefined) {
      throw new MoltError(
        ErrorCodes.OPTIONS_INVALID,
        'a reload takes a canary or a shadow, not both: a shadow proves the candidate first, a canary then serves it a share of the calls',
      );
    }
    return shadowGate(resolveShadow(options.shadow, this.#options.probation.maxP99Ratio), onPassed);
  }

  async #reloadCascading(
    name: string,
    dir: string,
    options: ReloadOptions,
    gate: ReloadGate | undefined,
  ): Promise<ReloadResult> {
    this.#cascading++;
    try {
      const result = await this.#slot(name).reload(dir, { expect: options.expect, gate });
      const swapped: string[] = [name];
      const cascaded: string[] = [];
      for (const artifact of this.#cascadeSet(name)) {
        const { manifest } = artifact;
        const dependent = this.#slots.get(manifest.name);
        if (dependent === undefined) continue;
        try {
          await dependent.reload(artifact.dir, {
            expect: { name: manifest.name, version: manifest.version, buildId: manifest.buildId },
            cascadeOf: name,
          });
        } catch (err) {
          throw await this.#undoCascade(name, swapped, manifest.name, err);
        }
        swapped.push(manifest.name);
        cascaded.push(manifest.name);
      }
      return { ...result, cascaded };
    } finally {
      this.#cascading--;
    }
  }

  /**
   * The minimal reload set after `name` changed: the opted-in dependents of what changed,
   * transitively, each once (so a cycle ends), providers before their dependents.
   */
  #cascadeSet(name: string): Artifact[] {
    const seen = new Set([name]);
    const found: Artifact[] = [];
    const queue = this.#contracts.cascadeOf(name);
    while (queue.length > 0) {
      const next = queue.shift()!;
      if (seen.has(next)) continue;
      seen.add(next);
      const artifact = this.#slots.get(next)?.active?.artifact;
      if (artifact === undefined) continue;
      found.push(artifact);
      queue.push(...this.#contracts.cascadeOf(next));
    }
    return loadOrder(found).flat();
  }

  /** Puts back every plugin a failed cascade swapped; the error to reject with. */
  async #undoCascade(
    name: string,
    swapped: readonly string[],
    failed: string,
    err: unknown,
  ): Promise<MoltError> {
    const stuck: { plugin: string; error: string }[] = [];
    // The provider first: a dependent's fresh generation then starts (and inits) against the
    // version it had before, exactly as before the cascade.
    for (const plugin of swapped) {
      const slot = this.#slots.get(plugin);
      if (slot === undefined) continue;
      try {
        await slot.rollback({}, name);
      } catch (e) {
        stuck.push({ plugin, error: e instanceof Error ? e.message : String(e) });
      }
    }
    const cause = isMoltError(err)
      ? { code: err.code, message: err.message }
      : { code: ErrorCodes.INTERNAL, message: String(err) };
    return new MoltError(
      ErrorCodes.CASCADE_FAILED,
      `reloading ${name} cascaded to ${failed}, which failed (${cause.code}: ${cause.message}); ${swapped.join(', ')} went back${stuck.length > 0 ? `, except ${stuck.map((s) => `${s.plugin} (${s.error})`).join(', ')}` : ''}`,
      { cause: err, details: { plugin: failed, error: cause, rolledBack: swapped, stuck } },
    );
  }

  async rollback(name: string, options: RollbackOptions = {}): Promise<LoadResult> {
    return this.#slot(name).rollback(options);
  }

  /**
   * Ends the trial of the version on probation now: it becomes permanent (known-good), the warm
   * previous one retires. NO_TRIAL when none is on trial. Resolves to the trial's last figures.
   */
  async promote(name: string): Promise<TrialStatus> {
    return this.#slot(name).promote();
  }

  /** Ends the trial with a rollback to the version before it (reason `abort`). NO_TRIAL if none. */
  async abort(name: string): Promise<LoadResult> {
    return this.#slot(name).abort();
  }

  /**
   * Refused with HAS_DEPENDENTS while a live plugin needs a contract only this one serves;
   * `cascade: true` unloads those dependents first (and theirs, transitively).
   */
  async unload(name: string, options: UnloadOptions = {}): Promise<void> {
    this.#slot(name);
    const dependents = this.#contracts.dependentsOf(name);
    if (dependents.length > 0) {
      if (options.cascade !== true) {
        throw new MoltError(
          ErrorCodes.HAS_DEPENDENTS,
          `${dependents.join(', ')} need${dependents.length === 1 ? 's' : ''} a contract only "${name}" provides; unload ${dependents.length === 1 ? 'it' : 'them'} first, or pass { cascade: true }`,
          { details: { plugin: name, dependents } },
        );
      }
      for (const d of dependents) if (this.#slots.has(d)) await this.unload(d, options);
    }
    await this.#unloadNow(name);
  }

  async #unloadNow(name: string): Promise<void> {
    // A cascade awaited before this: the plugin may have gone meanwhile.
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

  /**
   * The embedding application serves a contract to plugins (they `require` it and `ctx.call`
   * it like any other): `host.provide('clock', '1.0.0', { now: () => Date.now() })`. Each
   * function gets the plugin's arguments and `{ signal }`; its result must be cloneable.
   */
  provide(contract: string, version: string, tools: HostTools): void {
    this.#assertOpen();
    this.#contracts.provide(contract, version, tools);
  }

  /** The contracts the embedding application serves (`provide`), with their versions. */
  hostContracts(): Record<string, string> {
    return this.#contracts.hostContracts();
  }

  /**
   * The non-optional requirements of `manifest` nothing serves now: live plugins, the host,
   * and the manifests in `alsoProviding` (loading together with it).
   */
  unsatisfied(manifest: Manifest, alsoProviding: readonly Manifest[] = []): Requirement[] {
    return this.#contracts.unsatisfied(manifest, alsoProviding);
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

  /**
   * A plugin's call figures: per tool, calls by outcome (`ok` or the error code), a latency
   * histogram and the handlers running; since the load across generations, and the active
   * generation's own. A copy: reading it costs the calls nothing.
   */
  callStats(name: string): PluginCallStats | undefined {
    const slot = this.#slots.get(name);
    if (slot === undefined) return undefined;
    const gen = slot.active;
    return {
      name,
      tools: slot.callStats,
      queued: slot.queued,
      active: gen === undefined ? undefined : { generation: gen.id, tools: gen.callStats() },
    };
  }

  /** Every generation whose sandbox has not ended, of every loaded plugin. */
  generations(): GenerationInfo[] {
    return [...this.#deps.generations].filter((g) => this.#slots.has(g.name)).map(generationInfo);
  }

  /**
   * `generations()` with what each sandbox's memory measures: a process sandbox's resident
   * set, a worker's V8 heap (Node 22.16+). A sandbox that does not answer within a second is
   * listed without a figure.
   */
  async sandboxMemory(): Promise<GenerationMemory[]> {
    const gens = [...this.#deps.generations].filter((g) => this.#slots.has(g.name));
    return Promise.all(
      gens.map(async (g) => ({ ...generationInfo(g), ...(await this.#memoryOf(g)) })),
    );
  }

  #memoryOf(gen: Generation): Promise<SandboxMemory | undefined> {
    const asked = gen.sandbox.memory?.();
    if (asked === undefined) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = this.#options.clock.setTimeout(() => resolve(undefined), MEMORY_WAIT_MS);
      asked.then(
        (m) => {
          timer.clear();
          resolve(m);
        },
        () => {
          timer.clear();
          resolve(undefined);
        },
      );
    });
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
      trial: slot.trial,
      canary: slot.canary,
      shadow: slot.shadow,
      stats: { ...slot.stats },
      p99Ms: quantileMs(mergedLatency(slot.callStats), 0.99),
      provides: Object.fromEntries(
        provisionsOf(gen.artifact.manifest).map((p) => [p.contract, p.version]),
      ),
      requires: requirementsOf(gen.artifact.manifest).map((req) => {
        const p = this.#contracts.resolve(req, slot.name);
        return {
          ...req,
          providedBy: p === undefined ? null : p.kind === 'host' ? 'host' : p.slot.name,
        };
      }),
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

function generationInfo(g: Generation): GenerationInfo {
  return {
    name: g.name,
    generation: g.id,
    version: g.version,
    buildId: g.buildId,
    state: g.state,
    isolation: g.isolation,
    inFlight: g.inFlight,
  };
}

/**
 * Creates a host. Async (a promise: `await` it) so set-up that touches the disk fits without
 * an API change.
 */
export async function createHost(options: HostOptions = {}): Promise<Host> {
  return new Host(options);
}
