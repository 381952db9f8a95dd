/**
 * `run.js --drift`: where does per-worker RSS drift come from? Runs the bare-Worker child with
 * one option changed at a time (and molt itself under MALLOC_ARENA_MAX), two children at once.
 */
import { runChild } from './child.js';
import type { WorkerVariant } from './mem-worker.js';
import { type Drift, drift } from './memory.js';
import { heading, num, table } from './report.js';

const CYCLES = Number(process.env.MOLT_BENCH_DRIFT_CYCLES ?? 1200);
const CAP_MS = 150_000;

interface Variant {
  label: string;
  worker?: WorkerVariant;
  /** Run molt's reload child instead of the bare Worker one. */
  molt?: boolean;
  env?: Record<string, string>;
  execArgv?: string[];
}

const variants: Variant[] = [
  { label: 'plain new Worker + terminate()', worker: {} },
  { label: 'process.exit() in the worker', worker: { selfExit: true } },
  { label: 'stdout/stderr: true', worker: { stdio: true } },
  { label: 'resourceLimits (64 MB old gen)', worker: { resourceLimits: true } },
  { label: 'execArgv: []', worker: { execArgvEmpty: true } },
  { label: 'env: SHARE_ENV', worker: { env: 'share' } },
  { label: 'env: copy of process.env', worker: { env: 'copy' } },
  { label: 'plain, MALLOC_ARENA_MAX=2', worker: {}, env: { MALLOC_ARENA_MAX: '2' } },
  { label: 'plain, MALLOC_ARENA_MAX=1', worker: {}, env: { MALLOC_ARENA_MAX: '1' } },
  { label: 'plain, --max-semi-space-size=1', worker: {}, execArgv: ['--max-semi-space-size=1'] },
  {
    label: "molt's options (stdio, execArgv [], limits)",
    worker: { stdio: true, execArgvEmpty: true, resourceLimits: true },
  },
  { label: 'molt reloads', molt: true },
  { label: 'molt reloads, MALLOC_ARENA_MAX=2', molt: true, env: { MALLOC_ARENA_MAX: '2' } },
];

async function runVariant(v: Variant): Promise<Drift> {
  const r = v.molt
    ? await runChild({
        script: 'mem-molt.js',
        args: [String(CYCLES), '100', String(CAP_MS)],
        execArgv: ['--expose-gc', ...(v.execArgv ?? [])],
        env: v.env ?? {},
        timeoutMs: CAP_MS + 60_000,
      })
    : await runChild({
        script: 'mem-worker.js',
        args: [String(CYCLES), '100', String(CAP_MS), JSON.stringify(v.worker ?? {})],
        execArgv: ['--expose-gc', ...(v.execArgv ?? [])],
        env: v.env ?? {},
        timeoutMs: CAP_MS + 30_000,
      });
  return drift(v.label, CYCLES, r);
}

export async function benchDrift(): Promise<Drift[]> {
  heading(`worker RSS drift experiments, ${CYCLES} cycles each, two children at a time`);
  const results: Drift[] = [];
  for (let i = 0; i < variants.length; i += 2) {
    results.push(...(await Promise.all(variants.slice(i, i + 2).map(runVariant))));
  }
  table(
    [
      'variant',
      'done',
      'RSS start MB',
      'RSS end MB',
      'RSS KB/op',
      'slope',
      '2nd half',
      'anon KB/op',
      'anon 2nd half',
      'outside V8 heap KB/op',
    ],
    results.map((d) => [
      d.label,
      String(d.done),
      num(d.rss0 / 1024, 1),
      num(d.rssLast / 1024, 1),
      num(d.rssPerOpKB, 2),
      num(d.rssSlopeKB, 2),
      num(d.rssLateSlopeKB, 2),
      num(d.anonPerOpKB, 2),
      num(d.anonLateSlopeKB, 2),
      num(d.outsideHeapPerOpKB, 2),
    ]),
  );
  return results;
}
