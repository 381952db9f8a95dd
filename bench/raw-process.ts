/**
 * The floors of a process sandbox's call: a bare child Node process answering molt's message
 * shapes ({t:'call', id, tool, args} → {t:'ok', id, value}), one message per call, with a Map of
 * pending resolvers, over
 *  - `framed`: molt's own framing on an fd-3 pipe (frames.ts), the transport process.ts uses;
 *  - `ipc`: Node's built-in IPC channel with serialization 'advanced' (also V8 serialization).
 * No permission flags: they guard file-system calls, not the channel.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { encodeFrame, FrameReader } from '../src/sandbox/frames.js';

const CHILD = fileURLToPath(new URL('./raw-process-child.js', import.meta.url));

interface Reply {
  t: string;
  id: number;
  value: unknown;
}

export type RawProcessKind = 'framed' | 'ipc';

export class RawProcessEcho {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (v: unknown) => void>();
  readonly #send: (msg: unknown) => void;
  readonly ready: Promise<void>;
  #nextId = 1;

  constructor(kind: RawProcessKind) {
    let onReply: (m: Reply) => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`raw ${kind} child did not start`)), 10_000);
      onReply = (m) => {
        if (m.t === 'ready') {
          clearTimeout(timer);
          return resolve();
        }
        const r = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        r?.(m.value);
      };
    });
    if (kind === 'ipc') {
      this.#child = spawn(process.execPath, [CHILD, 'ipc'], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
      this.#child.on('message', (m: Reply) => onReply(m));
      this.#send = (msg) => this.#child.send(msg as never);
    } else {
      this.#child = spawn(process.execPath, [CHILD, 'framed'], {
        stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
      });
      const reader = new FrameReader(
        Number.MAX_SAFE_INTEGER,
        (m) => onReply(m as Reply),
        (reason) => {
          throw new Error(`raw framed echo: ${reason}`);
        },
      );
      (this.#child.stdio[3] as Readable).on('data', (chunk: Buffer) => reader.push(chunk));
      const out = this.#child.stdio[3] as Writable;
      this.#send = (msg) => out.write(encodeFrame(msg));
    }
  }

  call(): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#send({ t: 'call', id, tool: 'noop', args: undefined });
    });
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((r) => this.#child.once('exit', r));
    this.#child.kill('SIGKILL');
    await exited;
  }
}
