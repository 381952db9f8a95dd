/**
 * The process sandbox: one child Node process per generation, started with Node's permission
 * model and only the environment the manifest names, speaking the same protocol as a worker
 * over fd 3. It costs a fork and ~40 MB, and buys what a thread cannot: its own pid, its own fd
 * table, its own memory (capped as a whole by a watchdog), and file-system grants.
 *
 * The grants are fixed when the process starts, but a standby starts before the host knows
 * which artifact folder it will run. So each sandbox gets a folder of its own, granted for
 * reading, and at load the host links the artifact into it (`artifact -> <store folder>`);
 * `--preserve-symlinks` keeps module paths on the granted side of the link.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ErrorCodes } from '../errors/errors.js';
import { Channel, type Transport, type TransportEvents } from './channel.js';
import { encodeFrame, FrameReader } from './frames.js';
import { permissionFlags } from './permissions.js';
import type { CallBatch, HostMessage, LoadArg, LoadedInfo } from './protocol.js';
import type { Sandbox, SandboxHooks, SandboxMemory, SandboxSpec } from './sandbox.js';

const entry = fileURLToPath(new URL('./inside/process-main.bundle.js', import.meta.url));

/** How often the host reads a process sandbox's resident memory. */
export const MEMORY_POLL_MS = 20;

/**
 * Largest frame a sandbox may send before it has loaded (a load report's tool list is at most
 * 4 MiB of JSON). After the load it is the host's own cap behind the sandbox's result check
 * (`limits.maxResultMb`, estimated in the sandbox): twice it, for strings serialized two bytes
 * a character, plus room for the rest.
 */
const LOAD_FRAME_BYTES = 8 * 1024 * 1024;
const frameCap = (maxResultBytes: number): number => 2 * maxResultBytes + 1024 * 1024;

const quietWarnings = process.allowedNodeEnvironmentFlags.has('--disable-warning')
  ? ['--disable-warning=ExperimentalWarning']
  : [];

const HEAP_OOM = 'JavaScript heap out of memory';

class ProcessTransport implements Transport {
  #child: ChildProcess | undefined;
  /** Frames posted before the child is spawned, written in order once it is. */
  #early: Buffer[] | undefined = [];
  readonly #sandboxDir: string;
  readonly #events: TransportEvents;
  readonly #spec: SandboxSpec;
  readonly #overMemory: (rssMb: number) => void;
  #watchdog: MemoryWatch | undefined;
  #watchWanted = false;
  readonly reader: FrameReader;
  #heapOom = false;
  #exited = false;

  constructor(
    spec: SandboxSpec,
    sandboxDir: string,
    events: TransportEvents,
    overMemory: (rssMb: number) => void,
  ) {
    this.#sandboxDir = sandboxDir;
    this.#events = events;
    this.#spec = spec;
    this.#overMemory = overMemory;
    this.reader = new FrameReader(
      LOAD_FRAME_BYTES,
      (msg) => events.message(msg),
      (reason) => events.breach(reason),
    );
    // `spawn` holds the event loop until the child has exec'd (libuv waits to hear that the
    // exec worked): a few ms on an idle machine, tens of ms on a busy one. A standby is made at
    // the end of a reload's load, before its swap, so the fork waits for the next turn: the
    // reload that asked for it finishes first. Frames posted meanwhile wait in #early.
    setImmediate(() => this.#spawn());
  }

  #spawn(): void {
    if (this.#exited) return;
    const events = this.#events;
    const spec = this.#spec;
    const sandboxDir = this.#sandboxDir;
    const heapMb = spec.resourceLimits.maxOldGenerationSizeMb ?? spec.memoryMb;
    const args = [
      ...permissionFlags(spec.grants, { entry, sandboxDir, dataDir: spec.dataDir }),
      ...quietWarnings,
      '--preserve-symlinks',
      ...(heapMb === undefined ? [] : [`--max-old-space-size=${heapMb}`]),
      entry,
    ];
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, args, {
        cwd: sandboxDir,
        env: spec.env,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch (err) {
      this.#exit(-1, err as Error);
      return;
    }
    this.#child = child;
    child.stdout!.on('data', (chunk: Buffer) => events.output('stdout', chunk));
    child.stderr!.on('data', (chunk: Buffer) => {
      if (!this.#heapOom && chunk.includes(HEAP_OOM)) this.#heapOom = true;
      events.output('stderr', chunk);
    });
    const channel = child.stdio[3] as Readable & NodeJS.WritableStream;
    channel.on('data', (chunk: Buffer) => this.reader.push(chunk));
    // The child may die before it reads what was sent: EPIPE is its exit, reported by 'exit'.
    channel.on('error', () => {});
    child.once('error', (err) => this.#exit(-1, err));
    child.once('exit', (code, signal) => {
      const exitCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGABRT' ? 6 : 15);
      this.#exit(
        exitCode,
        this.#heapOom
          ? Object.assign(new Error('out of memory (the sandbox hit its heap limit)'), {
              code: 'ERR_OUT_OF_MEMORY',
            })
          : undefined,
      );
    });
    const early = this.#early!;
    this.#early = undefined;
    for (const frame of early) channel.write(frame);
    if (this.#watchWanted) this.watchMemory();
  }

  /**
   * Starts the memory watchdog, once plugin code is about to run (a blank standby needs none);
   * if the child is not spawned yet, as soon as it is.
   */
  watchMemory(): void {
    this.#watchWanted = true;
    const pid = this.#child?.pid;
    if (this.#watchdog !== undefined || this.#exited || pid === undefined) return;
    if (this.#spec.memoryMb === undefined) return;
    this.#watchdog = MemoryWatch.start(pid, this.#spec.memoryMb, this.#overMemory);
  }

  /** The child's resident set, from /proc (nothing before it is spawned, nor without /proc). */
  async memory(): Promise<SandboxMemory | undefined> {
    const pid = this.#child?.pid;
    if (pid === undefined || this.#exited) return undefined;
    try {
      const resident = Number((await readFile(`/proc/${pid}/statm`, 'latin1')).split(' ')[1]);
      return Number.isFinite(resident) ? { residentBytes: resident * pageSize() } : undefined;
    } catch {
      return undefined;
    }
  }

  post(msg: HostMessage | CallBatch): void {
    const frame = encodeFrame(msg);
    if (this.#child !== undefined) (this.#child.stdio[3] as NodeJS.WritableStream).write(frame);
    else this.#early?.push(frame);
  }

  end(): void {
    if (this.#exited) return;
    if (this.#child !== undefined) {
      this.#child.kill('SIGKILL');
      return;
    }
    // Ended before it was spawned: nothing to kill, and `exit` still comes after `end()`.
    this.#early = undefined;
    queueMicrotask(() => this.#exit(128 + 9, undefined));
  }

  #exit(exitCode: number, error: (Error & { code?: string }) | undefined): void {
    if (this.#exited) return;
    this.#exited = true;
    this.#early = undefined;
    this.#watchdog?.stop();
    rmSync(this.#sandboxDir, { recursive: true, force: true });
    this.#events.exit(exitCode, error);
  }
}

/**
 * Reads the child's resident set every MEMORY_POLL_MS: Buffers and ArrayBuffers live outside
 * the V8 heap, so heap flags alone do not cap them. One `pread` of /proc/<pid>/statm on a file
 * kept open (a few µs; opening the file each time costs ten times that). Where /proc is missing
 * (not Linux) there is no watchdog and only the heap is capped.
 */
class MemoryWatch {
  readonly #fd: number;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #buffer = Buffer.alloc(128);

  private constructor(fd: number, capMb: number, over: (rssMb: number) => void) {
    this.#fd = fd;
    const capPages = (capMb * 1024 * 1024) / pageSize();
    this.#timer = setInterval(() => {
      let n: number;
      try {
        n = readSync(this.#fd, this.#buffer, 0, this.#buffer.length, 0);
      } catch {
        return;
      }
      // statm: size resident shared text lib data dt, in pages.
      const text = this.#buffer.toString('latin1', 0, n);
      const resident = Number(text.split(' ')[1]);
      if (resident > capPages) over((resident * pageSize()) / (1024 * 1024));
    }, MEMORY_POLL_MS);
    this.#timer.unref();
  }

  static start(pid: number, capMb: number, over: (rssMb: number) => void): MemoryWatch | undefined {
    try {
      return new MemoryWatch(openSync(`/proc/${pid}/statm`, 'r'), capMb, over);
    } catch {
      return undefined;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    try {
      closeSync(this.#fd);
    } catch {}
  }
}

let pageBytes: number | undefined;

/** The kernel's page size, from this process's own VmRSS (kB) over its statm resident pages. */
function pageSize(): number {
  if (pageBytes !== undefined) return pageBytes;
  pageBytes = 4096;
  try {
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'latin1'))?.[1]);
    const pages = Number(readFileSync('/proc/self/statm', 'latin1').split(' ')[1]);
    if (kb > 0 && pages > 0) pageBytes = 2 ** Math.round(Math.log2((kb * 1024) / pages));
  } catch {}
  return pageBytes;
}

/** A Channel whose loads go through the sandbox's own folder (see the module comment). */
class ProcessSandbox extends Channel {
  readonly #sandboxDir: string;
  readonly #transport: ProcessTransport;

  constructor(spec: SandboxSpec, hooks: SandboxHooks) {
    const sandboxDir = mkdtempSync(join(tmpdir(), 'molt-sandbox-'));
    let transport: ProcessTransport | undefined;
    super(spec.clock, hooks, (events) => {
      transport = new ProcessTransport(spec, sandboxDir, events, (rssMb) =>
        this?.crash(
          ErrorCodes.MEMORY_LIMIT,
          `over its memory cap: ${Math.round(rssMb)} MB resident, limits.memoryMb is ${spec.memoryMb}`,
        ),
      );
      return transport;
    });
    this.#sandboxDir = sandboxDir;
    this.#transport = transport!;
  }

  override load(arg: LoadArg, timeoutMs: number): Promise<LoadedInfo> {
    const link = join(this.#sandboxDir, 'artifact');
    try {
      symlinkSync(arg.artifactDir, link, 'dir');
    } catch (err) {
      return Promise.reject(err);
    }
    const loaded = super.load(
      {
        ...arg,
        artifactDir: link,
        entryPath: join(link, relative(arg.artifactDir, arg.entryPath)),
      },
      timeoutMs,
    );
    this.#transport.reader.maxBytes = Math.max(LOAD_FRAME_BYTES, frameCap(arg.maxResultBytes));
    this.#transport.watchMemory();
    return loaded;
  }
}

/** A sandbox in a new child process. */
export function createProcessSandbox(spec: SandboxSpec, hooks: SandboxHooks): Sandbox {
  return new ProcessSandbox(spec, hooks);
}
