/** Runs the real `molt` binary for end-to-end tests, waiting on what it prints, never on time. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pluginSource, writeProject } from './project.js';

export const MOLT_BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `molt ...args` to completion. */
export function molt(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MOLT_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: 'pipe',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A long-running node process (molt serve, molt dev, npm start) whose output lines can be awaited. */
export class MoltProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: {
    re: RegExp;
    from: number;
    resolve: (l: string) => void;
    reject: (e: Error) => void;
  }[] = [];
  #seen = 0;

  /** Runs `molt ...args`, or another node `script` given as the third argument. */
  constructor(args: string[], env: NodeJS.ProcessEnv = {}, script = MOLT_BIN) {
    this.child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, ...env },
      stdio: 'pipe',
    });
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const l of parts) this.#line(l);
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        for (const w of this.#waiters)
          w.reject(
            new Error(
              `molt exited (${code ?? signal}) before printing ${w.re}\n${this.lines.join('\n')}`,
            ),
          );
        this.#waiters = [];
        resolve({ code, signal });
      });
    });
  }

  /** Resolves with the first line matching `re` printed after the last matched line. */
  waitFor(re: RegExp): Promise<string> {
    for (let i = this.#seen; i < this.lines.length; i++) {
      if (re.test(this.lines[i]!)) {
        this.#seen = i + 1;
        return Promise.resolve(this.lines[i]!);
      }
    }
    return new Promise((resolve, reject) =>
      this.#waiters.push({ re, from: this.#seen, resolve, reject }),
    );
  }

  #line(l: string): void {
    this.lines.push(l);
    if (process.env.MOLT_TEST_VERBOSE) process.stderr.write(`  | ${l}\n`);
    const w = this.#waiters.find((x) => x.re.test(l));
    if (w !== undefined) {
      this.#waiters = this.#waiters.filter((x) => x !== w);
      this.#seen = this.lines.length;
      w.resolve(l);
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}

/**
 * Writes one `calc` source project per [version, tag] under `root` and packs each with the real
 * `molt pack` into `out`; resolves to the .molt paths in order.
 */
export async function packCalcVersions(
  root: string,
  out: string,
  versions: [string, string][],
): Promise<string[]> {
  const files: string[] = [];
  for (const [version, tag] of versions) {
    const project = await writeProject(
      join(root, `src-${version}`),
      'calc',
      version,
      pluginSource(tag),
    );
    const r = await molt(['pack', project, '-o', out]);
    if (r.code !== 0) throw new Error(`molt pack failed: ${r.stderr}`);
    files.push(r.stdout.trim());
  }
  return files;
}
