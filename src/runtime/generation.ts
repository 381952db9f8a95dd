/**
 * One loaded instance of one artifact in its own sandbox, with its in-flight counter.
 * Its lifecycle is one state changed only through `#to`, which checks the move.
 */
import { ErrorCodes, MoltError } from '../errors/errors.js';
import type { VersionRef } from '../events/events.js';
import type { Artifact } from '../manifest/manifest.js';
import type { LoadedInfo } from '../sandbox/protocol.js';
import type { CallOptions, CallTracker, WorkerSandbox } from '../sandbox/worker-sandbox.js';

export type GenerationState =
  | 'starting'
  | 'ready'
  | 'active'
  | 'standby'
  | 'draining'
  | 'retired'
  | 'crashed';

const moves: Record<GenerationState, readonly GenerationState[]> = {
  starting: ['ready', 'retired', 'crashed'],
  ready: ['active', 'retired', 'crashed'],
  active: ['standby', 'draining', 'crashed'],
  standby: ['active', 'draining', 'crashed'],
  draining: ['retired', 'crashed'],
  retired: [],
  crashed: [],
};

export interface GenerationLimits {
  callTimeoutMs: number;
  initTimeoutMs: number;
  drainTimeoutMs: number;
}

export interface CallCounters {
  calls: number;
  errors: number;
}

let nextGenerationId = 1;

export class Generation implements CallTracker {
  readonly id = nextGenerationId++;
  readonly artifact: Artifact;
  readonly sandbox: WorkerSandbox;
  readonly limits: GenerationLimits;
  #state: GenerationState = 'starting';
  #info: LoadedInfo | undefined;
  #tools = new Set<string>();
  #inFlight = 0;
  #drainWaiters: (() => void)[] = [];
  readonly #counters: CallCounters;

  constructor(
    artifact: Artifact,
    sandbox: WorkerSandbox,
    limits: GenerationLimits,
    counters: CallCounters,
  ) {
    this.artifact = artifact;
    this.sandbox = sandbox;
    this.limits = limits;
    this.#counters = counters;
  }

  get state(): GenerationState {
    return this.#state;
  }
  get inFlight(): number {
    return this.#inFlight;
  }
  get info(): LoadedInfo {
    if (this.#info === undefined) throw new Error('generation not loaded');
    return this.#info;
  }
  get version(): string {
    return this.artifact.manifest.version;
  }
  get buildId(): string {
    return this.artifact.manifest.buildId;
  }
  get alive(): boolean {
    return this.#state !== 'retired' && this.#state !== 'crashed' && !this.sandbox.ended;
  }
  get ref(): VersionRef {
    return { version: this.version, buildId: this.buildId, generation: this.id };
  }

  setLoaded(info: LoadedInfo): void {
    this.#info = info;
    this.#tools = new Set(info.tools.map((t) => t.name));
  }

  /** Moves to `next` if the lifecycle allows it; returns whether it moved. */
  to(next: GenerationState): boolean {
    if (this.#state === next) return true;
    if (!moves[this.#state].includes(next)) return false;
    this.#state = next;
    return true;
  }

  hasTool(tool: string): boolean {
    return this.#tools.has(tool);
  }

  /** The hot path: pin this generation for the call's whole life. */
  call(tool: string, args: unknown, options?: CallOptions): Promise<unknown> {
    if (!this.#tools.has(tool)) {
      return Promise.reject(
        new MoltError(
          ErrorCodes.UNKNOWN_TOOL,
          `plugin "${this.artifact.manifest.name}" has no tool "${tool}"`,
          {
            details: { plugin: this.artifact.manifest.name, tool },
          },
        ),
      );
    }
    this.#inFlight++;
    this.#counters.calls++;
    return this.sandbox.call(tool, args, options, this);
  }

  /** CallTracker: the sandbox reports each call's end here, once. */
  settled(failed: boolean): void {
    if (failed) this.#counters.errors++;
    if (--this.#inFlight === 0 && this.#drainWaiters.length > 0) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves true once no call is in flight, false if `timeoutMs` passes first. */
  waitDrained(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#drainWaiters = this.#drainWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#drainWaiters.push(done);
    });
  }

  op(
    op: 'init' | 'health' | 'snapshot' | 'migrate' | 'restore',
    arg: unknown,
    timeoutMs = this.limits.initTimeoutMs,
  ): Promise<unknown> {
    const codes = {
      init: [ErrorCodes.INIT_TIMEOUT, ErrorCodes.INIT_FAILED],
      health: [ErrorCodes.HEALTH_FAILED, ErrorCodes.HEALTH_FAILED],
      snapshot: [ErrorCodes.SNAPSHOT_FAILED, ErrorCodes.SNAPSHOT_FAILED],
      migrate: [ErrorCodes.MIGRATE_FAILED, ErrorCodes.MIGRATE_FAILED],
      restore: [ErrorCodes.RESTORE_FAILED, ErrorCodes.RESTORE_FAILED],
    } as const;
    const [timeoutCode, failCode] = codes[op];
    return this.sandbox.op(op, arg, timeoutMs, timeoutCode, failCode);
  }

  /**
   * Drains then ends the sandbox: calls in flight finish here; past the drain timeout they fail
   * with DRAIN_TIMEOUT and the worker is forced down. Safe to call more than once.
   */
  async retire(): Promise<{ drainMs: number; forced: boolean }> {
    const started = performance.now();
    this.to('draining');
    const drained = await this.waitDrained(this.limits.drainTimeoutMs);
    const drainMs = performance.now() - started;
    if (!drained) {
      await this.sandbox.terminate(
        ErrorCodes.DRAIN_TIMEOUT,
        `generation ${this.id} did not drain within ${this.limits.drainTimeoutMs} ms`,
      );
    } else {
      // The plugin's own drain hook: close handles before the thread goes.
      await this.sandbox
        .op(
          'drain',
          undefined,
          this.limits.drainTimeoutMs,
          ErrorCodes.DRAIN_TIMEOUT,
          ErrorCodes.PLUGIN_ERROR,
        )
        .catch(() => undefined);
      await this.sandbox.terminate(ErrorCodes.PLUGIN_CRASHED, `generation ${this.id} retired`);
    }
    this.to('retired');
    return { drainMs, forced: !drained };
  }
}
