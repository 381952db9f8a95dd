/** Runs one bench child process and collects the JSON lines it prints, with a hard time cap. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { scratchDir } from './artifacts.js';

export interface Sample {
  n: number;
  /** KB */
  rss: number;
  /** KB, main-thread heapUsed */
  heap: number;
  /** KB, main-thread heapTotal: what V8 has committed, young generation included. */
  heapTotal: number;
  /** KB of anonymous (private) memory, Linux only: RSS minus file-backed pages such as the node binary. */
  anon: number;
  ms: number;
}

export interface ChildResult {
  samples: Sample[];
  /** Other JSON lines the child printed (e.g. {kind:'done', …}). */
  extra: Record<string, unknown>[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stderrTail: string;
  ms: number;
}

export interface ChildSpec {
  /** Compiled bench file next to this one, e.g. 'mem-molt.js'. */
  script: string;
  args?: string[];
  execArgv?: string[];
  env?: Record<string, string>;
  timeoutMs: number;
}

export async function runChild(spec: ChildSpec): Promise<ChildResult> {
  const path = fileURLToPath(new URL(`./${spec.script}`, import.meta.url));
  const tmp = await scratchDir('child');
  const t0 = performance.now();
  const child = spawn(process.execPath, [...(spec.execArgv ?? []), path, ...(spec.args ?? [])], {
    env: { ...process.env, ...spec.env, MOLT_BENCH_TMP: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const samples: Sample[] = [];
  const extra: Record<string, unknown>[] = [];
  let stderrTail = '';
  let timedOut = false;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderrTail = (stderrTail + s).slice(-4000);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (msg.kind === 'sample') samples.push(msg as unknown as Sample);
    else extra.push(msg);
  });
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, spec.timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        samples,
        extra,
        exitCode,
        signal,
        timedOut,
        stderrTail,
        ms: performance.now() - t0,
      });
    });
  });
}

/** For child scripts: one JSON line on stdout. */
export function emit(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

/** Operations done before the zero point, so the one-time ramp of the first workers is shown apart. */
export const WARMUP_OPS = 100;

/** For child scripts: an RSS / heap sample (KB) after `n` operations. */
export function emitSample(n: number, t0: number, kind = 'sample'): void {
  const m = process.memoryUsage();
  emit({
    kind,
    n,
    rss: Math.round(m.rss / 1024),
    heap: Math.round(m.heapUsed / 1024),
    heapTotal: Math.round(m.heapTotal / 1024),
    anon: anonymousKB(),
    ms: Math.round(performance.now() - t0),
  });
}

/** Anonymous memory of this process (KB) from /proc/self/smaps_rollup; NaN where there is none. */
function anonymousKB(): number {
  try {
    const m = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
