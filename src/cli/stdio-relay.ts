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
 */
import { spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { StdioStreams } from '../mcp/stdio.js';
import { line } from './output.js';

/** Set in the host's environment by the relay: the fd of its channel. */
const CHANNEL_ENV = 'MOLT_STDIO_CHANNEL';
const CHANNEL_FD = 3;

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

/**
 * In a host started by the relay: its channel to the client, taken once (the variable is removed
 * so that nothing the host starts later, plugins included, inherits it). Undefined otherwise.
 */
export function takeRelayChannel(): StdioStreams | undefined {
  if (process.env[CHANNEL_ENV] !== String(CHANNEL_FD)) return undefined;
  delete process.env[CHANNEL_ENV];
  // Half-open: the client's end of input must not end the output, whose answers may follow.
  const socket = new Socket({
    fd: CHANNEL_FD,
    readable: true,
    writable: true,
    allowHalfOpen: true,
  });
  return { input: socket, output: socket };
}

/**
 * The relay: runs this same command line as the host, on the fds above, and exits as it exits
 * (with its code, or killed by the same signal).
 */
export function relayStdio(): void {
  const child = spawn(process.execPath, [...process.execArgv, MAIN, ...process.argv.slice(2)], {
    stdio: ['ignore', 2, 2, 'pipe'],
    env: { ...process.env, [CHANNEL_ENV]: String(CHANNEL_FD) },
  });
  const channel = child.stdio[CHANNEL_FD] as Socket;
  // The client's requests: its end of stdin ends the host's input.
  process.stdin.pipe(channel);
  // The host's messages, with backpressure both ways as when the host wrote stdout itself.
  channel.pipe(process.stdout, { end: false });
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
