/**
 * `molt serve --stdio` runs as two processes, so that nothing a plugin writes reaches the client.
 *
 * A worker-thread sandbox shares its process's file descriptors: `fs.writeSync(1, …)` from a
 * plugin writes to the host's fd 1 whatever `process.stdout` is wrapped in, and Node cannot
 * `dup2` to point fd 1 elsewhere. So the process the client spawned keeps the client's stdin and
 * stdout to itself and does nothing but relay: it runs the host as its child with
 *
 *   fd 0  /dev/null           (nothing to read, nothing of the client's to steal)
 *   fd 1  the relay's stderr  (a stray write lands in the log, never in the protocol)
 *   fd 2  the relay's stderr
 *   fd 3  a pipe to the relay: the client's messages in, the host's messages out
 *
 * and the host speaks MCP on fd 3. The relay copies its stdin to fd 3 and fd 3 to its stdout,
 * forwards SIGINT and SIGTERM, and when the host ends, ends the same way. The client closing
 * stdin reaches the host as the end of fd 3, which stops it as before.
 *
 * fd 3 is in the host's fd table too, so a plugin could write to it as well. The host therefore
 * signs what it sends: each message travels as `\n<mac> <json>\n`, the mac an HMAC-SHA256 of the
 * JSON under a key the relay made for this run, and the relay passes on the JSON of frames whose
 * mac is right and drops everything else. A plugin writing blindly to every fd it has forges
 * nothing. (A worker is no boundary against a plugin that attacks the host on purpose: it can
 * read the host's memory, or drive its main thread through `inspector.Session
 * .connectToMainThread()`. Process sandboxes are the answer to that.)
 */
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { StdioStreams } from '../mcp/stdio.js';
import { line } from './output.js';

/** Set in the host's environment by the relay: the key of this run (base64url). */
const KEY_ENV = 'MOLT_STDIO_RELAY_KEY';
const CHANNEL_FD = 3;
/** The mac: the first 16 bytes of the HMAC, 22 characters of base64url. */
const MAC_BYTES = 16;
const MAC_CHARS = 22;
/**
 * A line longer than this is dropped unread, so a plugin writing without newlines cannot grow the
 * relay without bound. A message this large is far past what clients read (the SDK's stops at
 * 10 MiB).
 */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

const macOf = (key: Buffer, json: string | Buffer): Buffer =>
  createHmac('sha256', key).update(json).digest().subarray(0, MAC_BYTES);

/** How the host writes one message to the relay. */
export function signer(key: Buffer): (json: string) => string {
  return (json) => `\n${macOf(key, json).toString('base64url')} ${json}\n`;
}

/**
 * The relay's side of fd 3: splits what arrives into lines, passes on the JSON of every frame
 * whose mac is right (as one line, as the host would have written it to stdout), and counts the
 * bytes of everything else.
 */
export class FrameReader {
  readonly #key: Buffer;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** In a line already too long to be a frame: everything up to its end is dropped. */
  #skipping = false;

  constructor(key: Buffer) {
    this.#key = key;
  }

  /** The genuine messages in `chunk` (each with its newline) and how many bytes were dropped. */
  push(chunk: Buffer): { genuine: Buffer[]; dropped: number } {
    const genuine: Buffer[] = [];
    let dropped = 0;
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl + 1);
      start = nl + 1;
      if (this.#skipping) {
        dropped += piece.length;
        this.#skipping = false;
        continue;
      }
      const frame = this.#pending.length === 0 ? piece : Buffer.concat([...this.#pending, piece]);
      this.#pending = [];
      this.#pendingBytes = 0;
      const json = this.#verify(frame);
      if (json === undefined) dropped += frame.length === 1 ? 0 : frame.length;
      else genuine.push(json);
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.#skipping) dropped += rest.length;
      else if (this.#pendingBytes + rest.length > MAX_FRAME_BYTES) {
        dropped += this.#pendingBytes + rest.length;
        this.#pending = [];
        this.#pendingBytes = 0;
        this.#skipping = true;
      } else {
        this.#pending.push(rest);
        this.#pendingBytes += rest.length;
      }
    }
    return { genuine, dropped };
  }

  /** The JSON and newline of a genuine frame (`<mac> <json>\n`); undefined otherwise. */
  #verify(frame: Buffer): Buffer | undefined {
    if (frame.length < MAC_CHARS + 3 || frame[MAC_CHARS] !== 0x20) return undefined;
    const claimed = Buffer.from(frame.toString('latin1', 0, MAC_CHARS), 'base64url');
    const json = frame.subarray(MAC_CHARS + 1, frame.length - 1);
    if (claimed.length !== MAC_BYTES || !timingSafeEqual(claimed, macOf(this.#key, json))) {
      return undefined;
    }
    return frame.subarray(MAC_CHARS + 1);
  }
}

/**
 * In a host started by the relay: its channel to the client, taken once (the key is removed
 * from the environment so that nothing the host starts later, plugins included, inherits it).
 * Undefined otherwise.
 */
export function takeRelayChannel(): StdioStreams | undefined {
  const key = process.env[KEY_ENV];
  if (key === undefined) return undefined;
  delete process.env[KEY_ENV];
  // Half-open: the client's end of input must not end the output, whose answers may follow.
  const socket = new Socket({
    fd: CHANNEL_FD,
    readable: true,
    writable: true,
    allowHalfOpen: true,
  });
  return { input: socket, output: socket, encode: signer(Buffer.from(key, 'base64url')) };
}

/**
 * The relay: runs this same command line as the host, on the fds above, and exits as it exits
 * (with its code, or killed by the same signal).
 */
export function relayStdio(): void {
  const key = randomBytes(32);
  const child = spawn(process.execPath, [...process.execArgv, MAIN, ...process.argv.slice(2)], {
    stdio: ['ignore', 2, 2, 'pipe'],
    env: { ...process.env, [KEY_ENV]: key.toString('base64url') },
  });
  const channel = child.stdio[CHANNEL_FD] as Socket;
  // The client's requests: its end of stdin ends the host's input.
  process.stdin.pipe(channel);
  // The host's messages, with backpressure both ways as when the host wrote stdout itself.
  const reader = new FrameReader(key);
  channel.on('data', (chunk: Buffer) => {
    const { genuine, dropped } = reader.push(chunk);
    if (dropped > 0) {
      line(`molt: dropped ${dropped} bytes on fd ${CHANNEL_FD} that the host did not send`);
    }
    if (genuine.length === 0) return;
    const ok = process.stdout.write(genuine.length === 1 ? genuine[0]! : Buffer.concat(genuine));
    if (!ok) {
      channel.pause();
      process.stdout.once('drain', () => channel.resume());
    }
  });
  // A host that is gone, or a client that is: the exit below, or the end of stdin, follows.
  channel.on('error', () => {});
  process.stdout.on('error', () => channel.end());

  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('error', (err) => {
    line(`molt: could not start the host: ${err.message}`);
    process.exit(1);
  });
  // 'close': the host has exited and everything it wrote to the channel has been relayed.
  child.on('close', (code, signal) => {
    process.stdout.write('', () => {
      if (signal === null) process.exit(code ?? 1);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      process.kill(process.pid, signal);
    });
  });
}
