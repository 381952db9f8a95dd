/**
 * Warm standby: blank sandboxes started ahead, so a reload pays only for the import and init.
 * A sandbox's kind, limits, grants and environment are fixed when it starts, so standbys are
 * kept per spec key.
 */
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { createProcessSandbox } from './process.js';
import type { LogLevel } from './protocol.js';
import {
  type Ask,
  type CallClient,
  type Dropped,
  type Sandbox,
  type SandboxFactory,
  type SandboxHooks,
  type SandboxSpec,
  specKey,
} from './sandbox.js';
import { createWorkerSandbox } from './worker.js';

/** Each isolation's own kind of sandbox. */
export const defaultSandboxFactory: SandboxFactory = (spec, hooks) =>
  spec.isolation === 'process'
    ? createProcessSandbox(spec, hooks)
    : createWorkerSandbox(spec, hooks);

interface Standby {
  sandbox: Sandbox;
  hooks: DeferredHooks;
  spec: SandboxSpec;
}

const noRouter = (): MoltError =>
  new MoltError(ErrorCodes.CONTRACT_UNSATISFIED, 'no contract can be called from this sandbox');

/** Hooks whose target is set when the standby is handed to a generation. */
class DeferredHooks implements SandboxHooks {
  target: SandboxHooks = {};
  onLog(level: LogLevel, msg: string, data: unknown, dropped?: Dropped, client?: CallClient): void {
    this.target.onLog?.(level, msg, data, dropped, client);
  }
  onOutput(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this.target.onOutput?.(stream, chunk);
  }
  onResourceUpdated(uri: string): void {
    this.target.onResourceUpdated?.(uri);
  }
  onAsk(ask: Ask): Promise<unknown> {
    return this.target.onAsk?.(ask) ?? Promise.reject(noRouter());
  }
}

export class SandboxPool {
  readonly #factory: SandboxFactory;
  readonly #size: number;
  readonly #standby = new Map<string, Standby[]>();
  #closed = false;

  constructor(factory: SandboxFactory, size: number) {
    this.#factory = factory;
    this.#size = size;
  }

  /** Starts the standbys for `spec` ahead of need. */
  warm(spec: SandboxSpec): void {
    if (this.#closed || this.#size === 0) return;
    const key = specKey(spec);
    let list = this.#standby.get(key);
    if (list === undefined) {
      list = [];
      this.#standby.set(key, list);
    }
    while (list.length < this.#size) {
      const hooks = new DeferredHooks();
      const sandbox = this.#factory(spec, hooks);
      const entry: Standby = { sandbox, hooks, spec };
      // A standby that dies before use is dropped, never handed out.
      sandbox.onCrash = () => {
        const at = list.indexOf(entry);
        if (at >= 0) list.splice(at, 1);
      };
      list.push(entry);
    }
  }

  /**
   * A started sandbox for `spec`: a warm one if there is one, else a new one. The caller
   * calls `warm(spec)` once the sandbox it took has loaded: a standby booting meanwhile would
   * take CPU from that very load (on 2 cores, +30% to a reload's p50).
   */
  take(spec: SandboxSpec, hooks: SandboxHooks): Sandbox {
    if (this.#closed) throw new MoltError(ErrorCodes.HOST_CLOSED, 'the host is closed');
    const standby = this.#standby.get(specKey(spec))?.shift();
    if (standby === undefined || standby.sandbox.ended) {
      return this.#factory(spec, hooks);
    }
    standby.hooks.target = hooks;
    standby.sandbox.onCrash = undefined;
    return standby.sandbox;
  }

  /**
   * Ends the standbys no plugin can use any more (a process standby is made for one plugin's
   * grants: once it is unloaded, the standby would only hold a process).
   */
  discard(unused: (spec: SandboxSpec) => boolean): void {
    for (const list of this.#standby.values()) {
      // In place: each standby's crash handler holds this very list.
      for (let i = list.length - 1; i >= 0; i--) {
        const s = list[i]!;
        if (!unused(s.spec)) continue;
        list.splice(i, 1);
        void s.sandbox.terminate();
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#standby.values()].flat();
    this.#standby.clear();
    await Promise.all(all.map((s) => s.sandbox.terminate()));
  }
}
