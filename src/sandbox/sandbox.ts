/**
 * What the runtime needs of a sandbox: one isolated place a generation runs in. The runtime
 * depends on this interface only; a worker thread is one implementation (`worker.ts`), and any
 * other isolation (a child process) plugs in through `SandboxFactory`.
 */
import type { ResourceLimits } from 'node:worker_threads';
import type { ErrorCode } from '../errors/errors.js';
import type { Clock } from '../util/clock.js';
import type { LoadArg, LoadedInfo, LogLevel, OpName } from './protocol.js';

export interface Progress {
  done: number;
  total?: number | undefined;
  message?: string | undefined;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
}

/**
 * Told once per call, when the plugin's handler is done with it: when it answered, or, for a
 * call that timed out or was cancelled, when the handler really returned (or the sandbox
 * ended). A generation is drained only when no handler runs, not when no caller waits.
 */
export interface CallTracker {
  settled(failed: boolean): void;
}

export interface SandboxExit {
  /** Whether the host asked for the end; any other exit is a crash. */
  expected: boolean;
  code: ErrorCode;
  reason: string;
  exitCode: number;
}

export interface SandboxHooks {
  onLog?(level: LogLevel, msg: string, data: unknown): void;
  onOutput?(stream: 'stdout' | 'stderr', chunk: Buffer): void;
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
   * call gets the sandbox's call timeout from now. Separate arguments, not an options object:
   * this runs for every call.
   */
  call(
    tool: string,
    args: unknown,
    options: CallOptions | undefined,
    tracker: CallTracker | undefined,
    deadline?: number,
  ): Promise<unknown>;
  /** Ends the sandbox; work in flight fails with `code`. Safe to call more than once. */
  terminate(code?: ErrorCode, reason?: string): Promise<SandboxExit>;
}

/** What a sandbox is made with: its resource limits and the host's clock. */
export interface SandboxSpec {
  resourceLimits: ResourceLimits;
  clock: Clock;
}

export type SandboxFactory = (spec: SandboxSpec, hooks: SandboxHooks) => Sandbox;
