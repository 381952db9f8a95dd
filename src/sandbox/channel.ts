/**
 * The host's side of the sandbox protocol, over any transport that moves structured-cloneable
 * messages (a worker's port, a child process's IPC): ids, deadlines, batching, cancellation,
 * progress, and the rule that a sandbox which ends settles everything in flight on it with a
 * typed error. A sandbox kind only supplies the `Transport`.
 */
import {
  type ErrorCode,
  ErrorCodes,
  fromWireError,
  isMoltError,
  MoltError,
  toWireError,
  type WireError,
} from '../errors/errors.js';
import type { Clock, Timer } from '../util/clock.js';
import { BUDGETS, Budget } from './budget.js';
import { CallSignal } from './call-signal.js';
import { askClient } from './client-ask.js';
import {
  type CallBatch,
  type CallTarget,
  type HostMessage,
  isSandboxMessage,
  type LoadArg,
  type LoadedInfo,
  type OpName,
  type SandboxMessage,
} from './protocol.js';
import type {
  CallClient,
  CallOptions,
  CallTracker,
  InnerCallOptions,
  Progress,
  Sandbox,
  SandboxExit,
  SandboxHooks,
  SandboxMemory,
} from './sandbox.js';
import { exceedsBytes } from './size.js';

/** Moves messages to one sandbox and ends it. */
export interface Transport {
  /** Sends a message; throws if it cannot be serialized (a DataCloneError). */
  post(msg: HostMessage | CallBatch): void;
  /** Ends the sandbox now; `exit` follows. */
  end(): void;
  /** What the sandbox's memory measures, where its kind can tell. */
  memory?(): Promise<SandboxMemory | undefined>;
}

/** What a transport reports to its channel. */
export interface TransportEvents {
  message(msg: unknown): void;
  /** The sandbox is gone. `error` is what killed it, when something did. */
  exit(exitCode: number, error: (Error & { code?: string }) | undefined): void;
  output(stream: 'stdout' | 'stderr', chunk: Buffer): void;
  /** The sandbox broke the transport's own rules (a frame over the cap): PROTOCOL_ERROR. */
  breach(reason: string): void;
}

/** What an ask needs of the call or op it belongs to. */
interface AskOwner {
  deadline: number;
  /** The `ctx.call`s this call or op has in flight: aborted when it ends. */
  asks: Set<CallSignal> | undefined;
}

interface PendingCall extends AskOwner {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  tracker: CallTracker | undefined;
  /** When the host accepted the call (the clock's time): its latency runs from here. */
  started: number;
  /** When the call times out; calls without their own timer expire in insertion order. */
  deadline: number;
  timer: Timer | undefined;
  onProgress: ((p: Progress) => void) | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Set for a call made through the host (`ctx.call`): the generations its chain passed. */
  chain: readonly object[] | undefined;
  /** Who made the call, when a client did: `ctx.sample`, `ctx.elicit` and `ctx.log` reach it. */
  client: CallClient | undefined;
}

interface PendingOp extends AskOwner {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: Timer | undefined;
}

/** How many `ctx.call`s one sandbox may have in flight; more are refused, not queued. */
const MAX_ASKS = 1_024;

type ChannelState = 'running' | 'ending' | 'ended';

export class Channel implements Sandbox {
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #hooks: SandboxHooks;
  readonly #calls = new Map<number, PendingCall>();
  /** Calls whose caller already has its answer (timeout, cancel) but whose handler may run on. */
  readonly #abandoned = new Map<number, CallTracker | undefined>();
  readonly #ops = new Map<number, PendingOp>();
  /** The `ctx.call`s in flight, by the sandbox's ask id. */
  readonly #asks = new Map<number, CallSignal>();
  /** Answers to asks of this turn not yet sent, flat: id, ok, value or error… */
  #answers: unknown[] = [];
  readonly #exited: Promise<SandboxExit>;
  #resolveExit!: (exit: SandboxExit) => void;
  #nextId = 1;
  #state: ChannelState = 'running';
  /** Calls of this turn not yet sent, flat: id, tool, args, id, tool, args… */
  #outbox: CallBatch = [];
  #endCode: ErrorCode = ErrorCodes.PLUGIN_CRASHED;
  #endReason = '';
  #sweepTimer: Timer | undefined;
  #callTimeoutMs = 30_000;
  #unresponsiveMs = 1_000;
  #probing = false;
  /** True once the host asked for the end; any other exit is a crash. */
  #endRequested = false;
  /** Set when the host ended the sandbox for what it did (PROTOCOL_ERROR, MEMORY_LIMIT…). */
  #crashCode: ErrorCode | undefined;
  // The host's own budgets, behind the sandbox runtime's: plugin code shares the sandbox and can
  // post around the runtime's, so the host drops what is over (twice the runtime's rate).
  readonly #logBudget = new Budget(2 * BUDGETS.logsPerSecond, 4 * BUDGETS.logsPerSecond);
  readonly #progressBudget = new Budget(
    2 * BUDGETS.progressPerSecond,
    4 * BUDGETS.progressPerSecond,
  );
  readonly #updateBudget = new Budget(2 * BUDGETS.updatesPerSecond, 4 * BUDGETS.updatesPerSecond);
  readonly #outputBudget = {
    stdout: new Budget(BUDGETS.outputBytesPerSecond, BUDGETS.outputBurstBytes),
    stderr: new Budget(BUDGETS.outputBytesPerSecond, BUDGETS.outputBurstBytes),
  };
  #dropReport: Timer | undefined;
  onCrash: ((exit: SandboxExit) => void) | undefined;

  constructor(clock: Clock, hooks: SandboxHooks, connect: (events: TransportEvents) => Transport) {
    this.#clock = clock;
    this.#hooks = hooks;
    this.#exited = new Promise((resolve) => {
      this.#resolveExit = resolve;
    });
    this.#transport = connect({
      message: (msg) => this.#onMessage(msg),
      exit: (exitCode, error) => this.#onExit(exitCode, error),
      output: (stream, chunk) => this.#onOutput(stream, chunk),
      breach: (reason) => this.#breach(reason, ErrorCodes.PROTOCOL_ERROR),
    });
  }

  get ended(): boolean {
    return this.#state !== 'running';
  }

  get exited(): Promise<SandboxExit> {
    return this.#exited;
  }

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
        // The sandbox runtime's own errors keep their code; anything the plugin threw gets ours.
        reject: (err: unknown) =>
          reject(
            err instanceof MoltError ? err : fromWireError(err as WireError, failCode, { op }),
          ),
        timer: undefined,
        deadline: this.#clock.now() + timeoutMs,
        asks: undefined,
      };
      if (Number.isFinite(timeoutMs)) {
        pending.timer = this.#clock.setTimeout(() => {
          this.#ops.delete(id);
          endAsks(pending);
          reject(
            new MoltError(timeoutCode, `${op} did not finish within ${timeoutMs} ms`, {
              details: { op },
            }),
          );
        }, timeoutMs);
      }
      this.#ops.set(id, pending);
      this.#post(
        { t: 'op', id, op, arg },
        () => {
          this.#ops.delete(id);
          pending.timer?.clear();
        },
        reject,
      );
    });
  }

  call(
    tool: CallTarget,
    args: unknown,
    options: CallOptions | undefined,
    tracker: CallTracker | undefined,
    deadline?: number,
    acceptedAt?: number,
  ): Promise<unknown> {
    const now = this.#clock.now();
    const started = acceptedAt ?? now;
    if (this.#state !== 'running') return refuse(tracker, this.#endedError(), now - started);
    const signal = options?.signal;
    if (signal?.aborted) return refuse(tracker, cancelled(signal), now - started);
    if (deadline !== undefined && deadline <= now)
      return refuse(tracker, this.#timeoutError(), now - started);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const pending: PendingCall = {
        resolve,
        reject,
        tracker,
        started,
        deadline: deadline ?? now + this.#callTimeoutMs,
        timer: undefined,
        onProgress: options?.onProgress,
        signal,
        onAbort: undefined,
        asks: undefined,
        chain: (options as InnerCallOptions | undefined)?.chain,
        client: options?.client,
      };
      if (signal !== undefined) {
        pending.onAbort = () => this.#abandon(id, cancelled(signal));
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.#calls.set(id, pending);
      // A deadline set earlier (a call that waited in a hold queue) is out of insertion order,
      // so it gets a timer of its own; every other call shares the one sweep.
      if (deadline !== undefined) {
        pending.timer = this.#clock.setTimeout(() => this.#expire(id), deadline - now);
      } else if (this.#sweepTimer === undefined) {
        this.#armSweep(this.#callTimeoutMs);
      }
      // Alone, a call goes at the end of this task. With others in flight the sandbox is busy
      // anyway: it goes once the event loop's phase is done, so calls that arrive on separate
      // sockets in one poll (an MCP server under load) share one message and one wake-up.
      if (this.#outbox.length === 0)
        (this.#calls.size > 1 ? setImmediate : queueMicrotask)(this.#flush);
      this.#outbox.push(id, tool, args);
    });
  }

  /**
   * Sends the calls made in this turn of the event loop as one message: a `postMessage` per
   * call is most of a call's cost at high concurrency, and batching them triples throughput at
   * 64 in flight.
   */
  readonly #flush = (): void => {
    const box = this.#outbox;
    if (box.length === 0 || this.#state !== 'running') return;
    this.#outbox = [];
    try {
      this.#transport.post(box);
    } catch {
      // One argument is not cloneable: send one by one so only that call fails.
      for (let i = 0; i < box.length; i += 3) {
        const id = box[i] as number;
        try {
          this.#transport.post([id, box[i + 1], box[i + 2]]);
        } catch (err) {
          const pending = this.#takeCall(id);
          if (pending !== undefined) {
            fail(
              pending,
              this.#clock.now(),
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

  terminate(
    code: ErrorCode = ErrorCodes.PLUGIN_CRASHED,
    reason = 'sandbox ended by the host',
  ): Promise<SandboxExit> {
    if (this.#state === 'running') {
      this.#state = 'ending';
      this.#endRequested = true;
      this.#endCode = code;
      this.#endReason = reason;
      this.#transport.end();
    }
    return this.#exited;
  }

  #post(msg: HostMessage, undo: () => void, reject: (err: unknown) => void): void {
    // Queued calls go first: nothing may overtake a call, least of all its own cancel.
    this.#flush();
    try {
      this.#transport.post(msg);
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
    if (this.#state === 'running') this.#transport.post(msg);
  }

  #takeCall(id: number): PendingCall | undefined {
    const pending = this.#calls.get(id);
    if (pending === undefined) return undefined;
    this.#calls.delete(id);
    pending.timer?.clear();
    if (pending.onAbort !== undefined)
      pending.signal!.removeEventListener('abort', pending.onAbort);
    endAsks(pending);
    return pending;
  }

  /**
   * The caller gets `err` now; the handler is told to stop and stays counted until it returns,
   * so a handover never snapshots state a late handler is still writing.
   */
  #abandon(id: number, err: MoltError): void {
    const pending = this.#takeCall(id);
    if (pending === undefined) return;
    this.#abandoned.set(id, pending.tracker);
    this.#send({ t: 'cancel', id, reason: toWireError(err) });
    pending.tracker?.answered(err.code, this.#clock.now() - pending.started);
    pending.reject(err);
  }

  /**
   * A handler finished (or the sandbox ended): settle whoever still waits for that. `now` is
   * read once per message, not per call: a batch answers many calls, and a clock read costs
   * as much as the rest of a call's bookkeeping.
   */
  #settle(id: number, ok: boolean, value: unknown, now: number): void {
    const call = this.#takeCall(id);
    if (call !== undefined) {
      if (ok) {
        call.tracker?.answered(undefined, now - call.started);
        call.tracker?.settled(false);
        call.resolve(value);
      } else fail(call, now, fromWireError(value as WireError, ErrorCodes.PLUGIN_ERROR));
      return;
    }
    if (this.#abandoned.has(id)) {
      const tracker = this.#abandoned.get(id);
      this.#abandoned.delete(id);
      tracker?.settled(true);
      return;
    }
    const op = this.#takeOp(id);
    if (ok) op?.resolve(value);
    else op?.reject(value);
  }

  #onOutput(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.#outputBudget[stream].take(this.#clock.now(), chunk.length)) {
      this.#hooks.onOutput?.(stream, chunk);
    } else this.#dropped();
  }

  /** Drops are reported once a second at most, as one `plugin.log` with their counts. */
  #dropped(): void {
    if (this.#dropReport !== undefined || this.#state === 'ended') return;
    this.#dropReport = this.#clock.setTimeout(() => this.#reportDrops(), 1_000);
  }

  #reportDrops(): void {
    this.#dropReport = undefined;
    const logs = this.#logBudget.takeDropped();
    const progress = this.#progressBudget.takeDropped();
    const outputBytes =
      this.#outputBudget.stdout.takeDropped() + this.#outputBudget.stderr.takeDropped();
    if (logs + progress + outputBytes === 0) return;
    this.#hooks.onLog?.(
      'warn',
      `the host dropped ${logs} log line(s), ${progress} progress note(s) and ${outputBytes} output byte(s) over the budget`,
      undefined,
      { logs, progress, outputBytes },
    );
  }

  /** What the sandbox's memory measures now; nothing once it has ended. */
  memory(): Promise<SandboxMemory | undefined> {
    if (this.#state !== 'running' || this.#transport.memory === undefined)
      return Promise.resolve(undefined);
    return this.#transport.memory();
  }

  /** Ends the sandbox for what it did: a crash with `code`, not a host request. */
  crash(code: ErrorCode, reason: string): void {
    this.#breach(reason, code);
  }

  #onMessage(msg: unknown): void {
    if (!isSandboxMessage(msg)) {
      this.#breach('a message that is not molt protocol', ErrorCodes.PROTOCOL_ERROR);
      return;
    }
    if (Array.isArray(msg)) {
      const now = this.#clock.now();
      for (let i = 0; i < msg.length; i += 2) this.#settle(msg[i] as number, true, msg[i + 1], now);
      return;
    }
    const m = msg as SandboxMessage;
    switch (m.t) {
      case 'ok':
        this.#settle(m.id, true, m.value, this.#clock.now());
        return;
      case 'err':
        this.#settle(m.id, false, m.error, this.#clock.now());
        return;
      case 'progress':
        if (this.#progressBudget.take(this.#clock.now())) {
          this.#calls.get(m.id)?.onProgress?.({ done: m.done, total: m.total, message: m.message });
        } else this.#dropped();
        return;
      case 'log':
        if (this.#logBudget.take(this.#clock.now())) {
          // The runtime leaves large data out; what reaches here larger was forged around it.
          const data =
            m.data !== undefined && exceedsBytes(m.data, 2 * BUDGETS.logDataBytes)
              ? `[log data over ${BUDGETS.logDataBytes} bytes left out]`
              : m.data;
          const client = m.on === undefined ? undefined : this.#logClient(m.on);
          this.#hooks.onLog?.(
            m.level,
            m.msg,
            data,
            m.dropped === undefined
              ? undefined
              : {
                  logs: m.dropped.logs,
                  progress: m.dropped.progress,
                  outputBytes: m.dropped.outputBytes,
                },
            client,
          );
        } else this.#dropped();
        return;
      case 'updated':
        // Over the host's budget a note is dropped: subscribers re-read on the next one.
        if (this.#updateBudget.take(this.#clock.now())) this.#hooks.onResourceUpdated?.(m.uri);
        return;
      case 'ask':
        this.#ask(m);
        return;
      case 'askCancel':
        this.#asks.get(m.id)?.abort(new MoltError(ErrorCodes.CANCELLED, 'the plugin gave up'));
        return;
      default: {
        const unreachable: never = m;
        this.#breach(`unknown message ${String(unreachable)}`, ErrorCodes.PROTOCOL_ERROR);
      }
    }
  }

  /**
   * A `ctx.call` (routed by the owner's hook with the asking call's deadline, chain and client)
   * or a `ctx.sample`/`ctx.elicit` (sent to the asking call's client), answered exactly once. It
   * ends with the call that made it (answered, timed out, cancelled) or with the sandbox; an
   * ask for a call already gone is refused at once.
   */
  #ask(m: Extract<SandboxMessage, { t: 'ask' }>): void {
    const call = this.#calls.get(m.on);
    const owner: AskOwner | undefined = call ?? this.#ops.get(m.on);
    let refusal: MoltError | undefined;
    if (owner === undefined)
      refusal = new MoltError(ErrorCodes.CANCELLED, 'the call that asked has already ended');
    else if (this.#asks.size >= MAX_ASKS || this.#asks.has(m.id))
      refusal = new MoltError(
        ErrorCodes.QUEUE_FULL,
        `more than ${MAX_ASKS} calls through the host in flight from one sandbox`,
      );
    if (refusal !== undefined || owner === undefined) {
      this.#answer(m.id, false, askError(refusal));
      return;
    }
    const controller = new CallSignal();
    this.#asks.set(m.id, controller);
    owner.asks ??= new Set();
    owner.asks.add(controller);
    let settled: Promise<unknown>;
    try {
      settled =
        m.kind === undefined
          ? this.#route(m, owner, call, controller.asSignal)
          : askClient(m.kind, m.params, call?.client, realSignal(controller));
    } catch (err) {
      settled = Promise.reject(err);
    }
    settled.then(
      (value) => this.#endAsk(m.id, controller, owner, true, value),
      (err: unknown) => this.#endAsk(m.id, controller, owner, false, err),
    );
  }

  #route(
    m: Extract<SandboxMessage, { t: 'ask'; kind?: undefined }>,
    owner: AskOwner,
    call: PendingCall | undefined,
    signal: AbortSignal,
  ): Promise<unknown> {
    if (this.#hooks.onAsk === undefined)
      throw new MoltError(ErrorCodes.CONTRACT_UNSATISFIED, 'no contract can be called here');
    return this.#hooks.onAsk({
      contract: m.contract,
      tool: m.tool,
      args: m.args,
      deadline: owner.deadline,
      signal,
      chain: call?.chain,
      fromOp: call === undefined,
      client: call?.client,
    });
  }

  /** The client of call `on`, if it takes log lines (the owner's hook gives them to it). */
  #logClient(on: number): CallClient | undefined {
    const client = this.#calls.get(on)?.client;
    return client?.log === undefined ? undefined : client;
  }

  #endAsk(id: number, controller: CallSignal, owner: AskOwner, ok: boolean, value: unknown): void {
    this.#asks.delete(id);
    owner.asks?.delete(controller);
    if (ok) this.#answer(id, true, value);
    else this.#answer(id, false, askError(value));
  }

  /**
   * Answers travel like calls: the answers of one turn in one message, since a message per
   * answer was most of a call through the host's cost on the host's thread.
   */
  #answer(id: number, ok: boolean, payload: unknown): void {
    if (this.#state !== 'running') return;
    if (this.#answers.length === 0) queueMicrotask(this.#flushAnswers);
    this.#answers.push(id, ok, payload);
  }

  readonly #flushAnswers = (): void => {
    const batch = this.#answers;
    if (batch.length === 0 || this.#state !== 'running') return;
    this.#answers = [];
    try {
      this.#transport.post({ t: 'answers', batch });
    } catch {
      // One answer is not cloneable: send one by one, and that one as the error it is.
      for (let i = 0; i < batch.length; i += 3) {
        const one = [batch[i], batch[i + 1], batch[i + 2]];
        try {
          this.#transport.post({ t: 'answers', batch: one });
        } catch (err) {
          const refused = new MoltError(
            ErrorCodes.DATA_CLONE,
            `the answer is not structured-cloneable: ${(err as Error).message}`,
          );
          this.#transport.post({ t: 'answers', batch: [batch[i], false, askError(refused)] });
        }
      }
    }
  };

  #takeOp(id: number): PendingOp | undefined {
    const op = this.#ops.get(id);
    if (op === undefined) return undefined;
    this.#ops.delete(id);
    op.timer?.clear();
    endAsks(op);
    return op;
  }

  #armSweep(delayMs: number): void {
    this.#sweepTimer = this.#clock.setTimeout(() => this.#sweep(), Math.max(1, Math.ceil(delayMs)));
  }

  #timeoutError(): MoltError {
    return new MoltError(
      ErrorCodes.CALL_TIMEOUT,
      `call did not finish within ${this.#callTimeoutMs} ms`,
    );
  }

  /** Expires overdue calls; one timer per sandbox instead of one per call. */
  #sweep(): void {
    this.#sweepTimer = undefined;
    const now = this.#clock.now();
    let expired = 0;
    for (const [id, call] of this.#calls) {
      if (call.timer !== undefined) continue;
      if (call.deadline > now) {
        this.#armSweep(call.deadline - now);
        break;
      }
      this.#abandon(id, this.#timeoutError());
      expired++;
    }
    if (expired > 0) this.#probe();
  }

  #expire(id: number): void {
    if (!this.#calls.has(id)) return;
    this.#abandon(id, this.#timeoutError());
    this.#probe();
  }

  /** After a timeout: a sandbox that cannot answer a ping has a blocked event loop and is ended. */
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
        this.#breach(
          `event loop blocked: no answer to a ping within ${this.#unresponsiveMs} ms`,
          ErrorCodes.PLUGIN_CRASHED,
        );
      },
    );
  }

  /** Ends a sandbox that broke the protocol or stopped answering: a crash, not a host request. */
  #breach(reason: string, code: ErrorCode): void {
    if (this.#state !== 'running') return;
    this.#endReason = reason;
    this.#crashCode = code;
    this.#state = 'ending';
    this.#transport.end();
  }

  #endedError(): MoltError {
    return new MoltError(this.#endCode, `sandbox ended: ${this.#endReason || 'it exited'}`);
  }

  #onExit(exitCode: number, error: (Error & { code?: string }) | undefined): void {
    if (this.#state === 'ended') return;
    const expected = this.#endRequested;
    this.#state = 'ended';
    this.#sweepTimer?.clear();
    this.#dropReport?.clear();
    if (!expected) {
      const oom = error?.code === 'ERR_WORKER_OUT_OF_MEMORY' || error?.code === 'ERR_OUT_OF_MEMORY';
      this.#endCode =
        this.#crashCode ?? (oom ? ErrorCodes.MEMORY_LIMIT : ErrorCodes.PLUGIN_CRASHED);
      if (this.#endReason === '') {
        this.#endReason = oom
          ? 'out of memory (the sandbox hit its heap limit)'
          : error !== undefined
            ? `uncaught ${error.name}: ${error.message}`
            : `it exited with code ${exitCode}`;
      }
    }
    const err = this.#endedError();
    const now = this.#clock.now();
    const calls = [...this.#calls.values()];
    const abandoned = [...this.#abandoned.values()];
    const ops = [...this.#ops.values()];
    for (const controller of this.#asks.values()) controller.abort(err);
    this.#asks.clear();
    this.#calls.clear();
    this.#abandoned.clear();
    this.#ops.clear();
    for (const c of calls) {
      c.timer?.clear();
      if (c.onAbort !== undefined) c.signal!.removeEventListener('abort', c.onAbort);
      fail(c, now, err);
    }
    for (const tracker of abandoned) tracker?.settled(true);
    for (const o of ops) {
      o.timer?.clear();
      o.reject(err);
    }
    const exit: SandboxExit = { expected, code: this.#endCode, reason: this.#endReason, exitCode };
    this.#resolveExit(exit);
    if (!expected) this.onCrash?.(exit);
  }
}

/** A failed ask as the plugin gets it: the host's own code travels as molt's (a plugin that
 * rethrows it passes it on), without the provider's stack. */
function askError(value: unknown): WireError {
  const e = isMoltError(value)
    ? value
    : new MoltError(ErrorCodes.INTERNAL, value instanceof Error ? value.message : String(value));
  return {
    fromMolt: true,
    code: e.code,
    message: e.message,
    details: e.details === undefined ? undefined : plain(e.details),
  };
}

/** Aborts the `ctx.call`s a call or op still has in flight: it no longer waits for them. */
function endAsks(owner: AskOwner): void {
  if (owner.asks === undefined || owner.asks.size === 0) return;
  const reason = new MoltError(ErrorCodes.CANCELLED, 'the call that asked has ended');
  for (const controller of owner.asks) controller.abort(reason);
  owner.asks.clear();
}

/**
 * Details as plain data: they cross into the sandbox, where only cloneable values go. The
 * provider's stack stays on the host: one plugin does not read another's internals.
 */
function plain(details: Record<string, unknown>): Record<string, unknown> | undefined {
  const { remoteStack: _stack, ...rest } = details;
  try {
    return structuredClone(rest);
  } catch {
    return undefined;
  }
}

function fail(call: PendingCall, now: number, err: MoltError): void {
  call.tracker?.answered(err.code, now - call.started);
  call.tracker?.settled(true);
  call.reject(err);
}

/** A call refused before it was sent: answered and settled at once. */
function refuse(tracker: CallTracker | undefined, err: MoltError, ms: number): Promise<never> {
  tracker?.answered(err.code, ms);
  tracker?.settled(true);
  return Promise.reject(err);
}

function cancelled(signal: AbortSignal): MoltError {
  const reason = signal.reason as unknown;
  const text =
    reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason);
  return new MoltError(ErrorCodes.CANCELLED, `call cancelled: ${text}`, { cause: reason });
}

/**
 * A real `AbortSignal` following `signal`: a client request goes to the MCP SDK, which may use
 * more of one than a `CallSignal` has. Made only for `ctx.sample`/`ctx.elicit`, which are rare.
 */
function realSignal(signal: CallSignal): AbortSignal {
  const controller = new AbortController();
  if (signal.aborted) controller.abort(signal.reason);
  else signal.addEventListener('abort', () => controller.abort(signal.reason));
  return controller.signal;
}
