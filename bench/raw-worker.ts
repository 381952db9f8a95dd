/**
 * The floor: a bare worker_threads echo with the same message shapes molt uses
 * ({t:'call', id, tool, args} → {t:'ok', id, value}) and a Map of pending resolvers.
 */
import { Worker } from 'node:worker_threads';

const ECHO = `const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => parentPort.postMessage({ t: 'ok', id: m.id, value: 1 }));
parentPort.postMessage({ t: 'ready' });`;

interface Reply {
  t: string;
  id: number;
  value: unknown;
}

export class RawEcho {
  readonly #worker = new Worker(ECHO, { eval: true });
  readonly #pending = new Map<number, (v: unknown) => void>();
  readonly ready: Promise<void>;
  #nextId = 1;

  constructor() {
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('raw echo worker did not start')), 10_000);
      this.#worker.on('message', (m: Reply) => {
        clearTimeout(timer);
        if (m.t === 'ready') return resolve();
        const r = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        r?.(m.value);
      });
    });
  }

  call(): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#worker.postMessage({ t: 'call', id, tool: 'noop', args: undefined });
    });
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}
