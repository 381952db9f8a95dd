/**
 * Warm standby: blank sandboxes started ahead, so a reload pays only for the import and init.
 * A worker's resource limits are fixed when it starts, so standbys are kept per limits key.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { type SandboxHooks, WorkerSandbox } from './worker-sandbox.js';

export type SandboxFactory = (limits: ResourceLimits, hooks: SandboxHooks) => WorkerSandbox;

export const defaultSandboxFactory: SandboxFactory = (limits, hooks) =>
  new WorkerSandbox(limits, hooks);

interface Standby {
  sandbox: WorkerSandbox;
  hooks: DeferredHooks;
}

/** Hooks whose target is set when the standby is handed to a generation. */
class DeferredHooks implements SandboxHooks {
  target: SandboxHooks = {};
  onLog(level: string, msg: string, data: unknown): void {
    this.target.onLog?.(level, msg, data);
  }
  onOutput(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this.target.onOutput?.(stream, chunk);
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
      const sandbox = this.#factory(limits, hooks);
      const entry: Standby = { sandbox, hooks };
      // A standby that dies before use is dropped, never handed out.
      sandbox.onCrash = () => {
        const at = list.indexOf(entry);
        if (at >= 0) list.splice(at, 1);
      };
      list.push(entry);
    }
  }

  /** A started sandbox with `limits`: a warm one if there is one (then refilled), else a new one. */
  take(limits: ResourceLimits, hooks: SandboxHooks): WorkerSandbox {
    const key = keyOf(limits);
    const list = this.#standby.get(key);
    const standby = list?.shift();
    if (standby === undefined || standby.sandbox.ended) {
      if (list !== undefined) setImmediate(() => this.warm(limits));
      return this.#factory(limits, hooks);
    }
    standby.hooks.target = hooks;
    standby.sandbox.onCrash = undefined;
    setImmediate(() => this.warm(limits));
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
