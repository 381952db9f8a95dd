/**
 * The reload of DESIGN.md, one function per step, run top to bottom by `runReload`:
 *
 *   validate → start → init → health → hand over state → swap → publish → retire / probation
 *
 * Every change of a slot's active generation passes through here: a first load, a reload, a
 * rollback (to a warm generation or a cold artifact, asked for or after a crash) and a restart
 * after a crash. The slot serializes the runs, so one pointer write happens at a time, and owns
 * what comes after the swap (probation, known-good). Any failure before the swap leaves the
 * active generation serving, untouched, and the new one ended.
 */
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import type { EventBus } from '../events/bus.js';
import type {
  ArtifactRef,
  HostEvents,
  ReloadKind,
  ReloadStep,
  StateOutcome,
  StepTimings,
  TrialReport,
} from '../events/events.js';
import {
  type Artifact,
  checkExpected,
  type ExpectedArtifact,
  readArtifact,
} from '../manifest/manifest.js';
import type { SandboxPool } from '../sandbox/pool.js';
import {
  type LoadedInfo,
  type LogLevel,
  loadedInfoProblem,
  type ToolInfo,
} from '../sandbox/protocol.js';
import type { CallClient, SandboxSpec } from '../sandbox/sandbox.js';
import type { Clock } from '../util/clock.js';
import type { CallSplit } from './canary.js';
import type { Checkpoint, CheckpointFiles } from './checkpoints.js';
import { type Contracts, provisionsOf } from './contracts.js';
import { type CallCounters, Generation } from './generation.js';
import { generationLimits, type ResolvedOptions, sandboxSpec } from './options.js';
import { schemaBreak } from './schema-compat.js';
import {
  MAX_SERVED_JSON,
  promptSignature,
  publishServed,
  resourceSignature,
} from './served-changes.js';
import type { ShadowRun } from './shadow.js';

export interface RuntimeDeps {
  pool: SandboxPool;
  bus: EventBus<HostEvents>;
  options: ResolvedOptions;
  clock: Clock;
  /** The plugin's data folder, created if need be: kept across its reloads. */
  dataDirOf(name: string): Promise<string>;
  /** Where checkpoints are kept on disk: only when the host has a data folder. */
  checkpoints: CheckpointFiles | undefined;
  /** Contracts between plugins: `ctx.call`'s router, and the checks a provider's change passes. */
  contracts: Contracts;
  /** Every generation whose sandbox has not ended yet, of every plugin. */
  generations: Set<Generation>;
}

export interface LoadResult {
  name: string;
  version: string;
  buildId: string;
  /** Set when the state came from a checkpoint: how old it is (writes since then are lost). */
  stateAgeMs?: number;
}

export interface SlotStats extends CallCounters {
  reloads: number;
  reloadFailures: number;
  rollbacks: number;
  crashes: number;
  lastReloadMs: number | undefined;
  lastDrainMs: number | undefined;
}

/** Where the new generation comes from. */
export type ReloadSource =
  | { dir: string }
  | { artifact: Artifact }
  /** A generation kept warm in probation: no start, no init. */
  | { warm: Generation };

/**
 * A check a reload must pass between the candidate's health and its swap, with both generations
 * serving (a canary's share of traffic, a shadow's mirrored calls). It resolves to let the swap
 * go on and rejects (typed) to refuse the reload; the candidate is then discarded and the
 * current generation never stopped serving.
 */
export type ReloadGate = (candidate: Generation, slot: SlotCore) => Promise<void>;

export interface ReloadPlan {
  kind: ReloadKind;
  /** Set on a reload that must pass a gate before its swap (see `ReloadGate`). */
  gate?: ReloadGate | undefined;
  source: ReloadSource;
  /**
   * Why a rollback happens: asked for, the active generation crashed, or a cascade it was part
   * of failed further on (all or nothing).
   */
  reason?: 'manual' | 'crash' | 'cascade' | 'regression' | 'abort';
  /** With `regression`: the trial's figures that tripped it, for the event. */
  figures?: TrialReport | undefined;
  /** Set when this run is part of the cascade a reload of that plugin started. */
  cascadeOf?: string | undefined;
  /**
   * A first load's fallback: the loaded version starts on trial, and a crash before the trial
   * ends restarts this one (a deployment resuming a trial after a restart).
   */
  knownGood?: Artifact | undefined;
  /**
   * The artifact the caller means (a deployment: the one its catalog recorded when the store
   * accepted it). A folder that now holds another build is refused at validate, before any
   * sandbox starts; the sandbox then checks the entry's bytes against this same buildId.
   */
  expect?: ExpectedArtifact | undefined;
  /**
   * Start the target without the current state (a rollback across state versions the newer one
   * cannot downgrade): a warm generation keeps its own, a fresh one starts empty.
   */
  discardState?: boolean | undefined;
}

/** What the pipeline may do to a slot. Everything else about a slot stays inside it. */
export interface SlotCore {
  readonly name: string;
  readonly deps: RuntimeDeps;
  readonly stats: SlotStats;
  /** The generation calls are routed to now. */
  readonly active: Generation | undefined;
  /** Calls waiting in the hold queue. */
  readonly queued: number;
  /** Pauses intake: new calls wait in the bounded queue until `release()`. */
  hold(): void;
  release(): void;
  /** The pointer write: the only place a slot's active generation changes. */
  point(gen: Generation): void;
  /**
   * While a canary runs, new calls go through `split` (canary.ts) instead of straight to the
   * active generation; `undefined` ends that.
   */
  split(split: CallSplit | undefined): void;
  /** Steps 9–10, owned by the slot: keep `replaced` warm on probation or retire it. */
  afterSwap(gen: Generation, replaced: Generation | undefined, plan: ReloadPlan): void;
  /** The newest checkpoint in memory, with the generation that took it. */
  readonly checkpoint: { checkpoint: Checkpoint; generation: number } | undefined;
  /** After a swap: the state the new generation started from, or none. */
  recordCheckpoint(cp: { checkpoint: Checkpoint; generation: number } | undefined): void;
  /** The last checkpoint a build of this plugin took (kept for its last few builds). */
  checkpointOf(buildId: string): Checkpoint | undefined;
  /** A shadow gate's run: the slot's calls route through it until it is set back to none. */
  mirror(run: ShadowRun | undefined): void;
}

const now = (): number => performance.now();

/** The largest tool list (names, descriptions, schemas, as JSON) a generation may report. */
const MAX_TOOLS_JSON = 4 * 1024 * 1024;

/** Runs `fn` and records how long it took as `timings[step]`. */
async function timed<T>(timings: StepTimings, step: ReloadStep, fn: () => Promise<T>): Promise<T> {
  const t = now();
  try {
    return await fn();
  } finally {
    timings[step] = now() - t;
  }
}

export async function runReload(slot: SlotCore, plan: ReloadPlan): Promise<LoadResult> {
  const { bus } = slot.deps;
  const begun = now();
  const timings: StepTimings = { total: 0 };
  const from = slot.active?.ref;
  const warm = 'warm' in plan.source ? plan.source.warm : undefined;
  let gen: Generation | undefined = warm;
  let to: ArtifactRef | undefined;
  const cascade = plan.cascadeOf === undefined ? {} : { cascadeOf: plan.cascadeOf };
  bus.emit('reload.started', { name: slot.name, from, kind: plan.kind, ...cascade });
  try {
    const artifact = await timed(timings, 'validate', () => validate(slot, plan));
    to = { version: artifact.manifest.version, buildId: artifact.manifest.buildId };
    if (gen === undefined) {
      const spec = sandboxSpec(
        artifact.manifest,
        slot.deps.options,
        await slot.deps.dataDirOf(slot.name),
      );
      try {
        gen = await start(slot, artifact, spec, timings);
        if (plan.kind === 'reload') keepsSchemas(slot, gen);
        await timed(timings, 'init', () => init(gen!, slot.deps.contracts));
        await health(gen, timings);
      } finally {
        // The next standby boots once this generation no longer needs the CPU: booting it
        // meanwhile (on 2 cores) made a reload's p50 half as long again.
        slot.deps.pool.warm(spec);
      }
      gen.to('ready');
      bus.emit('generation.started', {
        name: slot.name,
        to: gen.ref,
        timings: { ...timings, total: now() - begun },
      });
    }
    if (plan.gate !== undefined && gen !== warm) await plan.gate(gen, slot);
    const handover =
      (await restoreCheckpoint(slot, gen, plan, timings)) ??
      (await handOverState(slot, gen, plan, warm, timings));
    let replaced: Generation | undefined;
    let atSwap: { inFlight: number; queued: number };
    try {
      // Steps 7 and 8 and the reload.succeeded event happen in one turn: whoever hears of the
      // swap hears of it before any call can have reached the new generation unseen.
      atSwap = { inFlight: slot.active?.inFlight ?? 0, queued: slot.queued };
      const t = now();
      replaced = swap(slot, gen);
      timings.swap = now() - t;
      if (handover.keep !== true) slot.recordCheckpoint(handover.snapshot);
      publish(slot, replaced, gen);
    } finally {
      handover.release();
    }
    timings.total = now() - begun;
    count(slot, plan, true, timings.total);
    bus.emit('reload.succeeded', {
      name: slot.name,
      from,
      to: gen.ref,
      kind: plan.kind,
      stateTransferred: handover.transferred,
      state: handover.state,
      timings,
      atSwap,
      ...cascade,
    });
    if (plan.kind === 'rollback' && replaced !== undefined) {
      bus.emit('reload.rolledBack', {
        name: slot.name,
        from: replaced.ref,
        to: gen.ref,
        reason: plan.reason ?? 'manual',
        state: handover.state,
        ...cascade,
        ...(handover.ageMs === undefined ? {} : { stateAgeMs: handover.ageMs }),
        ...(plan.figures === undefined ? {} : { figures: plan.figures }),
      });
    }
    slot.afterSwap(gen, replaced, plan);
    return {
      name: slot.name,
      version: gen.version,
      buildId: gen.buildId,
      ...(handover.ageMs === undefined ? {} : { stateAgeMs: handover.ageMs }),
    };
  } catch (err) {
    timings.total = now() - begun;
    if (gen !== undefined && gen !== warm && gen !== slot.active) void gen.discard('reload failed');
    count(slot, plan, false, timings.total);
    const error = isMoltError(err)
      ? { code: err.code, message: err.message }
      : { code: ErrorCodes.LOAD_FAILED, message: String(err) };
    bus.emit('reload.failed', {
      name: slot.name,
      from,
      to,
      kind: plan.kind,
      error,
      timings,
      ...cascade,
    });
    throw err;
  }
}

function count(slot: SlotCore, plan: ReloadPlan, ok: boolean, ms: number): void {
  const stats = slot.stats;
  const asked =
    plan.kind === 'reload' ||
    (plan.kind === 'rollback' && (plan.reason === undefined || plan.reason === 'manual'));
  if (!ok) {
    if (asked) stats.reloadFailures++;
    return;
  }
  if (asked) {
    stats.reloads++;
    stats.lastReloadMs = ms;
  }
  if (plan.kind === 'rollback') stats.rollbacks++;
}

/**
 * Step 2, before any plugin code runs: the manifest (schema, host API range), the name, the
 * build the caller expects (when it says), the isolation. The entry's bytes are proven in step
 * 3 and the config in the sandbox, before the entry is evaluated, where a hostile
 * `configSchema` can only stall that plugin.
 */
async function validate(slot: SlotCore, plan: ReloadPlan): Promise<Artifact> {
  const source = plan.source;
  const artifact =
    'dir' in source
      ? await readArtifact(source.dir)
      : 'artifact' in source
        ? source.artifact
        : source.warm.artifact;
  const { manifest } = artifact;
  if (manifest.name !== slot.name) {
    throw new MoltError(
      ErrorCodes.NAME_MISMATCH,
      `${artifact.dir} holds plugin "${manifest.name}", not "${slot.name}"`,
      { details: { expected: slot.name, actual: manifest.name } },
    );
  }
  if (plan.expect !== undefined) checkExpected(artifact, plan.expect);
  // A new version must still serve every live dependent's range. A rollback is not refused:
  // it is the way back from a bad version, and a crash recovery has no choice.
  if (plan.kind === 'reload') {
    slot.deps.contracts.assertNotBreaking(slot.name, manifest);
    // A new version may require more than the old one did: what it requires must be served.
    slot.deps.contracts.assertSatisfied(manifest);
  }
  return artifact;
}

/**
 * Step 3: a sandbox (a warm standby when one is ready) evaluates the entry, refusing it unless
 * its bytes hash to the manifest's buildId, and reports the buildId of what it evaluated.
 */
async function start(
  slot: Pick<SlotCore, 'deps'> & { stats: CallCounters },
  artifact: Artifact,
  spec: SandboxSpec,
  timings: StepTimings,
): Promise<Generation> {
  const { pool, bus, options, clock } = slot.deps;
  const { manifest } = artifact;
  const name = manifest.name;
  const limits = generationLimits(manifest, options);
  let gen: Generation | undefined;
  const sandbox = await timed(timings, 'start', async () =>
    pool.take(spec, {
      onLog: (level, msg, data, dropped, client) => {
        const toCaller = client !== undefined && tellCaller(client, name, level, msg, data);
        bus.emit('plugin.log', {
          name,
          generation: gen?.id ?? 0,
          level,
          msg,
          data,
          ...(dropped === undefined ? {} : { dropped }),
          ...(toCaller ? { toCaller } : {}),
        });
      },
      onOutput: (stream, chunk) => options.output(name, stream, chunk),
      onResourceUpdated: (uri) =>
        bus.emit('resource.updated', { name, generation: gen?.id ?? 0, uri }),
      onAsk: (ask) =>
        gen === undefined
          ? Promise.reject(new MoltError(ErrorCodes.CANCELLED, 'the generation is not ready'))
          : slot.deps.contracts.route(gen, ask),
    }),
  );
  sandbox.setTimeouts(limits.callTimeoutMs, options.unresponsiveMs);
  gen = new Generation(artifact, sandbox, spec.isolation, limits, slot.stats, clock);
  const started = gen;
  const live = slot.deps.generations;
  live.add(started);
  void sandbox.exited.then(() => live.delete(started));
  try {
    const info = await timed(timings, 'load', () =>
      sandbox.load(
        {
          entryPath: artifact.entryPath,
          artifactDir: artifact.dir,
          name,
          buildId: manifest.buildId,
          config: manifest.config,
          configSchema: manifest.configSchema,
          dataDir: spec.dataDir,
          maxResultBytes: (manifest.limits?.maxResultMb ?? options.maxResultMb) * 1024 * 1024,
        },
        limits.initTimeoutMs,
      ),
    );
    const problem = loadedInfoProblem(info);
    if (problem !== undefined) {
      throw new MoltError(ErrorCodes.LOAD_FAILED, `${name}@${manifest.version}: ${problem}`);
    }
    // Every tool list is kept, listed and compared at each swap: its size is bounded too. And
    // it must be JSON: structured clone carries a BigInt or a cycle that JSON cannot.
    let sizes: { tools: number; resources: number; prompts: number };
    try {
      sizes = {
        tools: toolSignature(info.tools).length,
        resources: resourceSignature(info).length,
        prompts: promptSignature(info).length,
      };
    } catch (err) {
      throw new MoltError(
        ErrorCodes.LOAD_FAILED,
        `${name}@${manifest.version}: its tools, resources or prompts cannot be listed as JSON: ${(err as Error).message}`,
      );
    }
    if (sizes.tools > MAX_TOOLS_JSON) {
      throw new MoltError(
        ErrorCodes.LOAD_FAILED,
        `${name}@${manifest.version}: the tool list is larger than ${MAX_TOOLS_JSON} bytes of JSON`,
      );
    }
    if (sizes.resources > MAX_SERVED_JSON || sizes.prompts > MAX_SERVED_JSON) {
      throw new MoltError(
        ErrorCodes.LOAD_FAILED,
        `${name}@${manifest.version}: the resource or prompt list is larger than ${MAX_SERVED_JSON} bytes of JSON`,
      );
    }
    if (info.buildId !== manifest.buildId) {
      throw new MoltError(
        ErrorCodes.BUILD_MISMATCH,
        `${name}@${manifest.version}: the sandbox evaluated build ${info.buildId.slice(0, 12)} but the manifest says ${manifest.buildId.slice(0, 12)}`,
        { details: { expected: manifest.buildId, actual: info.buildId } },
      );
    }
    started.setLoaded(info);
    return started;
  } catch (err) {
    await started.discard('start failed');
    throw err;
  }
}

/**
 * Between steps 3 and 4, for a reload only (a rollback or a recovery goes back to what served
 * before): a version in the active one's caret range keeps its tools' schemas compatible.
 * Checked before `init`, so a refused version never runs its init side effects.
 */
function keepsSchemas(slot: SlotCore, gen: Generation): void {
  const old = slot.active;
  if (old === undefined || slot.deps.options.schemaCompat === 'off') return;
  // The usual reload keeps its tools: both signatures are already made (step 3 bounds them).
  if (toolSignature(old.info.tools) === toolSignature(gen.info.tools)) return;
  const refused = schemaBreak(
    slot.name,
    { version: old.version, tools: old.info.tools },
    { version: gen.version, tools: gen.info.tools },
  );
  if (refused !== undefined) throw refused;
  // A contract is a promise of its own: a plugin's major may move while a contract it serves
  // stays in its major, and then the contract's tools must stay compatible.
  const before = provisionsOf(old.artifact.manifest);
  for (const next of provisionsOf(gen.artifact.manifest)) {
    const prev = before.find((p) => p.contract === next.contract);
    if (prev === undefined) continue;
    const broken = schemaBreak(
      `${slot.name}'s contract ${next.contract}`,
      { version: prev.version, tools: old.info.tools },
      { version: next.version, tools: gen.info.tools },
      prev.tools ?? old.info.tools.map((t) => t.name),
    );
    if (broken !== undefined) throw broken;
  }
}

/**
 * Steps 2 and 3 and nothing after, outside any slot: the manifest and host API, the build the
 * caller expects, the entry evaluated in a sandbox that checks its bytes, config and tool
 * schemas; then the sandbox ends. No init runs. What `molt validate` runs (through host.inspect).
 */
export async function probe(
  deps: RuntimeDeps,
  dir: string,
  expect?: ExpectedArtifact,
): Promise<{ artifact: Artifact; info: LoadedInfo }> {
  const artifact = await readArtifact(dir);
  if (expect !== undefined) checkExpected(artifact, expect);
  const { manifest } = artifact;
  const spec = sandboxSpec(manifest, deps.options, await deps.dataDirOf(manifest.name));
  const gen = await start({ deps, stats: { calls: 0, errors: 0 } }, artifact, spec, { total: 0 });
  try {
    return { artifact, info: gen.info };
  } finally {
    await gen.discard('inspected');
  }
}

/** Step 4: `init()` with its timeout. No lock is held: init may call back into the host. */
async function init(gen: Generation, contracts: Contracts): Promise<void> {
  try {
    await gen.op('init', undefined);
  } catch (err) {
    // An init that timed out after calling a plugin that was itself starting: say which. The
    // call it waited on shares the init's deadline, so its CALL_TIMEOUT may come first.
    const waitedFor = contracts.startingWaitOf(gen);
    const timedOut =
      isMoltError(err, ErrorCodes.INIT_TIMEOUT) || isMoltError(err, ErrorCodes.CALL_TIMEOUT);
    if (timedOut && waitedFor !== undefined) {
      throw new MoltError(
        ErrorCodes.INIT_TIMEOUT,
        `init did not finish within ${gen.limits.initTimeoutMs} ms; it had called ${waitedFor}, which was still starting (${gen.name} → ${waitedFor})`,
        { details: { ...err.details, chain: [gen.name, waitedFor] } },
      );
    }
    throw err;
  }
}

/** Step 5: the plugin's own `health()`, when it has one. */
async function health(gen: Generation, timings: StepTimings): Promise<void> {
  if (gen.info.hasHealth) await timed(timings, 'health', () => gen.op('health', undefined));
}

/**
 * Step 6, for stateful plugins: hold new calls, let the old generation finish every handler,
 * snapshot, migrate if the state version changed, restore into the new one. The slot stays held
 * until after the swap, so no call reaches the old generation after its snapshot. On failure
 * the hold is released and the old generation, never told anything, serves on with its state.
 */
async function handOverState(
  slot: SlotCore,
  gen: Generation,
  plan: ReloadPlan,
  warm: Generation | undefined,
  timings: StepTimings,
): Promise<Handover> {
  const old = slot.active;
  if (old === undefined || !old.alive || !old.info.stateful || !gen.info.stateful)
    return { transferred: false, state: 'none', release: () => {} };
  if (plan.discardState === true) {
    // The older version's own state: a warm generation still holds it; a fresh one gets the
    // last checkpoint its build took, if there is one, else it starts empty.
    if (gen === warm) return { transferred: false, state: 'own', release: () => {} };
    const own = slot.checkpointOf(gen.buildId);
    if (own === undefined || own.stateVersion !== gen.info.stateVersion) {
      return { transferred: false, state: 'empty', release: () => {} };
    }
    await timed(timings, 'restore', () => gen.op('restore', own.state));
    return { transferred: false, state: 'own', release: () => {}, keep: true };
  }
  slot.hold();
  try {
    const drained = await timed(timings, 'drain', () => old.waitDrained(old.limits.drainTimeoutMs));
    if (!drained) {
      throw new MoltError(
        ErrorCodes.DRAIN_TIMEOUT,
        `${slot.name}@${old.version} still had ${old.inFlight} call(s) running after ${old.limits.drainTimeoutMs} ms; state not handed over`,
      );
    }
    let state = await timed(timings, 'snapshot', () => old.op('snapshot', undefined));
    const fromVersion = old.info.stateVersion;
    const toVersion = gen.info.stateVersion;
    const snapshot = {
      checkpoint: {
        state,
        stateVersion: fromVersion,
        version: old.version,
        buildId: old.buildId,
        takenAt: Date.now(),
      },
      generation: old.id,
    };
    let outcome: StateOutcome = 'handedOver';
    if (fromVersion < toVersion) {
      state = await timed(timings, 'migrate', () => gen.op('migrate', { fromVersion, state }));
      outcome = 'migrated';
    } else if (fromVersion > toVersion) {
      // The way back is the newer version's to know (it has seen both shapes): it runs in the
      // generation being left, and the older one's restore checks the result against its schema.
      state = await timed(timings, 'migrate', () => old.op('downgrade', { toVersion, state }));
      outcome = 'downgraded';
    }
    await timed(timings, 'restore', () => gen.op('restore', state));
    return { transferred: true, state: outcome, release: () => slot.release(), snapshot };
  } catch (err) {
    slot.release();
    throw err;
  }
}

/**
 * Step 6, when there is no live generation to take the state from: a first load restores the
 * checkpoint on disk (state survives a host restart); a crash's swap back to the warm generation
 * and a crash recovery restore the newest checkpoint in memory (else the one on disk), so they
 * serve the crashed generation's state as of its last checkpoint, never older. A checkpoint of a
 * newer state version cannot be downgraded here (the generation that knew how is gone): it is
 * not used, and says so. A checkpoint that does not restore is set aside, never dropped silently.
 */
async function restoreCheckpoint(
  slot: SlotCore,
  gen: Generation,
  plan: ReloadPlan,
  timings: StepTimings,
): Promise<Handover | undefined> {
  const crashBack = plan.kind === 'rollback' && plan.reason === 'crash';
  if (!gen.info.stateful || (plan.kind !== 'load' && plan.kind !== 'recover' && !crashBack))
    return undefined;
  const { bus, checkpoints } = slot.deps;
  let from: 'memory' | 'disk' = 'memory';
  let cp: Checkpoint | undefined;
  const inMemory = slot.checkpoint;
  if (plan.kind !== 'load' && inMemory !== undefined && inMemory.generation !== gen.id) {
    cp = inMemory.checkpoint;
  } else if (plan.kind !== 'rollback' && checkpoints !== undefined) {
    const read = await checkpoints.read(slot.name);
    if (read.kind === 'unreadable') {
      await reject(slot, read.reason);
      return undefined;
    }
    if (read.kind === 'found') {
      cp = read.checkpoint;
      from = 'disk';
    }
  }
  if (cp === undefined) return undefined;
  const toVersion = gen.info.stateVersion;
  // Down from a newer state version: only the version that took the checkpoint knows the way.
  // After a crash that is the crashed generation's artifact (the slot still points at it).
  const taker = slot.active?.buildId === cp.buildId ? slot.active.artifact : undefined;
  if (cp.stateVersion > toVersion && taker === undefined) {
    const reason = `the checkpoint has state version ${cp.stateVersion}, newer than ${gen.version}'s ${toVersion}, and the version that took it is not at hand to downgrade it`;
    if (from === 'disk') await reject(slot, reason);
    else bus.emit('state.rejected', { name: slot.name, reason, keptAs: undefined });
    return undefined;
  }
  try {
    let state = cp.state;
    if (cp.stateVersion > toVersion && taker !== undefined) {
      state = await timed(timings, 'migrate', () => downgradeIn(slot, taker, state, toVersion));
    } else if (cp.stateVersion < toVersion) {
      const fromVersion = cp.stateVersion;
      state = await timed(timings, 'migrate', () => gen.op('migrate', { fromVersion, state }));
    }
    await timed(timings, 'restore', () => gen.op('restore', state));
  } catch (err) {
    const reason = isMoltError(err) ? `${err.code}: ${err.message}` : String(err);
    if (from === 'disk') await reject(slot, reason);
    else bus.emit('state.rejected', { name: slot.name, reason, keptAs: undefined });
    return undefined;
  }
  const ageMs = Math.max(0, Date.now() - cp.takenAt);
  bus.emit('state.restored', {
    name: slot.name,
    to: gen.ref,
    stateVersion: cp.stateVersion,
    from,
    ageMs,
  });
  return { transferred: true, state: 'checkpoint', release: () => {}, keep: true, ageMs };
}

interface Handover {
  transferred: boolean;
  state: StateOutcome;
  release: () => void;
  /** The snapshot handed over: the newest state, as a checkpoint of the generation left. */
  snapshot?: { checkpoint: Checkpoint; generation: number };
  /** The slot's checkpoint in memory stays as it is (it is what was just restored). */
  keep?: boolean;
  /** How old the restored checkpoint is. */
  ageMs?: number;
}

/**
 * Runs `downgrade` in a fresh sandbox of `artifact` (the crashed version: its own generation is
 * gone), loaded but not initialized, and ends it.
 */
async function downgradeIn(
  slot: SlotCore,
  artifact: Artifact,
  state: unknown,
  toVersion: number,
): Promise<unknown> {
  const spec = sandboxSpec(
    artifact.manifest,
    slot.deps.options,
    await slot.deps.dataDirOf(slot.name),
  );
  const helper = await start(slot, artifact, spec, { total: 0 });
  try {
    return await helper.op('downgrade', { toVersion, state });
  } finally {
    await helper.discard('downgraded a checkpoint');
  }
}

/** Sets an unusable checkpoint file aside and says so. */
async function reject(slot: SlotCore, reason: string): Promise<void> {
  let keptAs: string | undefined;
  try {
    keptAs = await slot.deps.checkpoints?.reject(slot.name);
  } catch {
    keptAs = undefined;
  }
  slot.deps.bus.emit('state.rejected', { name: slot.name, reason, keptAs });
}

/** Step 7: one pointer write. Calls that started on the old generation finish there. */
function swap(slot: SlotCore, gen: Generation): Generation | undefined {
  if (!gen.alive) {
    throw new MoltError(
      ErrorCodes.PLUGIN_CRASHED,
      `${slot.name}@${gen.version} ended before the swap`,
    );
  }
  const replaced = slot.active;
  slot.point(gen);
  return replaced;
}

/**
 * Step 8: in the same turn as the swap (G2: no one lists the new tools while calls still reach
 * the old handlers), tell the front doors if the tool list changed.
 */
function publish(slot: SlotCore, replaced: Generation | undefined, gen: Generation): void {
  publishServed(slot.deps.bus, slot.name, replaced?.info, gen.info, gen.id);
  if (
    replaced !== undefined &&
    toolSignature(replaced.info.tools) === toolSignature(gen.info.tools)
  )
    return;
  slot.deps.bus.emit('tools.changed', {
    name: slot.name,
    tools: gen.info.tools,
    generation: gen.id,
  });
}

const signatures = new WeakMap<ToolInfo[], string>();

/** What a client would see of a tool list: every field MCP lists. */
function toolSignature(tools: ToolInfo[]): string {
  let s = signatures.get(tools);
  if (s === undefined) {
    s = JSON.stringify(
      tools.map((t) => [
        t.name,
        t.title,
        t.description,
        t.inputSchema,
        t.outputSchema,
        t.annotations,
      ]),
    );
    signatures.set(tools, s);
  }
  return s;
}

/** A handler's log line to the client of its call; false if that client's sink failed. */
function tellCaller(
  client: CallClient,
  name: string,
  level: LogLevel,
  msg: string,
  data: unknown,
): boolean {
  try {
    client.log?.(name, level, msg, data);
    return true;
  } catch {
    return false;
  }
}
