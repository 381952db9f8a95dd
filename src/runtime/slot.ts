/**
 * The routing entry for one plugin name: the active generation behind one pointer, the
 * previous one kept warm during probation, and the serialized transitions between them
 * (reload, rollback, crash recovery). Calls never wait on a transition except during a state
 * handover or a recovery, and then in a bounded queue.
 */
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import type { EventBus } from '../events/bus.js';
import type { HostEvents, StepTimings } from '../events/events.js';
import { type Artifact, readArtifact } from '../manifest/manifest.js';
import type { CallOptions, SandboxExit } from '../sandbox/worker-sandbox.js';
import { CallQueue } from './call-queue.js';
import type { Generation } from './generation.js';
import { type StarterDeps, startGeneration } from './starter.js';

export interface LoadResult {
  name: string;
  version: string;
  buildId: string;
}

export interface SlotStats {
  calls: number;
  errors: number;
  reloads: number;
  reloadFailures: number;
  rollbacks: number;
  crashes: number;
  lastReloadMs: number | undefined;
  lastDrainMs: number | undefined;
}

export type SlotState = 'active' | 'reloading' | 'held' | 'recovering' | 'unloaded';

type TransitionKind = 'load' | 'reload' | 'rollback';

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

const since = (t: number): number => performance.now() - t;
const noop = (): void => {};
/** Crashes closer together than this count as one crash loop for the restart backoff. */
const CRASH_STREAK_WINDOW_MS = 60_000;

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
  readonly #deps: StarterDeps;
  readonly #bus: EventBus<HostEvents>;
  readonly #queue: CallQueue;
  #active: Generation | undefined;
  /** The replaced generation, warm until probation ends: the crash rollback target. */
  #previous: Generation | undefined;
  /** The artifact `rollback()` returns to once the warm generation is gone. */
  #rollbackTo: Artifact | undefined;
  /** What crash recovery restarts from. */
  #knownGood: Artifact | undefined;
  #probationTimer: NodeJS.Timeout | undefined;
  #recoveryTimer: NodeJS.Timeout | undefined;
  #crashStreak = 0;
  #lastCrashAt = Number.NEGATIVE_INFINITY;
  #holds = 0;
  #recovering = false;
  #closed = false;
  #open = false;
  #transitions = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #pendingReload: (Deferred<LoadResult> & { dir: string }) | undefined;
  readonly #retiring = new Set<Promise<unknown>>();

  constructor(name: string, deps: StarterDeps) {
    this.name = name;
    this.#deps = deps;
    this.#bus = deps.bus;
    this.#queue = new CallQueue(
      () => this.#active?.artifact.manifest.limits?.maxQueuedCalls ?? deps.options.maxQueuedCalls,
    );
  }

  get active(): Generation | undefined {
    return this.#active;
  }

  get state(): SlotState {
    if (this.#closed) return 'unloaded';
    if (this.#recovering) return 'recovering';
    if (this.#holds > 0) return 'held';
    if (this.#transitions > 0) return 'reloading';
    return 'active';
  }

  get inFlight(): number {
    let n = (this.#active?.inFlight ?? 0) + (this.#previous?.inFlight ?? 0);
    n += this.#queue.length;
    return n;
  }

  /** The hot path: one pointer read, then the pinned generation does the rest. */
  call(tool: string, args: unknown, options?: CallOptions): Promise<unknown> {
    const gen = this.#active;
    if (this.#open && gen !== undefined) return gen.call(tool, args, options);
    if (this.#closed) return Promise.reject(this.#unloadedError());
    // A queued call gets the same deadline the plugin's calls get (its manifest may set one).
    const timeoutMs = this.#active?.limits.callTimeoutMs ?? this.#deps.options.callTimeoutMs;
    return this.#queue.wait(() => this.call(tool, args, options), timeoutMs, options?.signal);
  }

  load(dir: string): Promise<LoadResult> {
    return this.#serial(() => this.#replace(() => readArtifact(dir), 'load'));
  }

  /** Serialized per slot; requests that arrive while one waits coalesce into the newest. */
  reload(dir: string): Promise<LoadResult> {
    if (this.#pendingReload !== undefined) {
      this.#pendingReload.dir = dir;
      return this.#pendingReload.promise;
    }
    const pending = { ...deferred<LoadResult>(), dir };
    this.#pendingReload = pending;
    this.#serial(() => {
      this.#pendingReload = undefined;
      return this.#replace(() => readArtifact(pending.dir), 'reload');
    }).then(pending.resolve, pending.reject);
    return pending.promise;
  }

  rollback(): Promise<LoadResult> {
    return this.#serial(async () => {
      const warm = this.#previous;
      if (warm?.alive) {
        this.#previous = undefined;
        this.#clearProbation();
        return this.#replace(async () => warm.artifact, 'rollback', warm);
      }
      const target = this.#rollbackTo;
      if (target === undefined) {
        throw new MoltError(
          ErrorCodes.NO_PREVIOUS,
          `plugin "${this.name}" has no previous version to roll back to`,
        );
      }
      return this.#replace(async () => target, 'rollback');
    });
  }

  /** Unloads: new calls fail with UNKNOWN_PLUGIN, calls in flight finish, every sandbox ends. */
  async close(reason: 'unload' | 'host' = 'unload'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#updateGate();
    const code = reason === 'host' ? ErrorCodes.HOST_CLOSED : ErrorCodes.UNKNOWN_PLUGIN;
    this.#queue.failAll(code, `plugin "${this.name}" was unloaded`);
    this.#clearProbation();
    if (this.#recoveryTimer !== undefined) clearTimeout(this.#recoveryTimer);
    await this.#tail;
    const gens = [this.#active, this.#previous].filter((g): g is Generation => g !== undefined);
    this.#active = undefined;
    this.#previous = undefined;
    for (const g of gens) this.#retire(g);
    await Promise.all([...this.#retiring]);
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => {
      if (this.#closed) throw this.#unloadedError();
      return task();
    });
    this.#tail = run.then(noop, noop);
    return run;
  }

  /**
   * One transition: validate, start (or reuse a warm generation), hand state over, swap.
   * Any failure before the swap leaves the active generation serving, untouched.
   */
  async #replace(
    getArtifact: () => Promise<Artifact>,
    kind: TransitionKind,
    warm?: Generation,
  ): Promise<LoadResult> {
    const begun = performance.now();
    const timings: StepTimings = { total: 0 };
    const from = this.#active?.ref;
    let gen = warm;
    let to: { version: string; buildId: string } | undefined;
    this.#transitions++;
    this.#bus.emit('reload.started', { name: this.name, from, kind });
    try {
      let t = performance.now();
      const artifact = await getArtifact();
      to = { version: artifact.manifest.version, buildId: artifact.manifest.buildId };
      if (artifact.manifest.name !== this.name) {
        throw new MoltError(
          ErrorCodes.NAME_MISMATCH,
          `${artifact.dir} holds plugin "${artifact.manifest.name}", not "${this.name}"`,
          { details: { expected: this.name, actual: artifact.manifest.name } },
        );
      }
      timings.validate = since(t);
      if (gen === undefined) {
        gen = await startGeneration(artifact, this.#deps, this.stats, timings);
        gen.sandbox.onCrash = (exit) => this.#onCrash(gen!, exit);
      }
      const old = this.#active;
      const stateTransferred = await this.#handOver(gen, timings);
      t = performance.now();
      this.#swap(gen, kind, old);
      timings.swap = since(t);
      timings.total = since(begun);
      if (kind !== 'load') {
        this.stats.reloads++;
        this.stats.lastReloadMs = timings.total;
      }
      if (kind === 'rollback') {
        this.stats.rollbacks++;
        if (from !== undefined)
          this.#bus.emit('reload.rolledBack', {
            name: this.name,
            from,
            to: gen.ref,
            reason: 'manual',
          });
      }
      this.#bus.emit('reload.succeeded', {
        name: this.name,
        from,
        to: gen.ref,
        kind,
        stateTransferred,
        timings,
      });
      return { name: this.name, version: gen.version, buildId: gen.buildId };
    } catch (err) {
      timings.total = since(begun);
      if (gen !== undefined && gen !== this.#active)
        void gen.sandbox.terminate(ErrorCodes.PLUGIN_CRASHED, 'reload failed');
      if (kind !== 'load') this.stats.reloadFailures++;
      const error = isMoltError(err)
        ? { code: err.code, message: err.message }
        : { code: ErrorCodes.LOAD_FAILED, message: String(err) };
      this.#bus.emit('reload.failed', { name: this.name, from, to, kind, error, timings });
      throw err;
    } finally {
      this.#transitions--;
    }
  }

  /**
   * Step 6: for stateful plugins, hold new calls, drain the old generation, snapshot, migrate,
   * restore into the new one. Returns whether state moved. On failure the hold is released and
   * the old generation, never told anything, serves on with its state.
   */
  async #handOver(gen: Generation, timings: StepTimings): Promise<boolean> {
    const old = this.#active;
    if (old === undefined || !old.alive || !old.info.stateful || !gen.info.stateful) return false;
    this.#hold();
    try {
      let t = performance.now();
      const drained = await old.waitDrained(old.limits.drainTimeoutMs);
      timings.drain = since(t);
      if (!drained) {
        throw new MoltError(
          ErrorCodes.DRAIN_TIMEOUT,
          `${this.name}@${old.version} still had ${old.inFlight} call(s) in flight after ${old.limits.drainTimeoutMs} ms; state not handed over`,
        );
      }
      t = performance.now();
      let state = await old.op('snapshot', undefined);
      timings.snapshot = since(t);
      const fromVersion = old.info.stateVersion;
      if (fromVersion !== gen.info.stateVersion) {
        t = performance.now();
        state = await gen.op('migrate', { fromVersion, state });
        timings.migrate = since(t);
      }
      t = performance.now();
      await gen.op('restore', state);
      timings.restore = since(t);
      if (!gen.alive)
        throw new MoltError(
          ErrorCodes.PLUGIN_CRASHED,
          `${this.name}@${gen.version} ended during restore`,
        );
      // Swap while still held, so no call reaches the old generation after its snapshot.
      this.#swapPointer(gen);
      return true;
    } finally {
      this.#release();
    }
  }

  /** Step 7: one pointer write. The replaced generation stays warm for probation, then retires. */
  #swap(gen: Generation, kind: TransitionKind, replaced: Generation | undefined): void {
    if (!gen.alive)
      throw new MoltError(
        ErrorCodes.PLUGIN_CRASHED,
        `${this.name}@${gen.version} ended before the swap`,
      );
    const old = replaced === gen ? undefined : replaced;
    this.#swapPointer(gen);
    const superseded = this.#previous;
    this.#previous = undefined;
    this.#clearProbation();
    if (superseded !== undefined && superseded !== gen) this.#retire(superseded);
    if (old === undefined) {
      this.#knownGood ??= gen.artifact;
      if (kind === 'load') this.#knownGood = gen.artifact;
      return;
    }
    this.#rollbackTo = old.artifact;
    const probationMs = this.#deps.options.probationMs;
    if (old.alive && probationMs > 0) {
      old.to('standby');
      this.#previous = old;
      this.#probationTimer = setTimeout(() => this.#endProbation(), probationMs);
      this.#probationTimer.unref();
    } else {
      this.#knownGood = gen.artifact;
      this.#retire(old);
    }
  }

  #swapPointer(gen: Generation): void {
    if (this.#active === gen) return;
    gen.to('active');
    this.#active = gen;
    if (this.#recovering) {
      this.#recovering = false;
      if (this.#recoveryTimer !== undefined) clearTimeout(this.#recoveryTimer);
      this.#recoveryTimer = undefined;
    }
    this.#updateGate();
  }

  #endProbation(): void {
    this.#probationTimer = undefined;
    const prev = this.#previous;
    this.#previous = undefined;
    if (this.#active !== undefined) this.#knownGood = this.#active.artifact;
    if (prev !== undefined) this.#retire(prev);
  }

  #clearProbation(): void {
    if (this.#probationTimer !== undefined) clearTimeout(this.#probationTimer);
    this.#probationTimer = undefined;
  }

  #retire(gen: Generation): void {
    const from = gen.ref;
    const done = gen.retire().then(({ drainMs, forced }) => {
      this.stats.lastDrainMs = drainMs;
      this.#bus.emit('generation.retired', { name: this.name, from, drainMs, forced });
    }, noop);
    this.#retiring.add(done);
    void done.finally(() => this.#retiring.delete(done));
  }

  /** G4: a crashed generation never takes the slot down. Roll back to the warm one, or restart. */
  #onCrash(gen: Generation, exit: SandboxExit): void {
    gen.to('crashed');
    this.stats.crashes++;
    const inProbation = gen === this.#active && this.#previous !== undefined;
    this.#bus.emit('plugin.crashed', {
      name: this.name,
      from: gen.ref,
      error: { code: exit.code, message: exit.reason },
      inProbation,
    });
    if (gen === this.#previous) {
      this.#previous = undefined;
      this.#clearProbation();
      return;
    }
    if (gen !== this.#active || this.#closed) return;
    const warm = this.#previous;
    if (warm?.alive) {
      this.#previous = undefined;
      this.#clearProbation();
      this.#swapPointer(warm);
      this.#knownGood = warm.artifact;
      this.#rollbackTo = undefined;
      this.stats.rollbacks++;
      this.#bus.emit('reload.rolledBack', {
        name: this.name,
        from: gen.ref,
        to: warm.ref,
        reason: 'crash',
      });
      return;
    }
    const now = performance.now();
    // Crashes in quick succession grow the backoff; a long quiet spell resets it.
    this.#crashStreak =
      now - this.#lastCrashAt < CRASH_STREAK_WINDOW_MS ? this.#crashStreak + 1 : 0;
    this.#lastCrashAt = now;
    this.#recovering = true;
    this.#updateGate();
    this.#scheduleRecovery(this.#crashStreak, gen.artifact);
  }

  #scheduleRecovery(attempt: number, fallback: Artifact): void {
    const { initialMs, maxMs } = this.#deps.options.restartBackoff;
    const delay = Math.min(maxMs, initialMs * 2 ** attempt);
    this.#recoveryTimer = setTimeout(() => {
      this.#recoveryTimer = undefined;
      void this.#serial(async () => {
        if (!this.#recovering) return;
        const artifact = this.#knownGood ?? fallback;
        const timings: StepTimings = { total: 0 };
        try {
          const gen = await startGeneration(artifact, this.#deps, this.stats, timings);
          if (!this.#recovering || this.#closed) {
            void gen.sandbox.terminate(ErrorCodes.PLUGIN_CRASHED, 'recovery no longer needed');
            return;
          }
          gen.sandbox.onCrash = (exit) => this.#onCrash(gen, exit);
          const crashed = this.#active;
          this.#swapPointer(gen);
          if (crashed !== undefined && crashed !== gen) this.#retire(crashed);
          this.#bus.emit('plugin.recovered', {
            name: this.name,
            to: gen.ref,
            attempts: attempt + 1,
          });
        } catch {
          if (this.#recovering && !this.#closed) this.#scheduleRecovery(attempt + 1, fallback);
        }
      }).catch(noop);
    }, delay);
    this.#recoveryTimer.unref();
  }

  #hold(): void {
    this.#holds++;
    this.#updateGate();
  }

  #release(): void {
    this.#holds--;
    this.#updateGate();
  }

  #updateGate(): void {
    const open =
      !this.#closed && !this.#recovering && this.#holds === 0 && this.#active !== undefined;
    if (open === this.#open) return;
    this.#open = open;
    if (open) this.#queue.release();
  }

  #unloadedError(): MoltError {
    return new MoltError(ErrorCodes.UNKNOWN_PLUGIN, `plugin "${this.name}" is not loaded`, {
      details: { plugin: this.name },
    });
  }
}
