/**
 * Closed in a sandbox before any plugin code loads: what Node's permission model does not cover.
 * Every signal goes through `process._kill` (`process.kill` calls it), so one guard on it, fixed
 * in place, decides which pids a plugin may signal.
 */
import { BUDGETS, Budget } from '../budget.js';

function denied(pid: unknown): Error {
  return Object.assign(new Error(`permission denied: Signal ${String(pid)}`), {
    code: 'ERR_ACCESS_DENIED',
    permission: 'Signal',
    resource: String(pid),
  });
}

/**
 * Refuses signals to any pid `allowed` rejects. Process groups (pid 0 or negative) are always
 * refused: they reach the host.
 */
export function guardSignals(allowed: (pid: number) => boolean): void {
  const proc = process as unknown as { _kill: (pid: number, sig: number) => number };
  const kill = proc._kill.bind(process);
  Object.defineProperty(process, '_kill', {
    value: (pid: number, sig: number): number => {
      if (!(pid > 0) || !allowed(pid)) throw denied(pid);
      return kill(pid, sig);
    },
    writable: false,
    configurable: false,
  });
}

/**
 * Drops what a plugin writes to stdout/stderr over the output budget before it leaves the
 * sandbox (a worker's output crosses to the host as messages), counting the bytes dropped.
 */
export function budgetOutput(onDrop: (bytes: number) => void): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    const budget = new Budget(BUDGETS.outputBytesPerSecond, BUDGETS.outputBurstBytes);
    stream.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
      const bytes =
        typeof chunk === 'string'
          ? Buffer.byteLength(chunk)
          : ArrayBuffer.isView(chunk)
            ? chunk.byteLength
            : 0;
      if (budget.take(performance.now(), bytes)) return write(chunk, ...rest);
      onDrop(bytes);
      // Report the write as done, so a caller waiting for a callback is not left hanging.
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      if (done !== undefined) queueMicrotask(done);
      return true;
    }) as typeof stream.write;
  }
}
