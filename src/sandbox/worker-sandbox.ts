/**
 * The host's handle on one sandbox worker: a request/response protocol with ids, deadlines,
 * cancellation and progress, and the rule that a worker which ends settles every request in
 * flight on it with a typed error.
 */
import { performance } from 'node:perf_hooks';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import {
  type ErrorCode,
  ErrorCodes,
  fromWireError,
  MoltError,
  toWireError,
  type WireError,
} from '../errors/errors.js';
import type {
  CallBatch,
  HostMessage,
  LoadArg,
  LoadedInfo,
  OpName,
  ReplyBatch,
  SandboxMessage,
} from './protocol.js';

const entryUrl = new URL('./worker-entry.js', import.meta.url);

export interface CallOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
}

export interface Progress {
  done: number;
  total?: number | undefined;
  message?: string | undefined;
}

export interface SandboxExit {
  /** Why the sandbox ended: a host decision (`expected`) or a crash. */
  expected: boolean;
  code: ErrorCode;
  reason: string;
  exitCode: number;
}

export interface SandboxHooks {
  onLog?(level: string, msg: string, data: unknown): void;
  onOutput?(stream: 'stdout' | 'stderr', chunk: Buffer): void;
}

/** Told when a call settles, before its promise does: in-flight accounting without a `.then`. */
export interface CallTracker {
  settled(failed: boolean): void;
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  tracker: CallTracker | undefined;
  deadline: number;
  onProgress: ((p: Progress) => void) | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface PendingOp {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout | undefined;
}

type SandboxState = 'running' | 'ending' | 'ended';

export class WorkerSandbox {
  readonly #worker: Worker;
  readonly #calls = new Map<number, PendingCall>();
  readonly #ops = new Map<number, PendingOp>();
  readonly #hooks: SandboxHooks;
  readonly #exited: Promise<SandboxExit>;
  #nextId = 1;
  #state: SandboxState = 'running';
  /** Calls of this turn not yet sent, flat: id, tool, args, id, tool, args… */
  #outbox: CallBatch = [];
  #endCode: ErrorCode = ErrorCodes.PLUGIN_CRASHED;
  #endReason = '';
  #crashError: Error | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #callTimeoutMs = 30_000;
  #unresponsiveMs = 1_000;
  #probing = false;
  /** True once the host asked for the end; any other exit is a crash. */
  #endRequested = false;
  /** Set by the owner: told once, when the sandbox ends without being asked to. */
  onCrash: ((exit: SandboxExit) => void) | undefined;

  constructor(limits: ResourceLimits, hooks: SandboxHooks = {}) {
    this.#hooks = hooks;
    this.#worker = new Worker(entryUrl, {
      resourceLimits: limits,
      stdout: true,
      stderr: true,
      execArgv: [],
    });
    this.#worker.stdout.on('data', (chunk: Buffer) => this.#hooks.onOutput?.('stdout', chunk));
    this.#worker.stderr.on('data', (chunk: Buffer) => this.#hooks.onOutput?.('stderr', chunk));
    this.#worker.on('message', (msg: SandboxMessage | ReplyBatch) => this.#onMessage(msg));
    this.#worker.on('error', (err) => {
      this.#crashError = err;
    });
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', (exitCode) => resolve(this.#onExit(exitCode)));
    });
  }

  get threadId(): number {
    return this.#worker.threadId;
  }

  get ended(): boolean {
    return this.#state !== 'running';
  }

  get exited(): Promise<SandboxExit> {
    return this.#exited;
  }

  /** Deadlines for tool calls, fixed per sandbox so pending calls stay in deadline order. */
  setTimeouts(callTimeoutMs: number, unresponsiveMs: number): void {
    this.#callTimeoutMs = callTimeoutMs;
    this.#unresponsiveMs = unresponsiveMs;
  }

  load(arg: LoadArg, timeoutMs: number): Promise<LoadedInfo> {
    return this.op(
      'load',
      arg,
      timeoutMs,
      ErrorCodes.INIT_TIMEOUT,
      ErrorCodes.LOAD_FAILED,
    ) as Promise<LoadedInfo>;
  }

  /** A lifecycle request (init, health, snapshot…) with its own timeout and error codes. */
  op(
    op: OpName,
    arg: unknown,
    timeoutMs: number,
    timeoutCode: ErrorCode,
    failCode: ErrorCode,
  ): Promise<unknown> {
    if (this.#state !== 'running') return Promise.reject(this.#endedError());
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const pending: PendingOp = {
        resolve,
        // Errors from the worker arrive as WireError; local ones (exit, timeout) are already typed.
        reject: (err: unknown) =>
          reject(
            err instanceof MoltError ? err : fromWireError(err as WireError, failCode, { op }),
          ),
        timer: undefined,
      };
      if (Number.isFinite(timeoutMs)) {
        pending.timer = setTimeout(() => {
          this.#ops.delete(id);
          reject(
            new MoltError(timeoutCode, `${op} did not finish within ${timeoutMs} ms`, {
              details: { op },
            }),
          );
        }, timeoutMs);
        pending.timer.unref();
      }
      this.#ops.set(id, pending);
      this.#post({ t: 'op', id, op, arg }, () => this.#ops.delete(id), reject);
    });
  }

  /**
   * A tool call: settles exactly once, with the handler's value or a typed error. `tracker` (if
   * given) is told first, once, on every path — including refusals before anything is sent.
   */
  call(
    tool: string,
    args: unknown,
    options?: CallOptions,
    tracker?: CallTracker,
  ): Promise<unknown> {
    if (this.#state !== 'running') {
      tracker?.settled(true);
      return Promise.reject(this.#endedError());
    }
    const signal = options?.signal;
    if (signal?.aborted) {
      tracker?.settled(true);
      return Promise.reject(cancelled(signal));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const pending: PendingCall = {
        resolve,
        reject,
        tracker,
        deadline: performance.now() + this.#callTimeoutMs,
        onProgress: options?.onProgress,
        signal,
        onAbort: undefined,
      };
      if (signal !== undefined) {
        pending.onAbort = () => {
          if (this.#calls.delete(id)) {
            const err = cancelled(signal);
            this.#send({ t: 'cancel', id, reason: toWireError(err) });
            fail(pending, err);
          }
        };
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.#calls.set(id, pending);
      if (this.#sweepTimer === undefined) this.#armSweep(this.#callTimeoutMs);
      if (this.#outbox.length === 0) queueMicrotask(this.#flush);
      this.#outbox.push(id, tool, args);
    });
  }

  /**
   * Sends the calls made in this turn as one message: a `postMessage` per call is most of a
   * call's cost at high concurrency, and batching them triples throughput at 64 in flight.
   */
  readonly #flush = (): void => {
    const box = this.#outbox;
    if (box.length === 0 || this.#state !== 'running') return;
    this.#outbox = [];
    try {
      this.#worker.postMessage(box);
    } catch {
      // One argument is not cloneable: send one by one so only that call fails.
      for (let i = 0; i < box.length; i += 3) {
        const id = box[i] as number;
        try {
          this.#worker.postMessage([id, box[i + 1], box[i + 2]]);
        } catch (err) {
          const pending = this.#takeCall(id);
          if (pending !== undefined) {
            fail(
              pending,
              new MoltError(
                ErrorCodes.DATA_CLONE,
                `arguments are not structured-cloneable: ${(err as Error).message}`,
              ),
            );
          }
        }
      }
    }
  };

  /**
   * Ends the worker. In-flight requests fail with `code`. Safe to call more than once; resolves
   * when the thread is gone.
   */
  terminate(
    code: ErrorCode = ErrorCodes.PLUGIN_CRASHED,
    reason = 'sandbox ended by the host',
  ): Promise<SandboxExit> {
    if (this.#state === 'running') {
      this.#state = 'ending';
      this.#endRequested = true;
      this.#endCode = code;
      this.#endReason = reason;
      void this.#worker.terminate();
    }
    return this.#exited;
  }

  #post(msg: HostMessage, undo: () => void, reject: (err: unknown) => void): void {
    // Queued calls go first: nothing may overtake a call, least of all its own cancel.
    this.#flush();
    try {
      this.#worker.postMessage(msg);
    } catch (err) {
      undo();
      reject(
        new MoltError(
          ErrorCodes.DATA_CLONE,
          `arguments are not structured-cloneable: ${(err as Error).message}`,
        ),
      );
    }
  }

  #send(msg: HostMessage): void {
    this.#flush();
    if (this.#state === 'running') this.#worker.postMessage(msg);
  }

  #takeCall(id: number): PendingCall | undefined {
    const pending = this.#calls.get(id);
    if (pending === undefined) return undefined;
    this.#calls.delete(id);
    if (pending.onAbort !== undefined)
      pending.signal!.removeEventListener('abort', pending.onAbort);
    return pending;
  }

  #onMessage(msg: SandboxMessage | ReplyBatch): void {
    if (Array.isArray(msg)) {
      for (let i = 0; i < msg.length; i += 2) {
        const call = this.#takeCall(msg[i] as number);
        if (call === undefined) continue;
        call.tracker?.settled(false);
        call.resolve(msg[i + 1]);
      }
      return;
    }
    switch (msg.t) {
      case 'ok': {
        const call = this.#takeCall(msg.id);
        if (call !== undefined) {
          call.tracker?.settled(false);
          call.resolve(msg.value);
        } else this.#takeOp(msg.id)?.resolve(msg.value);
        return;
      }
      case 'err': {
        const call = this.#takeCall(msg.id);
        if (call !== undefined) fail(call, fromWireError(msg.error, ErrorCodes.PLUGIN_ERROR));
        else this.#takeOp(msg.id)?.reject(msg.error);
        return;
      }
      case 'progress': {
        const call = this.#calls.get(msg.id);
        call?.onProgress?.({ done: msg.done, total: msg.total, message: msg.message });
        return;
      }
      case 'log':
        this.#hooks.onLog?.(msg.level, msg.msg, msg.data);
        return;
      default: {
        const unreachable: never = msg;
        throw new Error(`unknown sandbox message ${JSON.stringify(unreachable)}`);
      }
    }
  }

  #takeOp(id: number): PendingOp | undefined {
    const op = this.#ops.get(id);
    if (op === undefined) return undefined;
    this.#ops.delete(id);
    if (op.timer !== undefined) clearTimeout(op.timer);
    return op;
  }

  #armSweep(delayMs: number): void {
    this.#sweepTimer = setTimeout(() => this.#sweep(), Math.max(1, Math.ceil(delayMs)));
    this.#sweepTimer.unref();
  }

  /** Expires overdue calls; one timer per sandbox instead of one per call. */
  #sweep(): void {
    this.#sweepTimer = undefined;
    const now = performance.now();
    let expired = 0;
    for (const [id, call] of this.#calls) {
      if (call.deadline > now) {
        this.#armSweep(call.deadline - now);
        break;
      }
      this.#takeCall(id);
      expired++;
      const err = new MoltError(
        ErrorCodes.CALL_TIMEOUT,
        `call did not finish within ${this.#callTimeoutMs} ms`,
      );
      this.#send({ t: 'cancel', id, reason: toWireError(err) });
      fail(call, err);
    }
    if (expired > 0) this.#probe();
  }

  /** After a timeout: a worker that cannot answer a ping has a blocked event loop and is ended. */
  #probe(): void {
    if (this.#probing || this.#state !== 'running') return;
    this.#probing = true;
    this.op(
      'ping',
      undefined,
      this.#unresponsiveMs,
      ErrorCodes.CALL_TIMEOUT,
      ErrorCodes.PLUGIN_ERROR,
    ).then(
      () => {
        this.#probing = false;
      },
      () => {
        this.#probing = false;
        if (this.#state !== 'running') return;
        this.#endReason = `event loop blocked: no answer to a ping within ${this.#unresponsiveMs} ms`;
        this.#state = 'ending';
        void this.#worker.terminate();
      },
    );
  }

  #endedError(): MoltError {
    return new MoltError(this.#endCode, `sandbox ended: ${this.#endReason || 'worker exited'}`);
  }

  #onExit(exitCode: number): SandboxExit {
    const expected = this.#endRequested;
    this.#state = 'ended';
    if (this.#sweepTimer !== undefined) clearTimeout(this.#sweepTimer);
    if (!expected) {
      this.#endCode = ErrorCodes.PLUGIN_CRASHED;
      const err = this.#crashError as (Error & { code?: string }) | undefined;
      if (this.#endReason === '') {
        this.#endReason =
          err?.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? 'out of memory (the worker hit its heap limit)'
            : err !== undefined
              ? `uncaught ${err.name}: ${err.message}`
              : `worker exited with code ${exitCode}`;
      }
    }
    const error = this.#endedError();
    const calls = [...this.#calls.values()];
    const ops = [...this.#ops.values()];
    this.#calls.clear();
    this.#ops.clear();
    for (const c of calls) {
      if (c.onAbort !== undefined) c.signal!.removeEventListener('abort', c.onAbort);
      fail(c, error);
    }
    for (const o of ops) {
      if (o.timer !== undefined) clearTimeout(o.timer);
      o.reject(error);
    }
    const exit: SandboxExit = { expected, code: this.#endCode, reason: this.#endReason, exitCode };
    if (!expected) this.onCrash?.(exit);
    return exit;
  }
}

function fail(call: PendingCall, err: unknown): void {
  call.tracker?.settled(true);
  call.reject(err);
}

function cancelled(signal: AbortSignal): MoltError {
  const reason = signal.reason as unknown;
  const text =
    reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason);
  return new MoltError(ErrorCodes.CANCELLED, `call cancelled: ${text}`, { cause: reason });
}
