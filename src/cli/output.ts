/** How the CLI speaks: one line per fact, errors with their code, documented exit codes. */
import { isMoltError } from '../errors/errors.js';

/** Exit codes of every `molt` command (documented in the README). */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

export function line(text: string): void {
  process.stderr.write(`${text}\n`);
}

export function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** A command line that cannot work as given (exit 2): the message says what to change. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Prints an error as `molt: CODE message` and returns the exit code it maps to. */
export function fail(err: unknown): number {
  if (err instanceof UsageError) {
    line(`molt: ${err.message}`);
    return EXIT.usage;
  }
  if (isMoltError(err)) {
    line(`molt: ${err.code} ${err.message}`);
    return err.code === 'CONTROL_UNREACHABLE' ? EXIT.unreachable : EXIT.failed;
  }
  line(`molt: ${(err as Error)?.stack ?? String(err)}`);
  return EXIT.failed;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export const ms = (n: number | undefined): string => (n === undefined ? '-' : `${n.toFixed(1)} ms`);
