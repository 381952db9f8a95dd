/**
 * One loaded instance of one artifact in its own sandbox, with its in-flight counter.
 * Its lifecycle is one state changed only through `to()`, which checks the move against a
 * table and refuses an illegal one loudly.
 */
import { type ErrorCode, ErrorCodes, MoltError } from '../errors/errors.js';
import type { VersionRef } from '../events/events.js';
import type { Artifact } from '../manifest/manifest.js';
import type { Isolation } from '../sandbox/permissions.js';
import type { CallTarget, LoadedInfo, ServeKind } from '../sandbox/protocol.js';
import type {
  CallOptions,
  CallTracker,
  InnerCallOptions,
  Sandbox,
  SandboxExit,
} from '../sandbox/sandbox.js';
import type { Clock } from '../util/clock.js';
import { broken } from '../util/invariant.js';
import {
  type CallRecord,
  outcomeOf,
  type ToolCallStats,
  ToolCalls,
  UNKNOWN_TOOL,
} from './call-record.js';

/**
 * starting → ready (loaded, initialized, healthy) → active (serving) ⇄ standby (kept warm in
 * probation) → draining → retired. A sandbox that dies on its own makes any live state crashed;
 * a generation never swapped in is retired straight from starting or ready.
 */
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

type LifecycleOp = 'init' | 'health' | 'snapshot' | 'migrate' | 'downgrade' | 'restore';

/** The codes a lifecycle op's timeout and failure get. */
const opCodes = {
  init: [ErrorCodes.INIT_TIMEOUT, ErrorCodes.INIT_FAILED],
  health: [ErrorCodes.HEALTH_FAILED, ErrorCodes.HEALTH_FAILED],
  snapshot: [ErrorCodes.SNAPSHOT_FAILED, ErrorCodes.SNAPSHOT_FAILED],
  migrate: [ErrorCodes.MIGRATE_FAILED, ErrorCodes.MIGRATE_FAILED],
  downgrade: [ErrorCodes.MIGRATE_FAILED, ErrorCodes.MIGRATE_FAILED],
  restore: [ErrorCodes.RESTORE_FAILED, ErrorCodes.RESTORE_FAILED],
} as const;

let nextGenerationId = 1;

/**
 * One tool of one generation: the tracker its calls carry through the sandbox. It is that
 * generation's own record of the tool (what a trial can judge the new version by) and adds
 * each call to the slot's record too, which outlives the generation.
 */
class ToolTracker extends ToolCalls implements CallTracker {
  readonly #gen: Generation;
  /** The slot's record of this tool, once the generation serves. */
  slot: ToolCalls | undefined;

  constructor(gen: Generation) {
    super();
    this.#gen = gen;
  }

  begin(): void {
    this.inFlight++;
    if (this.slot !== undefined) this.slot.inFlight++;
  }

  answered(code: ErrorCode | undefined, ms: number): void {
    const outcome = outcomeOf(code);
    this.add(outcome, ms);
    this.slot?.add(outcome, ms);
  }

  settled(failed: boolean): void {
    this.inFlight--;
    if (this.slot !== undefined) this.slot.inFlight--;
    this.#gen.settled(failed);
  }
}

export class Generation {
  readonly id = nextGenerationId++;
  readonly artifact: Artifact;
  readonly sandbox: Sandbox;
  /** What kind of sandbox it runs in (the host's minimum or the manifest's, whichever is more). */
  readonly isolation: Isolation;
  readonly limits: GenerationLimits;
  /** Set by the owner: told once if the sandbox dies without being asked to. */
  onCrash: ((gen: Generation, exit: SandboxExit) => void) | undefined;
  #state: GenerationState = 'starting';
  #info: LoadedInfo | undefined;
  #tools = new Map<string, ToolTracker>();
  /** Calls to tools it does not declare: counted, never run. */
  readonly #unknown: ToolTracker;
  /** Calls of the other kinds, by label (see `#kindTracker`). */
  readonly #kinds = new Map<string, ToolTracker>();
  /** The slot's record, once the generation serves. */
  #record: CallRecord | undefined;
  #inFlight = 0;
  #drainWaiters: (() => void)[] = [];
  readonly #counters: CallCounters;
  readonly #clock: Clock;

  constructor(
    artifact: Artifact,
    sandbox: Sandbox,
    isolation: Isolation,
    limits: GenerationLimits,
    counters: CallCounters,
    clock: Clock,
  ) {
    this.artifact = artifact;
    this.sandbox = sandbox;
    this.isolation = isolation;
    this.limits = limits;
    this.#counters = counters;
    this.#clock = clock;
    this.#unknown = new ToolTracker(this);
    sandbox.onCrash = (exit) => {
      this.to('crashed');
      this.onCrash?.(this, exit);
    };
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
  get name(): string {
    return this.artifact.manifest.name;
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
    this.#tools = new Map(info.tools.map((t) => [t.name, new ToolTracker(this)]));
  }

  /**
   * From now on each call is added to `record` too (the slot's, across generations): called
   * when the generation starts serving, so a version that never served adds no tools to it.
   */
  recordInto(record: CallRecord): void {
    this.#record = record;
    for (const [name, tracker] of this.#tools) tracker.slot = record.tool(name);
    for (const [label, tracker] of this.#kinds) tracker.slot = record.tool(label);
    this.#unknown.slot = record.tool(UNKNOWN_TOOL);
  }

  /** The tools it declares, by name, and the other kinds of call it has served. */
  *toolNames(): IterableIterator<string> {
    yield* this.#tools.keys();
    yield* this.#kinds.keys();
  }

  /** This generation's own figures per tool, since it started. */
  callStats(): ToolCallStats[] {
    const out = [...this.#tools, ...this.#kinds].map(([name, tracker]) => tracker.stats(name));
    out.push(this.#unknown.stats(UNKNOWN_TOOL));
    return out;
  }

  /**
   * The record of a call of another kind (a resource read, a prompt, a completion), under a
   * label of its own (`_read`, `_prompt`, …): a bounded set, never a URI a caller sent.
   */
  #kindTracker(kind: ServeKind): ToolTracker {
    const label = `_${kind}`;
    let tracker = this.#kinds.get(label);
    if (tracker === undefined) {
      tracker = new ToolTracker(this);
      if (this.#record !== undefined) tracker.slot = this.#record.tool(label);
      this.#kinds.set(label, tracker);
    }
    return tracker;
  }

  /** The one way the state changes: a move the table does not allow is a bug, refused loudly. */
  to(next: GenerationState): void {
    if (this.#state === next) return;
    if (!moves[this.#state].includes(next)) {
      broken(
        `generation ${this.id} (${this.name}@${this.version}): ${this.#state} → ${next} is not a legal move`,
      );
      return;
    }
    this.#state = next;
  }

  hasTool(tool: string): boolean {
    return this.#tools.has(tool);
  }

  /**
   * The hot path: pin this generation for the call's whole life. `deadline` is set for a call
   * that already waited (its one deadline runs from when the host accepted it).
   */
  call(
    tool: CallTarget,
    args: unknown,
    options?: CallOptions,
    deadline?: number,
    acceptedAt?: number,
  ): Promise<unknown> {
    // A call of another kind (a [kind, key] pair) is counted under its kind and looked up by
    // the runtime, which knows the URIs its templates match.
    const tracker = typeof tool === 'string' ? this.#tools.get(tool) : this.#kindTracker(tool[0]);
    if (tracker === undefined) return this.#unknownTool(tool as string, acceptedAt);
    this.#inFlight++;
    this.#counters.calls++;
    tracker.begin();
    if (options !== undefined && 'chain' in options) {
      // A call through the host: its chain now passes this generation too.
      const inner = options as InnerCallOptions;
      const next: InnerCallOptions = {
        ...inner,
        chain: inner.chain.includes(this) ? inner.chain : [...inner.chain, this],
      };
      return this.sandbox.call(tool, args, next, tracker, deadline ?? inner.deadline, acceptedAt);
    }
    return this.sandbox.call(tool, args, options, tracker, deadline, acceptedAt);
  }

  /** Counted under UNKNOWN_TOOL, never run; kept out of `call` so the hot path stays small. */
  #unknownTool(tool: string, acceptedAt: number | undefined): Promise<never> {
    const ms = acceptedAt === undefined ? 0 : this.#clock.now() - acceptedAt;
    this.#unknown.answered(ErrorCodes.UNKNOWN_TOOL, ms);
    return Promise.reject(
      new MoltError(ErrorCodes.UNKNOWN_TOOL, `plugin "${this.name}" has no tool "${tool}"`, {
        details: { plugin: this.name, tool },
      }),
    );
  }

  /** Its tool trackers report here, once per call, when the handler is done. */
  settled(failed: boolean): void {
    if (failed) this.#counters.errors++;
    if (--this.#inFlight === 0 && this.#drainWaiters.length > 0) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves true once no handler runs, false if `timeoutMs` passes first. */
  waitDrained(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#drainWaiters = this.#drainWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        timer.clear();
        resolve(true);
      };
      this.#drainWaiters.push(done);
    });
  }

  op(op: LifecycleOp, arg: unknown): Promise<unknown> {
    const [timeoutCode, failCode] = opCodes[op];
    return this.sandbox.op(op, arg, this.limits.initTimeoutMs, timeoutCode, failCode);
  }

  /** Ends a generation that never served (a failed start, a reload that did not swap). */
  async discard(reason: string): Promise<void> {
    if (this.#state !== 'starting' && this.#state !== 'ready') return;
    await this.sandbox.terminate(ErrorCodes.PLUGIN_CRASHED, reason);
    if (this.state !== 'crashed') this.to('retired');
  }

  /**
   * Drains then ends the sandbox: calls in flight finish here; past the drain timeout they fail
   * with DRAIN_TIMEOUT and the sandbox is forced down. `crashed` when it died on its own first.
   */
  async retire(): Promise<{ drainMs: number; forced: boolean; crashed: boolean }> {
    const started = this.#clock.now();
    this.to('draining');
    const drained = await this.waitDrained(this.limits.drainTimeoutMs);
    const drainMs = this.#clock.now() - started;
    if (!drained) {
      await this.sandbox.terminate(
        ErrorCodes.DRAIN_TIMEOUT,
        `generation ${this.id} did not drain within ${this.limits.drainTimeoutMs} ms`,
      );
    } else if (this.alive) {
      // The plugin's own drain hook: close handles before the sandbox goes.
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
    // A sandbox already ending on its own (a ping went unanswered) reports its crash first.
    await this.sandbox.exited;
    const crashed = this.#state === 'crashed';
    if (!crashed) this.to('retired');
    return { drainMs, forced: !drained, crashed };
  }
}
