/**
 * What the runtime needs of a sandbox: one isolated place a generation runs in. The runtime
 * depends on this interface only; a worker thread is one implementation (`worker.ts`), and any
 * other isolation (a child process) plugs in through `SandboxFactory`.
 */
import type { ResourceLimits } from 'node:worker_threads';
import type { ErrorCode } from '../errors/errors.js';
import type { Clock } from '../util/clock.js';
import type { Grants, Isolation } from './permissions.js';
import type { CallTarget, LoadArg, LoadedInfo, LogLevel, OpName } from './protocol.js';

export interface Progress {
  done: number;
  total?: number | undefined;
  message?: string | undefined;
}

/**
 * How a call reaches the client that made it (the MCP front door gives one per request): what
 * `ctx.sample`, `ctx.elicit` and `ctx.log` inside the handler go to. A method left out is a
 * capability the client lacks (CLIENT_UNSUPPORTED). `signal` aborts when the call ends.
 */
export interface CallClient {
  sample?(params: Record<string, unknown>, signal: AbortSignal): Promise<unknown>;
  elicit?(params: Record<string, unknown>, signal: AbortSignal): Promise<unknown>;
  /** A `ctx.log` line of a handler in this call (within the log budgets) by `plugin`. */
  log?(plugin: string, level: LogLevel, msg: string, data: unknown): void;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
  /** The client of this call; none for a call from code (`ctx.sample` is then CLIENT_UNSUPPORTED). */
  client?: CallClient | undefined;
}

/**
 * A call the host makes on a plugin's behalf (`ctx.call`): it carries the chain of generations
 * the outside call passed through (opaque here: the runtime's generations), so a call back
 * into one of them goes to it directly, and the deadline of the call that asked.
 */
export interface InnerCallOptions extends CallOptions {
  chain: readonly object[];
  deadline: number;
}

/** A `ctx.call` from inside a sandbox, as the host's router gets it. */
export interface Ask {
  contract: string;
  tool: string;
  args: unknown;
  /** The asking call's (or init's) deadline, on the sandbox's clock. */
  deadline: number;
  /** Aborted when the asking call ends, is cancelled or times out, or the plugin gives up. */
  signal: AbortSignal;
  /** The asking call's chain; undefined for an outside call (the owner adds its generation). */
  chain: readonly object[] | undefined;
  /** Asked from a lifecycle op (`init`), not from a tool call. */
  fromOp: boolean;
  /** The asking call's client: the call it makes carries it on (a provider may ask it too). */
  client: CallClient | undefined;
}

/** Told of each call: once when its caller gets the answer, once when its handler is done. */
export interface CallTracker {
  /**
   * The caller got its answer: a value (`code` undefined) or a typed error with `code`, `ms`
   * after the host accepted the call (on the sandbox's clock).
   */
  answered(code: ErrorCode | undefined, ms: number): void;
  /**
   * The plugin's handler is done with the call: when it answered, or, for a call that timed
   * out or was cancelled, when the handler really returned (or the sandbox ended). A
   * generation is drained only when no handler runs, not when no caller waits.
   */
  settled(failed: boolean): void;
}

/** What a sandbox's memory measures, where the platform can tell. */
export interface SandboxMemory {
  /** A process sandbox: the child's resident set (Linux's /proc). */
  residentBytes?: number;
  /** A worker sandbox: its V8 heap in use (Node 22.16+ and 24; Node 20 cannot tell). */
  heapUsedBytes?: number;
}

export interface SandboxExit {
  /** Whether the host asked for the end; any other exit is a crash. */
  expected: boolean;
  code: ErrorCode;
  reason: string;
  exitCode: number;
}

/** What was dropped over a generation's budgets since the last report. */
export interface Dropped {
  logs: number;
  progress: number;
  outputBytes: number;
}

export interface SandboxHooks {
  /**
   * A log line; `dropped` is set on the report of what was dropped over the budgets.
   * `client`: the client of the call whose handler logged it, when that client takes logs.
   */
  onLog?(level: LogLevel, msg: string, data: unknown, dropped?: Dropped, client?: CallClient): void;
  onOutput?(stream: 'stdout' | 'stderr', chunk: Buffer): void;
  /** `ctx.resourceUpdated(uri)` in the plugin (within the host's rate budget). */
  onResourceUpdated?(uri: string): void;
  /** A `ctx.call`: settles with what the plugin gets back. */
  onAsk?(ask: Ask): Promise<unknown>;
}

export interface Sandbox {
  /** True once the sandbox is ending or has ended: it takes no new work. */
  readonly ended: boolean;
  /** Resolves once the sandbox is gone, with why. */
  readonly exited: Promise<SandboxExit>;
  /** Set by the owner: told once, when the sandbox ends without being asked to. */
  onCrash: ((exit: SandboxExit) => void) | undefined;
  /** The default call deadline and how long a sandbox may stay silent after a timeout. */
  setTimeouts(callTimeoutMs: number, unresponsiveMs: number): void;
  load(arg: LoadArg, timeoutMs: number): Promise<LoadedInfo>;
  /** A lifecycle request with its own timeout and the codes its timeout and failure get. */
  op(
    op: OpName,
    arg: unknown,
    timeoutMs: number,
    timeoutCode: ErrorCode,
    failCode: ErrorCode,
  ): Promise<unknown>;
  /**
   * A tool call: settles exactly once, with the handler's value or a typed error. `tracker` is
   * told once when the handler is done. `deadline` (on the sandbox's clock) is set for a call
   * that already waited, whose one deadline runs from when the host accepted it; otherwise the
   * call gets the sandbox's call timeout from now. `acceptedAt` is when the host accepted a
   * call that waited (now, when absent). Separate arguments, not an options object: this runs
   * for every call. `tool` is a tool's name, or what a call of
   * another kind serves.
   */
  call(
    tool: CallTarget,
    args: unknown,
    options: CallOptions | undefined,
    tracker: CallTracker | undefined,
    deadline?: number,
    acceptedAt?: number,
  ): Promise<unknown>;
  /** How much memory it holds now, if its kind can tell; bounded in time by the caller. */
  memory?(): Promise<SandboxMemory | undefined>;
  /** Ends the sandbox; work in flight fails with `code`. Safe to call more than once. */
  terminate(code?: ErrorCode, reason?: string): Promise<SandboxExit>;
}

/**
 * What a sandbox is made with. Everything but the clock is fixed when the sandbox starts, so
 * warm standbys are kept per spec (`specKey`).
 */
export interface SandboxSpec {
  isolation: Isolation;
  /** JS heap limits (a worker's `resourceLimits`; a process's V8 flags). */
  resourceLimits: ResourceLimits;
  /** Process sandboxes: the cap of the whole process's memory, in MB (RSS). */
  memoryMb: number | undefined;
  /** Process sandboxes: what the plugin may touch beyond its own folders. */
  grants: Grants;
  /** The plugin's data folder: the one place it may write (process sandboxes enforce it). */
  dataDir: string;
  /** The whole environment the plugin sees as `process.env`. */
  env: Record<string, string>;
  clock: Clock;
}

/**
 * Sandboxes made from specs with one key are interchangeable: a standby of one serves any. A
 * worker is told its data folder at load and enforces no grants, so one worker standby serves
 * every plugin with the same limits and environment.
 */
export function specKey(spec: SandboxSpec): string {
  const { isolation, resourceLimits, env } = spec;
  if (isolation === 'worker') return JSON.stringify({ isolation, resourceLimits, env });
  const { clock: _clock, ...fixed } = spec;
  return JSON.stringify(fixed);
}

export type SandboxFactory = (spec: SandboxSpec, hooks: SandboxHooks) => Sandbox;
