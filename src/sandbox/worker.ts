/**
 * The worker-thread sandbox: the default isolation. One `Worker` per generation, with its own
 * isolate and module graph; ending it is what frees the plugin's memory.
 */
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { Channel, type Transport, type TransportEvents } from './channel.js';
import type { CallBatch, HostMessage } from './protocol.js';
import type { Sandbox, SandboxHooks, SandboxMemory, SandboxSpec } from './sandbox.js';

/** `Worker.getHeapStatistics()`: Node 22.16+ and 24 have it, Node 20 does not. */
type HeapStatistics = { getHeapStatistics?: () => Promise<{ used_heap_size: number }> };

// The bundled runtime (scripts/bundle-sandbox.mjs): one file boots much faster than its graph.
const entryUrl = new URL('./inside/worker-main.bundle.js', import.meta.url);

class WorkerTransport implements Transport {
  readonly #worker: Worker;

  constructor(limits: ResourceLimits, env: Record<string, string>, events: TransportEvents) {
    this.#worker = new Worker(entryUrl, {
      resourceLimits: limits,
      // The worker's own copy: the host's secrets are not in it.
      env,
      stdout: true,
      stderr: true,
      execArgv: [],
    });
    let crash: Error | undefined;
    this.#worker.stdout.on('data', (chunk: Buffer) => events.output('stdout', chunk));
    this.#worker.stderr.on('data', (chunk: Buffer) => events.output('stderr', chunk));
    this.#worker.on('message', (msg: unknown) => events.message(msg));
    this.#worker.on('error', (err) => {
      crash = err;
    });
    this.#worker.once('exit', (exitCode) => events.exit(exitCode, crash));
  }

  get threadId(): number {
    return this.#worker.threadId;
  }

  post(msg: HostMessage | CallBatch): void {
    this.#worker.postMessage(msg);
  }

  /** The worker's V8 heap in use, where Node can tell (not Node 20). */
  memory(): Promise<SandboxMemory | undefined> {
    const worker = this.#worker as Worker & HeapStatistics;
    if (typeof worker.getHeapStatistics !== 'function') return Promise.resolve(undefined);
    return worker.getHeapStatistics().then((h) => ({ heapUsedBytes: h.used_heap_size }));
  }

  end(): void {
    void this.#worker.terminate();
  }
}

/** A sandbox in a new worker thread. */
export function createWorkerSandbox(spec: SandboxSpec, hooks: SandboxHooks): Sandbox {
  return new Channel(
    spec.clock,
    hooks,
    (events) => new WorkerTransport(spec.resourceLimits, spec.env, events),
  );
}
