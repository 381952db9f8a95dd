/**
 * Closed in a sandbox before any plugin code loads: what Node's permission model does not cover.
 * Every signal goes through `process._kill` (`process.kill` calls it), so one guard on it, fixed
 * in place, decides which pids a plugin may signal.
 */
import { BUDGETS, Budget } from '../budget.js';

/** The shape of Node's own permission errors, which the runtime reports as PERMISSION_DENIED. */
function denied(permission: string, resource: string): Error {
  return Object.assign(new Error(`permission denied: ${permission} ${resource}`), {
    code: 'ERR_ACCESS_DENIED',
    permission,
    resource,
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
      if (!(pid > 0) || !allowed(pid)) throw denied('Signal', String(pid));
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

/**
 * A worker's inspector can attach to the host's main thread (`connectToMainThread`) and run code
 * there: refused on both inspector modules' sessions, and `process.binding('inspector')` (the
 * native side of it) is refused too. Defense in depth: a worker is not a wall (README).
 */
export function guardInspector(sessions: { prototype: object }[]): void {
  for (const Session of sessions) {
    Object.defineProperty(Session.prototype, 'connectToMainThread', {
      value: () => {
        throw denied('Inspector', 'main thread');
      },
      writable: false,
      configurable: false,
    });
  }
  const proc = process as unknown as { binding: (name: string) => unknown };
  const binding = proc.binding.bind(process);
  Object.defineProperty(process, 'binding', {
    value: (name: string): unknown => {
      if (String(name) === 'inspector') {
        throw denied('Inspector', 'binding');
      }
      return binding(name);
    },
    writable: false,
    configurable: false,
  });
}
