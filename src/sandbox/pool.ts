/**
 * Warm standby: blank sandboxes started ahead, so a reload pays only for the import and init.
 * A sandbox's resource limits are fixed when it starts, so standbys are kept per limits key.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import type { Clock } from '../util/clock.js';
import type { LogLevel } from './protocol.js';
import type { Sandbox, SandboxFactory, SandboxHooks } from './sandbox.js';
import { createWorkerSandbox } from './worker.js';

export const defaultSandboxFactory: SandboxFactory = createWorkerSandbox;

interface Standby {
  sandbox: Sandbox;
  hooks: DeferredHooks;
}

/** Hooks whose target is set when the standby is handed to a generation. */
class DeferredHooks implements SandboxHooks {
  target: SandboxHooks = {};
  onLog(level: LogLevel, msg: string, data: unknown): void {
    this.target.onLog?.(level, msg, data);
  }
  onOutput(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this.target.onOutput?.(stream, chunk);
  }
}

export class SandboxPool {
  readonly #factory: SandboxFactory;
  readonly #size: number;
  readonly #clock: Clock;
  readonly #standby = new Map<string, Standby[]>();
  #closed = false;

  constructor(factory: SandboxFactory, size: number, clock: Clock) {
    this.#factory = factory;
    this.#size = size;
    this.#clock = clock;
  }

  /** Starts the standbys for `limits` ahead of need. */
  warm(limits: ResourceLimits): void {
    if (this.#closed || this.#size === 0) return;
    const key = keyOf(limits);
    let list = this.#standby.get(key);
    if (list === undefined) {
      list = [];
      this.#standby.set(key, list);
    }
    while (list.length < this.#size) {
      const hooks = new DeferredHooks();
      const sandbox = this.#factory({ resourceLimits: limits, clock: this.#clock }, hooks);
      const entry: Standby = { sandbox, hooks };
      // A standby that dies before use is dropped, never handed out.
      sandbox.onCrash = () => {
        const at = list.indexOf(entry);
        if (at >= 0) list.splice(at, 1);
      };
      list.push(entry);
    }
  }

  /**
   * A started sandbox with `limits`: a warm one if there is one, else a new one. The caller
   * calls `warm(limits)` once the sandbox it took has loaded: a standby booting meanwhile would
   * take CPU from that very load (on 2 cores, +30% to a reload's p50).
   */
  take(limits: ResourceLimits, hooks: SandboxHooks): Sandbox {
    if (this.#closed) throw new MoltError(ErrorCodes.HOST_CLOSED, 'the host is closed');
    const standby = this.#standby.get(keyOf(limits))?.shift();
    if (standby === undefined || standby.sandbox.ended) {
      return this.#factory({ resourceLimits: limits, clock: this.#clock }, hooks);
    }
    standby.hooks.target = hooks;
    standby.sandbox.onCrash = undefined;
    return standby.sandbox;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#standby.values()].flat();
    this.#standby.clear();
    await Promise.all(all.map((s) => s.sandbox.terminate()));
  }
}

function keyOf(limits: ResourceLimits): string {
  return `${limits.maxOldGenerationSizeMb ?? ''}/${limits.maxYoungGenerationSizeMb ?? ''}/${limits.stackSizeMb ?? ''}`;
}
