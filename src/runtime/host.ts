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
import { EventBus, type Listener } from '../events/bus.js';
import type { ArtifactRef, HostEvents, SlotState } from '../events/events.js';
import { checkExpected, type ExpectedArtifact, readArtifact } from '../manifest/manifest.js';
import type { Isolation } from '../sandbox/permissions.js';
import { defaultSandboxFactory, SandboxPool } from '../sandbox/pool.js';
import type { ToolInfo } from '../sandbox/protocol.js';
import type { CallOptions, SandboxMemory } from '../sandbox/sandbox.js';
import type { ToolCallStats } from './call-record.js';
import { CheckpointFiles } from './checkpoints.js';
import type { Generation, GenerationState } from './generation.js';
import { type HostOptions, type ResolvedOptions, resolveOptions, sandboxSpec } from './options.js';
import type { LoadResult, RuntimeDeps, SlotStats } from './reload.js';
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
  /** The sandbox kind the active generation runs in. */
  isolation: Isolation;
  /** The plugin's own data folder (`ctx.dataDir`). */
  dataDir: string;
  /** What a crash restarts from (and a deployment's restart comes back to). */
  knownGood: ArtifactRef | undefined;
  stats: SlotStats;
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
