/** (b) Reload latency (requested → resolved, new version serving), warm standby on and off. */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createHost, type HostOptions, type StepTimings } from '../src/index.js';
import { pluginPair } from './artifacts.js';
import { check, heading, note, num, ratio, table } from './report.js';
import { type Summary, sleep, summarize } from './stats.js';

export interface ReloadRun {
  isolation: 'worker' | 'process';
  standby: number;
  gapMs: number;
  reloads: number;
  errors: number;
  wrongVersion: number;
  latencyMs: Summary;
  /**
   * The host's event-loop delay over the run (ms): what a reload's synchronous work (starting a
   * sandbox: a Worker's setup, a child's fork and exec) makes every other call on the host wait.
   */
  loopDelayMs: { p99: number; max: number };
  /** p50 of each step the host reports in `reload.succeeded` (ms). */
  steps: Record<string, number>;
}

export interface ReloadResult {
  warm: ReloadRun;
  cold: ReloadRun;
  backToBack: ReloadRun;
}

const RELOADS = Number(process.env.MOLT_BENCH_RELOADS ?? 200);
const MAX_MS = 40_000;
/**
 * Quiet time before each paced reload: lets the pool boot its next standby (~50–80 ms of CPU
 * here), as between real edits. Without standby there is nothing to wait for but the retiring
 * worker, so that run is paced at COLD_GAP_MS.
 */
export const GAP_MS = 100;
const COLD_GAP_MS = 20;
const BACK_TO_BACK = 60;

/**
 * `count` reloads of one plugin, alternating its two versions, each `gapMs` after the last;
 * times requested → resolved and checks the new version answers. Bounded by MAX_MS.
 */
export async function runReloads(
  standby: number,
  gapMs: number,
  count: number,
  isolation: NonNullable<HostOptions['isolation']> = 'worker',
): Promise<ReloadRun> {
  const name = `reload${isolation === 'process' ? 'p' : ''}${standby}g${gapMs}`;
  const host = await createHost({ probationMs: 0, standby, isolation });
  const [a, b] = await pluginPair(name);
  const times: number[] = [];
  const steps: Record<string, number[]> = {};
  host.on('reload.succeeded', (e) => {
    if (e.kind !== 'reload') return;
    for (const [k, v] of Object.entries(e.timings as StepTimings)) {
      if (typeof v !== 'number') continue;
      const list = steps[k] ?? [];
      list.push(v);
      steps[k] = list;
    }
  });
  let errors = 0;
  let wrongVersion = 0;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  try {
    await host.load(a);
    const deadline = performance.now() + MAX_MS;
    for (let i = 0; i < count + 5 && performance.now() < deadline; i++) {
      if (gapMs > 0) await sleep(gapMs);
      const [dir, tag] = i % 2 === 0 ? [b, 'v2'] : [a, 'v1'];
      const t = performance.now();
      try {
        await host.reload(name, dir);
      } catch {
        errors++;
        continue;
      }
      const ms = performance.now() - t;
      if ((await host.call(name, 'version')) !== tag) wrongVersion++;
      if (i >= 5) times.push(ms); // the first five warm the JIT and the pool
      if (i === 4) loop.enable();
    }
  } finally {
    loop.disable();
    await host.close();
  }
  const stepP50: Record<string, number> = {};
  for (const [k, v] of Object.entries(steps)) stepP50[k] = summarize(v).p50;
  return {
    isolation,
    standby,
    gapMs,
    reloads: times.length,
    errors,
    wrongVersion,
    latencyMs: summarize(times),
    loopDelayMs: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    steps: stepP50,
  };
}

export async function benchReload(): Promise<ReloadResult> {
  heading(`(b) reload latency, ${RELOADS} reloads of a small plugin, probationMs: 0`);
  const warm = await runReloads(1, GAP_MS, RELOADS);
  const cold = await runReloads(0, COLD_GAP_MS, RELOADS);
  const backToBack = await runReloads(1, 0, Math.min(RELOADS, BACK_TO_BACK));
  const cols = (r: ReloadRun): string[] => [
    num(r.latencyMs.p50, 2),
    num(r.latencyMs.p99, 2),
    num(r.latencyMs.max, 2),
    String(r.reloads),
    String(r.errors + r.wrongVersion),
  ];
  table(
    ['configuration', 'p50 ms', 'p99 ms', 'max ms', 'n', 'errors'],
    [
      [`standby: 1 (default), ${GAP_MS} ms apart`, ...cols(warm)],
      [`standby: 0 (baseline), ${COLD_GAP_MS} ms apart`, ...cols(cold)],
      ['standby: 1, back to back', ...cols(backToBack)],
      [
        'ratio standby 1 / standby 0',
        ratio(warm.latencyMs.p50, cold.latencyMs.p50),
        ratio(warm.latencyMs.p99, cold.latencyMs.p99),
        '',
        '',
        '',
      ],
    ],
  );
  const stepKeys = ['start', 'load', 'init', 'swap', 'total'];
  note(
    `step p50s (ms): ${[warm, cold, backToBack]
      .map(
        (r) =>
          `standby ${r.standby}${r.gapMs === 0 ? ' b2b' : ''}: ${stepKeys.map((k) => `${k} ${num(r.steps[k], 2)}`).join(', ')}`,
      )
      .join(' | ')}`,
  );
  console.log();
  const ok = warm.errors + warm.wrongVersion === 0;
  table(
    ['target', 'value', 'goal', 'verdict'],
    [
      [
        'reload p50 (standby 1, paced)',
        `${num(warm.latencyMs.p50, 2)} ms`,
        '<= 15 ms',
        check(
          'reload p50 <= 15 ms',
          `${num(warm.latencyMs.p50, 2)} ms`,
          ok && warm.latencyMs.p50 <= 15,
        ),
      ],
      [
        'reload p99 (standby 1, paced)',
        `${num(warm.latencyMs.p99, 2)} ms`,
        '<= 50 ms',
        check(
          'reload p99 <= 50 ms',
          `${num(warm.latencyMs.p99, 2)} ms`,
          ok && warm.latencyMs.p99 <= 50,
        ),
      ],
    ],
  );
  return { warm, cold, backToBack };
}
