/**
 * The routing entry for one plugin name: the active generation behind one pointer, the
 * previous one kept warm during probation, the known-good artifact a crash restarts from, and
 * the serialized pipeline runs (reload.ts) that change them. Its lifecycle is one `SlotState`,
 * changed only through `#to`, which checks the move and emits `slot.state`.
 */
import { debuglog } from 'node:util';
import { type ErrorCode, ErrorCodes, MoltError } from '../errors/errors.js';
import type {
  ArtifactRef,
  SlotState,
  TrialAbort,
  TrialFigures,
  TrialReport,
} from '../events/events.js';
import {
  type Artifact,
  type ExpectedArtifact,
  type Manifest,
  readArtifact,
} from '../manifest/manifest.js';
import type { CallTarget } from '../sandbox/protocol.js';
import type { CallOptions, InnerCallOptions, SandboxExit } from '../sandbox/sandbox.js';
import { estimateBytes } from '../sandbox/size.js';
import type { Timer } from '../util/clock.js';
import { broken } from '../util/invariant.js';
import { CallQueue } from './call-queue.js';
import { CallRecord, type ToolCallStats } from './call-record.js';
import type { CallSplit, CanaryStatus } from './canary.js';
import type { Checkpoint } from './checkpoints.js';
import type { Generation } from './generation.js';
import { figuresOf, judge, tightened } from './promotion.js';
import {
  type LoadResult,
  type ReloadGate,
  type ReloadPlan,
  type RuntimeDeps,
  runReload,
  type SlotCore,
  type SlotStats,
} from './reload.js';
import { unpublishServed } from './served-changes.js';
import type { ShadowRun, ShadowStatus } from './shadow.js';

const moves: Record<SlotState, readonly SlotState[]> = {
  loading: ['reloading', 'closing'],
  active: ['reloading', 'recovering', 'closing'],
  probation: ['active', 'reloading', 'recovering', 'closing'],
  reloading: ['held', 'active', 'probation', 'recovering', 'closing'],
  held: ['reloading', 'recovering', 'closing'],
  recovering: ['reloading', 'closing'],
  closing: ['closed'],
  closed: [],
};

/** States in which calls go straight to the active generation; in the others they queue. */
const ROUTING: ReadonlySet<SlotState> = new Set(['active', 'probation', 'reloading']);

/** How often a trial is judged (and `promotion.progress` told): at most once a second. */
const JUDGE_MS = 1_000;

const NO_CALLS: TrialFigures = { calls: 0, errors: 0, errorRate: 0, p99Ms: undefined };

/** A version on probation: what it is judged against, since when. */
interface Trial {
  gen: Generation;
  /** The clock's time it went on trial (`Date.now()` in `sinceIso`, for people). */
  since: number;
  sinceIso: string;
  baseline: TrialFigures;
  judging: Timer | undefined;
  /** A regression rollback is queued: judge no more. */
  ending: boolean;
}

/** A trial in progress, as `host.plugins()` shows it. */
export interface TrialStatus extends TrialReport {
  version: string;
  buildId: string;
  generation: number;
  since: string;
  /** How long it has been on trial, by the host's clock. */
  forMs: number;
}

/** Crashes closer together than this count as one crash loop for the restart backoff. */
const CRASH_STREAK_WINDOW_MS = 60_000;

const noop = (): void => {};

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const sameArtifact = (a: Artifact, b: Artifact): boolean =>
  a.manifest.version === b.manifest.version && a.manifest.buildId === b.manifest.buildId;

export interface SlotLoadOptions {
  /**
   * An artifact folder to fall back to: the loaded version is then on trial (probation) and a
   * crash restarts this one, until the trial ends. A deployment uses it after a restart, passing
   * the artifact already read and checked against its catalog.
   */
  knownGood?: string | Artifact;
  /** The artifact the caller means; a folder holding another build is refused (reload.ts). */
  expect?: ExpectedArtifact;
  /** Manifests loading in the same set (`loadAll`): their contracts count as provided. */
  alsoProviding?: readonly Manifest[];
}

export interface SlotReloadOptions {
  expect?: ExpectedArtifact | undefined;
  /** Set when this reload is a step of the cascade a reload of that plugin started. */
  cascadeOf?: string | undefined;
  /** Runs on the ready candidate before its swap (reload.ts `ReloadGate`). */
  gate?: ReloadGate | undefined;
}

const debug = debuglog('molt');

export interface RollbackOptions {
  /**
   * Go back without the current state: for a rollback across state versions whose newer
   * version has no `downgrade()`. A warm older generation keeps its own state; a fresh one
   * starts empty. The events say which (`state: 'own' | 'empty'`).
   */
  discardState?: boolean;
}

export class Slot {
  readonly name: string;
  readonly stats: SlotStats = {
    calls: 0,
    errors: 0,
    reloads: 0,
    reloadFailures: 0,
    rollbacks: 0,
    crashes: 0,
    lastReloadMs: undefined,
    lastDrainMs: undefined,
  };
  readonly #deps: RuntimeDeps;
  /** Every call's outcome and latency per tool, since the load, across generations. */
  readonly #calls = new CallRecord();
  readonly #queue: CallQueue;
  readonly #core: SlotCore;
  #state: SlotState = 'loading';
  /** Derived from the state and the pointer: calls go straight through (the hot path). */
  #routing = false;
  #active: Generation | undefined;
  /**
   * Set while a canary runs (each new call's pick between the candidate and the active one) or
   * a shadow (the active one answers, the candidate gets copies): one field the hot path reads.
   */
  #split: CallSplit | ShadowRun | undefined;
  /** The replaced generation, warm during probation: what a crash swaps back to. */
  #previous: Generation | undefined;
  /** The artifact `rollback()` returns to once the warm generation is gone. */
  #rollbackTo: Artifact | undefined;
  /** What crash recovery restarts from; what a restart of the host comes back to. */
  #knownGood: Artifact | undefined;
  #probation: Timer | undefined;
  #trial: Trial | undefined;
  #recovery: Timer | undefined;
  #crashStreak = 0;
  #lastCrashAt = Number.NEGATIVE_INFINITY;
  #tail: Promise<unknown> = Promise.resolve();
  #pendingReload:
    | (Deferred<LoadResult> & { dir: string; expect: ExpectedArtifact | undefined })
    | undefined;
  #closing: Promise<void> | undefined;
  #closeCode: ErrorCode = ErrorCodes.UNKNOWN_PLUGIN;
  readonly #retiring = new Set<Promise<unknown>>();
  /** The newest checkpoint of this plugin's state, and the generation that took it. */
  #checkpoint: { checkpoint: Checkpoint; generation: number } | undefined;
  /**
   * The last checkpoint each recent build took: what a rollback that discards the current state
   * starts that build with (`discardState`). The last four builds, oldest dropped first.
   */
  readonly #ownCheckpoints = new Map<string, Checkpoint>();
  /** A call may have changed the state since the last checkpoint. */
  #dirty = false;
  #checkpointTimer: Timer | undefined;
  #checkpointing: Promise<void> | undefined;
  /** The artifact of the first load, while it starts: its contracts count for others. */
  #starting: Artifact | undefined;

  constructor(name: string, deps: RuntimeDeps) {
    this.name = name;
    this.#deps = deps;
    this.#queue = new CallQueue(
      () => this.#active?.artifact.manifest.limits?.maxQueuedCalls ?? deps.options.maxQueuedCalls,
      deps.clock,
    );
    const slot = this;
    this.#core = {
      name,
      deps,
      stats: this.stats,
      get active() {
        return slot.#active;
      },
      get queued() {
        return slot.#queue.length;
      },
      hold: () => this.#to('held'),
      release: () => {
        if (this.#state === 'held') this.#to('reloading');
      },
      point: (gen) => this.#point(gen),
      split: (split) => {
        // The candidate's calls count in the plugin's figures from its first one.
        split?.candidate.recordInto(this.#calls);
        this.#split = split;
      },
      afterSwap: (gen, replaced, plan) => this.#afterSwap(gen, replaced, plan),
      get checkpoint() {
        return slot.#checkpoint;
      },
      recordCheckpoint: (cp) => {
        this.#checkpoint = cp;
        if (cp !== undefined) this.#keepOwn(cp.checkpoint);
      },
      checkpointOf: (buildId) => this.#ownCheckpoints.get(buildId),
      mirror: (run) => {
        this.#split = run;
      },
    };
  }

  get state(): SlotState {
    return this.#state;
  }

  get active(): Generation | undefined {
    return this.#active;
  }

  /** The manifest that serves, or, during the first load, the one starting. */
  get manifest(): Manifest | undefined {
    return this.#active?.artifact.manifest ?? this.#starting?.manifest;
  }

  /** Whether a generation serves (not yet during the first load, no longer once closing). */
  get serving(): boolean {
    return this.#active !== undefined && this.#closing === undefined;
  }

  get knownGood(): ArtifactRef | undefined {
    const a = this.#knownGood;
    return a === undefined
      ? undefined
      : { version: a.manifest.version, buildId: a.manifest.buildId };
  }

  /** Handlers running on this slot's generations, and calls waiting in its queue. */
  get inFlight(): number {
    return (this.#active?.inFlight ?? 0) + (this.#previous?.inFlight ?? 0) + this.#queue.length;
  }

  /** Per tool since the load: calls by outcome, latency, handlers running (a copy). */
  get callStats(): ToolCallStats[] {
    return this.#calls.stats();
  }

  /** Calls waiting in the hold queue. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * The hot path: one flag, the canary field and one pointer read, then the pinned generation
   * does the rest.
   */
  call(tool: CallTarget, args: unknown, options?: CallOptions): Promise<unknown> {
    this.#dirty = true;
    if (this.#routing) {
      const split = this.#split;
      if (split === undefined) return this.#active!.call(tool, args, options);
      return split.call(tool, args, options);
    }
    const acceptedAt = this.#deps.clock.now();
    if (this.#closing !== undefined) return this.#refuse(tool, this.#closedError(), acceptedAt);
    // One deadline per call, from now: the wait in the queue counts against it.
    const timeoutMs = this.#active?.limits.callTimeoutMs ?? this.#deps.options.callTimeoutMs;
    // A call through the host keeps the deadline of the call that made it, if that is sooner.
    const deadline = Math.min(
      acceptedAt + timeoutMs,
      (options as Partial<InnerCallOptions> | undefined)?.deadline ?? Number.POSITIVE_INFINITY,
    );
    // A call that reaches a generation is recorded there; one the queue refuses, here.
    let reached = false;
    const run = (): Promise<unknown> => {
      if (this.#routing) {
        reached = true;
        return (this.#split ?? this.#active!).call(tool, args, options, deadline, acceptedAt);
      }
      if (this.#closing !== undefined) return Promise.reject(this.#closedError());
      return this.#queue.wait(run, deadline, timeoutMs, options?.signal);
    };
    return this.#queue.wait(run, deadline, timeoutMs, options?.signal).catch((err: unknown) => {
      if (!reached) return this.#refuse(tool, err, acceptedAt);
      throw err;
    });
  }

  #refuse(tool: CallTarget, err: unknown, acceptedAt: number): Promise<never> {
    const code = (err as { code?: string } | undefined)?.code ?? ErrorCodes.INTERNAL;
    // Another kind of call is counted under its kind's label, as its generation would.
    const label = typeof tool === 'string' ? tool : `_${tool[0]}`;
    this.#calls.refused(label, code, this.#deps.clock.now() - acceptedAt);
    return Promise.reject(err);
  }

  /** The first load; `artifact` was read by the host to learn the plugin's name. */
  load(artifact: Artifact, options: SlotLoadOptions = {}): Promise<LoadResult> {
    this.#starting = artifact;
    return this.#serial(async () => {
      const knownGood =
        typeof options.knownGood === 'string'
          ? await readArtifact(options.knownGood).catch(() => undefined)
          : options.knownGood;
      return this.#run({ kind: 'load', source: { artifact }, knownGood, expect: options.expect });
    });
  }

  /** Serialized per slot; requests that arrive while one waits coalesce into the newest. */
  reload(dir: string, options: SlotReloadOptions = {}): Promise<LoadResult> {
    const { expect, cascadeOf, gate } = options;
    // A cascade's step, or a gated reload (canary, shadow), is its own run: it must not merge
    // into (or absorb) another request.
    if (cascadeOf !== undefined || gate !== undefined) {
      return this.#serial(() =>
        this.#run({ kind: 'reload', source: { dir }, expect, cascadeOf, gate }),
      );
    }
    if (this.#pendingReload !== undefined) {
      this.#pendingReload.dir = dir;
      this.#pendingReload.expect = expect;
      return this.#pendingReload.promise;
    }
    const pending = { ...deferred<LoadResult>(), dir, expect };
    this.#pendingReload = pending;
    this.#serial(() => {
      this.#pendingReload = undefined;
      return this.#run({ kind: 'reload', source: { dir: pending.dir }, expect: pending.expect });
    }).then(pending.resolve, pending.reject);
    return pending.promise;
  }

  /** `cascadeOf`: undoing this plugin's part in a failed cascade (reason `cascade`). */
  rollback(options: RollbackOptions = {}, cascadeOf?: string): Promise<LoadResult> {
    const why =
      cascadeOf === undefined
        ? { reason: 'manual' as const }
        : { reason: 'cascade' as const, cascadeOf };
    return this.#serial(() => this.#rollbackNow(why, options.discardState === true));
  }

  /** The trial in progress, with its figures so far; `undefined` when none is. */
  get trial(): TrialStatus | undefined {
    const t = this.#trial;
    if (t === undefined) return undefined;
    return {
      version: t.gen.version,
      buildId: t.gen.buildId,
      generation: t.gen.id,
      since: t.sinceIso,
      forMs: this.#deps.clock.now() - t.since,
      ...this.#report(t),
    };
  }

  /** The canary in progress (before its swap), with its figures; `undefined` when none runs. */
  get canary(): CanaryStatus | undefined {
    const split = this.#split;
    return split?.kind === 'canary' ? split.status() : undefined;
  }

  /** A shadow reload in progress: its candidate and figures; `undefined` when none runs. */
  get shadow(): ShadowStatus | undefined {
    const split = this.#split;
    return split?.kind === 'shadow' ? split.status() : undefined;
  }

  /**
   * Ends the trial now, the version on trial becoming permanent (`molt promote`). During a
   * canary: its candidate goes live now (the swap follows, then its probation). During a
   * shadow: its candidate passes now and the reload goes on to its swap.
   */
  promote(): Promise<TrialStatus> {
    // The gate's reload holds the slot's queue: it is told directly, not queued behind it.
    const split = this.#split;
    if (split?.kind === 'shadow') return Promise.resolve(split.promote());
    if (split !== undefined) {
      const status = split.status();
      split.end('promote');
      return Promise.resolve(status);
    }
    return this.#serial(async () => {
      const status = this.trial;
      if (status === undefined) throw this.#noTrial();
      this.#endProbation(true);
      return status;
    });
  }

  /**
   * Ends the trial with a rollback to the version before it (`molt abort`). During a canary:
   * it ends (reason `abort`) and the active version, which never stopped serving, serves on.
   * During a shadow: its reload is refused, likewise (once a shadow has passed, abort ends the
   * trial after its swap instead).
   */
  abort(): Promise<LoadResult> {
    const split = this.#split;
    const active = this.#active;
    if (split !== undefined && active !== undefined) {
      let ended = true;
      if (split.kind === 'canary') split.end('abort');
      // A shadow that already passed goes on to its swap: abort then ends the trial after it.
      else ended = split.abort();
      if (ended)
        return Promise.resolve({
          name: this.name,
          version: active.version,
          buildId: active.buildId,
        });
    }
    return this.#serial(() => {
      if (this.#trial === undefined) throw this.#noTrial();
      return this.#rollbackNow({ reason: 'abort' }, false);
    });
  }

  #noTrial(): MoltError {
    return new MoltError(ErrorCodes.NO_TRIAL, `plugin "${this.name}" has no version on trial`, {
      details: { plugin: this.name },
    });
  }

  #rollbackNow(
    why: Pick<ReloadPlan, 'reason' | 'cascadeOf' | 'figures'>,
    discardState: boolean,
  ): Promise<LoadResult> {
    {
      const warm = this.#previous;
      if (warm?.alive) {
        return this.#run({ kind: 'rollback', source: { warm }, ...why, discardState });
      }
      const target = this.#rollbackTo;
      if (target === undefined) {
        throw new MoltError(
          ErrorCodes.NO_PREVIOUS,
          `plugin "${this.name}" has no previous version to roll back to`,
        );
      }
      return this.#run({
        kind: 'rollback',
        source: { artifact: target },
        ...why,
        discardState,
      });
    }
  }

  /**
   * Unloads: new calls fail (UNKNOWN_PLUGIN, or HOST_CLOSED when the host closes), calls in
   * flight finish, every sandbox ends. Safe to call more than once.
   */
  close(reason: 'unload' | 'host' = 'unload'): Promise<void> {
    this.#closing ??= (async () => {
      this.#closeCode = reason === 'host' ? ErrorCodes.HOST_CLOSED : ErrorCodes.UNKNOWN_PLUGIN;
      const published = this.#active !== undefined;
      this.#to('closing');
      this.#queue.failAll(this.#closeCode, this.#closedError().message);
      if (this.#split?.kind === 'shadow') this.#split.abort(this.#closedError());
      else this.#split?.end('superseded');
      this.#clearProbation('superseded');
      this.#recovery?.clear();
      // Step 8 for an unload: the plugin's tools leave every front door at once.
      if (published) {
        this.#deps.bus.emit('tools.changed', { name: this.name, tools: [], generation: undefined });
        unpublishServed(this.#deps.bus, this.name, this.#active!.info);
      }
      await this.#tail;
      this.#checkpointTimer?.clear();
      this.#checkpointTimer = undefined;
      await this.#finalCheckpoint();
      const gens = [this.#active, this.#previous];
      this.#active = undefined;
      this.#previous = undefined;
      for (const g of gens) if (g !== undefined) this.#retire(g);
      await Promise.all([...this.#retiring]);
      this.#to('closed');
    })();
    return this.#closing;
  }

  /**
   * A graceful end writes a last checkpoint to disk, once the active generation's calls have
   * finished: nothing written before the close is lost.
   */
  async #finalCheckpoint(): Promise<void> {
    await this.#checkpointing;
    const gen = this.#active;
    if (this.#deps.checkpoints === undefined || gen === undefined) return;
    if (!gen.alive || !gen.info.stateful) return;
    if (!this.#dirty && this.#checkpoint?.generation === gen.id) return;
    await gen.waitDrained(gen.limits.drainTimeoutMs);
    await this.#takeCheckpoint(gen);
  }

  /** The one way the state changes: checked against the table, then announced. */
  #to(next: SlotState): void {
    const from = this.#state;
    if (from === next) return;
    if (!moves[from].includes(next)) {
      broken(`slot "${this.name}": ${from} → ${next} is not a legal move`);
      return;
    }
    this.#state = next;
    this.#updateRouting();
    this.#deps.bus.emit('slot.state', { name: this.name, from, to: next });
  }

  #updateRouting(): void {
    const routing = ROUTING.has(this.#state) && this.#active !== undefined;
    if (routing === this.#routing) return;
    this.#routing = routing;
    if (routing) this.#queue.release();
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => {
      if (this.#closing !== undefined) throw this.#closedError();
      return task();
    });
    this.#tail = run.then(noop, noop);
    return run;
  }

  /** One pipeline run; when it ends, routing resumes unless a crash or a close took over. */
  async #run(plan: ReloadPlan): Promise<LoadResult> {
    if (this.#state === 'active' || this.#state === 'probation') this.#to('reloading');
    try {
      return await runReload(this.#core, plan);
    } finally {
      if (this.#state === 'held') this.#to('reloading');
      if (this.#state === 'reloading')
        this.#to(this.#probation === undefined ? 'active' : 'probation');
    }
  }

  /** Step 7's pointer write, called by the pipeline only. */
  #point(gen: Generation): void {
    gen.to('active');
    // The record keeps the tools of the version now serving and of the one it replaces.
    const keep = new Set(gen.toolNames());
    for (const name of this.#active?.toolNames() ?? []) keep.add(name);
    this.#calls.keepOnly(keep);
    gen.recordInto(this.#calls);
    this.#active = gen;
    gen.onCrash = (g, exit) => this.#onCrash(g, exit);
    // A generation serves again: a first load or a recovery becomes a transition finishing.
    if (this.#state === 'loading' || this.#state === 'recovering') this.#to('reloading');
    this.#updateRouting();
  }

  /**
   * Steps 9–10: the replaced generation is kept warm for the probation window (the new version
   * is on trial), or retired at once; the known-good artifact moves only when a trial ends.
   */
  #keepOwn(cp: Checkpoint): void {
    this.#ownCheckpoints.delete(cp.buildId);
    this.#ownCheckpoints.set(cp.buildId, cp);
    if (this.#ownCheckpoints.size > 4) {
      const oldest = this.#ownCheckpoints.keys().next().value;
      if (oldest !== undefined) this.#ownCheckpoints.delete(oldest);
    }
  }

  /** Arms the next checkpoint of the active generation, if it is stateful and they are on. */
  #armCheckpoint(): void {
    const gen = this.#active;
    if (this.#checkpointTimer !== undefined || this.#closing !== undefined) return;
    if (gen === undefined || !gen.info.stateful) return;
    const ms = gen.artifact.manifest.limits?.checkpointMs ?? this.#deps.options.checkpointMs;
    if (ms === 0) return;
    this.#checkpointTimer = this.#deps.clock.setTimeout(() => {
      this.#checkpointTimer = undefined;
      // The generation active now, not the one active when the timer was armed.
      const active = this.#active;
      // A canary or a shadow keeps the slot reloading for minutes: the state is checkpointed.
      const serving =
        this.#state === 'active' || this.#state === 'probation' || this.#split !== undefined;
      if (!this.#dirty || active === undefined || !active.info.stateful || !serving) {
        this.#armCheckpoint();
        return;
      }
      void this.#takeCheckpoint(active).then(() => this.#armCheckpoint());
    }, ms);
  }

  /**
   * Snapshots `gen` as an op between its calls (no hold), keeps it as the newest checkpoint,
   * and writes it to disk when the host has a data folder. One at a time.
   */
  #takeCheckpoint(gen: Generation): Promise<void> {
    this.#checkpointing ??= (async () => {
      this.#dirty = false;
      const started = performance.now();
      try {
        const state = await gen.op('snapshot', undefined);
        // A swap meanwhile: the new generation's state is newer than this one.
        if (gen !== this.#active && this.#closing === undefined) return;
        const checkpoint: Checkpoint = {
          state,
          stateVersion: gen.info.stateVersion,
          version: gen.version,
          buildId: gen.buildId,
          takenAt: Date.now(),
        };
        this.#checkpoint = { checkpoint, generation: gen.id };
        this.#keepOwn(checkpoint);
        const files = this.#deps.checkpoints;
        const bytes =
          files === undefined ? estimateBytes(state) : await files.write(this.name, checkpoint);
        this.#deps.bus.emit('state.checkpointed', {
          name: this.name,
          stateVersion: checkpoint.stateVersion,
          bytes,
          ms: performance.now() - started,
        });
      } catch (err) {
        this.#dirty = true;
        debug('checkpoint of %s failed: %o', this.name, err);
      }
    })().finally(() => {
      this.#checkpointing = undefined;
    });
    return this.#checkpointing;
  }

  #afterSwap(gen: Generation, replaced: Generation | undefined, plan: ReloadPlan): void {
    this.#armCheckpoint();
    const superseded = this.#previous;
    this.#previous = undefined;
    this.#clearProbation(
      plan.kind === 'rollback'
        ? plan.reason === 'crash'
          ? 'crash'
          : (plan.reason ?? 'manual')
        : 'superseded',
    );
    if (superseded !== undefined && superseded !== gen) this.#retire(superseded);
    const probationMs = this.#deps.options.probationMs;
    const old = replaced === gen ? undefined : replaced;
    switch (plan.kind) {
      case 'load': {
        const fallback = plan.knownGood;
        if (fallback !== undefined && !sameArtifact(fallback, gen.artifact) && probationMs > 0) {
          this.#knownGood = fallback;
          this.#startProbation(probationMs, gen, undefined, undefined);
        } else {
          this.#knownGood = gen.artifact;
        }
        break;
      }
      case 'recover':
        this.#knownGood ??= gen.artifact;
        if (old !== undefined) this.#retire(old);
        break;
      case 'rollback':
      case 'reload':
        if (plan.reason === 'crash' || plan.reason === 'regression' || plan.reason === 'abort') {
          // Back on the version that served before the trial: it is known-good again.
          this.#knownGood = gen.artifact;
          this.#rollbackTo = undefined;
          if (old !== undefined) this.#retire(old);
          break;
        }
        if (old !== undefined) this.#rollbackTo = old.artifact;
        if (probationMs > 0) {
          if (old?.alive) {
            old.to('standby');
            this.#previous = old;
          } else if (old !== undefined) this.#retire(old);
          this.#startProbation(probationMs, gen, old, replaced);
        } else {
          this.#knownGood = gen.artifact;
          if (old !== undefined) this.#retire(old);
        }
        break;
      default: {
        const unreachable: never = plan.kind;
        broken(`unknown reload kind ${String(unreachable)}`);
      }
    }
    this.#changed();
  }

  /**
   * The baseline is the replaced generation's own figures over its life, read at the swap: a
   * copy of counters it already keeps (no per-call ring), bounded by its tool count.
   */
  #startProbation(
    ms: number,
    gen: Generation,
    old: Generation | undefined,
    replaced: Generation | undefined,
  ): void {
    this.#probation = this.#deps.clock.setTimeout(() => this.#endProbation(false), ms);
    const baseline = old === undefined ? NO_CALLS : figuresOf(old.callStats());
    const clock = this.#deps.clock;
    const trial: Trial = {
      gen,
      since: clock.now(),
      sinceIso: new Date().toISOString(),
      baseline,
      judging: undefined,
      ending: false,
    };
    this.#trial = trial;
    this.#deps.bus.emit('promotion.started', {
      name: this.name,
      from: replaced?.ref,
      to: gen.ref,
      probationMs: ms,
      baseline,
      mode: 'probation',
    });
    this.#armJudge(trial);
  }

  #armJudge(trial: Trial): void {
    trial.judging = this.#deps.clock.setTimeout(() => {
      trial.judging = undefined;
      if (this.#trial !== trial || trial.ending) return;
      const report = this.#report(trial);
      this.#deps.bus.emit('promotion.progress', { name: this.name, to: trial.gen.ref, ...report });
      if (report.decision === 'regression') this.#regressed(trial, report);
      else this.#armJudge(trial);
    }, JUDGE_MS);
  }

  #report(trial: Trial): TrialReport {
    const figures = figuresOf(trial.gen.callStats());
    const rules = tightened(this.#deps.options.probation, trial.gen.artifact.manifest.probation);
    const verdict = judge(figures, trial.baseline, rules);
    return {
      trial: figures,
      baseline: trial.baseline,
      decision: verdict.decision,
      why: verdict.decision === 'healthy' ? undefined : verdict.why,
    };
  }

  /** Queues the rollback; calls keep flowing to the trial until the swap, none is lost. */
  #regressed(trial: Trial, figures: TrialReport): void {
    trial.ending = true;
    void this.#serial(async () => {
      if (this.#trial !== trial || this.#active !== trial.gen) return;
      await this.#rollbackNow({ reason: 'regression', figures }, false);
    }).catch((err: unknown) => {
      debug('regression rollback of %s failed: %o', this.name, err);
      if (this.#trial === trial) trial.ending = false;
      if (this.#trial === trial) this.#armJudge(trial);
    });
  }

  /** A trial that ends without its version becoming permanent says why. */
  #clearProbation(reason: TrialAbort): void {
    this.#probation?.clear();
    this.#probation = undefined;
    const trial = this.#trial;
    if (trial === undefined) return;
    this.#trial = undefined;
    trial.judging?.clear();
    this.#deps.bus.emit('promotion.aborted', {
      name: this.name,
      to: trial.gen.ref,
      reason,
      ...this.#report(trial),
    });
  }

  /**
   * The trial is over: judged one last time, then the active version is known-good and the
   * warm one retires. `early`: the operator promoted it (no last judgement).
   */
  #endProbation(early: boolean): void {
    const trial = this.#trial;
    if (trial !== undefined && !early) {
      const report = this.#report(trial);
      if (report.decision === 'regression' && !trial.ending) {
        this.#probation = undefined;
        this.#regressed(trial, report);
        return;
      }
      if (trial.ending) {
        this.#probation = undefined;
        return;
      }
    }
    this.#probation?.clear();
    this.#probation = undefined;
    if (trial !== undefined) {
      this.#trial = undefined;
      trial.judging?.clear();
      this.#deps.bus.emit('promotion.promoted', {
        name: this.name,
        to: trial.gen.ref,
        early,
        ...this.#report(trial),
      });
    }
    const prev = this.#previous;
    this.#previous = undefined;
    if (this.#active?.alive) this.#knownGood = this.#active.artifact;
    if (prev !== undefined) this.#retire(prev);
    if (this.#state === 'probation') this.#to('active');
    this.#changed();
  }

  /** Tells a deployment what a restart must come back to. */
  #changed(): void {
    this.#deps.bus.emit('slot.changed', {
      name: this.name,
      active: this.#active?.ref,
      knownGood: this.knownGood,
    });
  }

  /** Drains and ends a generation that served; a crashed one has nothing left to end. */
  #retire(gen: Generation): void {
    if (gen.state !== 'active' && gen.state !== 'standby') return;
    const from = gen.ref;
    const done = gen.retire().then(({ drainMs, forced, crashed }) => {
      this.stats.lastDrainMs = drainMs;
      if (!crashed)
        this.#deps.bus.emit('generation.retired', { name: this.name, from, drainMs, forced });
    }, noop);
    this.#retiring.add(done);
    void done.finally(() => this.#retiring.delete(done));
  }

  /** G4: a crashed generation never takes the slot down. Swap back to the warm one, or restart. */
  #onCrash(gen: Generation, exit: SandboxExit): void {
    if (this.#closing !== undefined) return;
    this.stats.crashes++;
    const isActive = gen === this.#active;
    this.#deps.bus.emit('plugin.crashed', {
      name: this.name,
      from: gen.ref,
      error: { code: exit.code, message: exit.reason },
      inProbation: isActive && this.#probation !== undefined,
    });
    if (gen === this.#previous) {
      // The trial goes on without a warm generation; a crash now restarts the known-good one.
      this.#previous = undefined;
      return;
    }
    if (!isActive) return;
    // A canary needs the version it is judged against: it ends, the recovery follows it.
    // A shadow hears of it itself (plugin.crashed) and refuses its reload.
    if (this.#split?.kind === 'canary') this.#split.end('crash');
    this.#clearProbation('crash');
    this.#to('recovering');
    const clock = this.#deps.clock;
    const at = clock.now();
    // Crashes in quick succession grow the backoff; a long quiet spell resets it.
    this.#crashStreak = at - this.#lastCrashAt < CRASH_STREAK_WINDOW_MS ? this.#crashStreak + 1 : 0;
    this.#lastCrashAt = at;
    if (this.#previous?.alive) {
      void this.#serial(() => this.#swapBack(gen)).catch(() =>
        this.#scheduleRecovery(gen, this.#crashStreak),
      );
    } else {
      this.#scheduleRecovery(gen, this.#crashStreak);
    }
  }

  /** The crash rollback, queued behind any run under way (which may have replaced `crashed`). */
  async #swapBack(crashed: Generation): Promise<void> {
    if (this.#active !== crashed) return;
    const warm = this.#previous;
    if (!warm?.alive) {
      this.#scheduleRecovery(crashed, this.#crashStreak);
      return;
    }
    // `#previous` stays set until the swap: should the run fail, the next one retires it.
    await this.#run({ kind: 'rollback', source: { warm }, reason: 'crash' });
  }

  #scheduleRecovery(crashed: Generation, attempt: number): void {
    if (this.#closing !== undefined) return;
    const { initialMs, maxMs } = this.#deps.options.restartBackoff;
    const delay = Math.min(maxMs, initialMs * 2 ** attempt);
    this.#recovery?.clear();
    this.#recovery = this.#deps.clock.setTimeout(() => {
      this.#recovery = undefined;
      void this.#serial(async () => {
        if (this.#state !== 'recovering' || this.#active !== crashed) return;
        let result: LoadResult;
        try {
          result = await this.#run({
            kind: 'recover',
            source: { artifact: this.#knownGood ?? crashed.artifact },
          });
        } catch {
          if (this.#state === 'recovering') this.#scheduleRecovery(crashed, attempt + 1);
          return;
        }
        const to = this.#active?.ref;
        if (to !== undefined)
          this.#deps.bus.emit('plugin.recovered', {
            name: this.name,
            to,
            attempts: attempt + 1,
            ...(result.stateAgeMs === undefined ? {} : { stateAgeMs: result.stateAgeMs }),
          });
      }).catch(noop);
    }, delay);
  }

  #closedError(): MoltError {
    if (this.#closeCode === ErrorCodes.HOST_CLOSED)
      return new MoltError(ErrorCodes.HOST_CLOSED, 'the host is closed');
    return new MoltError(ErrorCodes.UNKNOWN_PLUGIN, `plugin "${this.name}" is not loaded`, {
      details: { plugin: this.name },
    });
  }
}
