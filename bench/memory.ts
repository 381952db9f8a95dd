/**
 * (d) Memory over many reloads, each in a fresh child process so earlier phases don't blur it:
 * molt reloads vs a bare `new Worker` create+terminate vs the naive `import(url?v=i)`.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchDir } from './artifacts.js';
import { type ChildResult, runChild, type Sample, WARMUP_OPS } from './child.js';
import { check, heading, note, num, table } from './report.js';
import { slope } from './stats.js';

const env = process.env;
const MOLT_RELOADS = Number(env.MOLT_BENCH_MEM_RELOADS ?? 5000);
const MOLT_CAP_MS = Number(env.MOLT_BENCH_MEM_CAP_S ?? 450) * 1000;
const WORKER_CYCLES = Number(env.MOLT_BENCH_WORKER_CYCLES ?? 2000);
const WORKER_CAP_MS = Number(env.MOLT_BENCH_WORKER_CAP_S ?? 150) * 1000;
const LOAD_RELOADS = Number(env.MOLT_BENCH_MEM_LOAD_RELOADS ?? 2000);
const LOAD_CAP_MS = Number(env.MOLT_BENCH_MEM_LOAD_CAP_S ?? 270) * 1000;
const LOAD_CALLERS = 64;
const NAIVE_IMPORTS = 5000;
const NAIVE_CAP_MS = 90_000;

export interface Drift {
  label: string;
  requested: number;
  done: number;
  rss0: number;
  rssAt1000: number | undefined;
  rssAt5000: number | undefined;
  rssLast: number;
  rssMin: number;
  rssMax: number;
  /** RSS before the warm-up operations (KB): rss0 minus this is the one-time ramp. */
  rssBeforeWarmup: number | undefined;
  /** (last − first) / done, KB per operation. */
  rssPerOpKB: number;
  /** Least-squares slope over every sample, KB per operation. */
  rssSlopeKB: number;
  /** The same over the second half only: a ramp that levels off shows here as ~0. */
  rssLateSlopeKB: number;
  heapGrowthKB: number;
  /** Growth of the main isolate's committed heap (KB): V8 resizing its young generation shows here. */
  heapTotalGrowthKB: number;
  /** RSS growth per operation once the main isolate's committed heap is taken out (KB). */
  outsideHeapPerOpKB: number;
  /** Growth of anonymous memory per operation (KB): RSS without the node binary's pages. */
  anonPerOpKB: number;
  anonLateSlopeKB: number;
  ms: number;
  died: string | undefined;
  /** Every sample as [n, rss KB, anonymous KB, heapUsed KB]. */
  trace: number[][];
}

export interface MemoryResult {
  molt: Drift;
  loaded: Drift;
  worker: Drift;
  naive: Drift;
}

export function drift(label: string, requested: number, r: ChildResult): Drift {
  const s = r.samples;
  const first = s[0];
  const last = s[s.length - 1];
  const at = (n: number): number | undefined => s.find((x: Sample) => x.n === n)?.rss;
  const done = last?.n ?? 0;
  const oom = /heap out of memory|Reached heap limit/i.test(r.stderrTail);
  const died = r.timedOut
    ? `killed at the time cap after ${done}`
    : r.exitCode === 0
      ? undefined
      : `${oom ? 'OOM' : `exit ${r.exitCode ?? r.signal}`} after ~${done}`;
  return {
    label,
    requested,
    done,
    rss0: first?.rss ?? Number.NaN,
    rssAt1000: at(1000),
    rssAt5000: at(5000),
    rssLast: last?.rss ?? Number.NaN,
    rssBeforeWarmup: r.extra.find((x) => x.kind === 'start')?.rss as number | undefined,
    rssMin: Math.min(...s.map((x) => x.rss)),
    rssMax: Math.max(...s.map((x) => x.rss)),
    rssPerOpKB: first && last && done > 0 ? (last.rss - first.rss) / done : Number.NaN,
    rssSlopeKB: slope(s.map((x) => ({ x: x.n, y: x.rss }))),
    rssLateSlopeKB: slope(s.filter((x) => x.n >= done / 2).map((x) => ({ x: x.n, y: x.rss }))),
    heapGrowthKB: first && last ? last.heap - first.heap : Number.NaN,
    heapTotalGrowthKB: first && last ? last.heapTotal - first.heapTotal : Number.NaN,
    outsideHeapPerOpKB:
      first && last && done > 0
        ? (last.rss - last.heapTotal - (first.rss - first.heapTotal)) / done
        : Number.NaN,
    anonPerOpKB: first && last && done > 0 ? (last.anon - first.anon) / done : Number.NaN,
    anonLateSlopeKB: slope(s.filter((x) => x.n >= done / 2).map((x) => ({ x: x.n, y: x.anon }))),
    ms: r.ms,
    died,
    trace: s.map((x) => [x.n, x.rss, x.anon, x.heap]),
  };
}

/** A ~200 KB ES module: many small functions and string constants, like a bundled plugin. */
async function writeBigModule(): Promise<string> {
  const dir = await scratchDir('naive');
  const parts: string[] = [];
  for (let i = 0, size = 0; size < 200_000 && i < 10_000; i++) {
    const line = `export function f${i}(x) { return x + ${i} + ${JSON.stringify(`const-${i}-${'x'.repeat(120)}`)}.length; }\n`;
    parts.push(line);
    size += line.length;
  }
  const path = join(dir, 'big.mjs');
  await writeFile(path, parts.join(''));
  return path;
}

const mb = (kb: number | undefined): string =>
  kb === undefined ? 'not reached' : `${num(kb / 1024, 1)} MB`;

export async function benchMemory(): Promise<MemoryResult> {
  heading(
    `(d) memory: ${MOLT_RELOADS} molt reloads vs ${WORKER_CYCLES} bare Worker cycles vs naive re-import (separate child processes, run side by side)`,
  );
  const big = await writeBigModule();
  const [moltR, workerR, naiveR] = await Promise.all([
    runChild({
      script: 'mem-molt.js',
      args: [String(MOLT_RELOADS), '250', String(MOLT_CAP_MS)],
      execArgv: ['--expose-gc'],
      timeoutMs: MOLT_CAP_MS + 60_000,
    }),
    runChild({
      script: 'mem-worker.js',
      args: [String(WORKER_CYCLES), '100', String(WORKER_CAP_MS)],
      execArgv: ['--expose-gc'],
      timeoutMs: WORKER_CAP_MS + 30_000,
    }),
    runChild({
      script: 'mem-naive.js',
      args: [big, String(NAIVE_IMPORTS), '10', String(NAIVE_CAP_MS)],
      execArgv: ['--max-old-space-size=256'],
      timeoutMs: NAIVE_CAP_MS + 30_000,
    }),
  ]);
  // Under load, after the idle children (two cores): the callers run through the warm-up, so
  // the load's own one-time ramp (V8 growing the main isolate's young generation to its 16 MB
  // semi-space cap, glibc adding malloc arenas) lands before the zero point and is shown apart.
  const loadR = await runChild({
    script: 'mem-load.js',
    args: [
      JSON.stringify({
        callers: LOAD_CALLERS,
        reloads: LOAD_RELOADS,
        every: 250,
        warmup: WARMUP_OPS,
        capMs: LOAD_CAP_MS,
      }),
    ],
    execArgv: ['--expose-gc'],
    timeoutMs: LOAD_CAP_MS + 60_000,
  });
  const loaded = drift(`molt reload, ${LOAD_CALLERS} callers`, LOAD_RELOADS, loadR);
  const loadDone = loadR.extra.find((x) => x.kind === 'done');
  const loadErrors =
    Number(loadDone?.reloadErrors ?? Number.NaN) + Number(loadDone?.callErrors ?? Number.NaN);
  const molt = drift('molt reload', MOLT_RELOADS, moltR);
  const worker = drift('bare Worker', WORKER_CYCLES, workerR);
  const naive = drift('naive import', NAIVE_IMPORTS, naiveR);
  const moltErrors = Number(moltR.extra.find((x) => x.kind === 'done')?.errors ?? Number.NaN);
  const cells = (pick: (d: Drift) => string): string[] => [molt, loaded, worker, naive].map(pick);
  table(
    [
      'metric',
      'molt reload',
      `molt reload, ${LOAD_CALLERS} callers`,
      'bare Worker cycle',
      'naive import(?v=i)',
    ],
    [
      ['operations done / requested', ...cells((d) => `${d.done} / ${d.requested}`)],
      [
        `RSS before ${WARMUP_OPS} warm-up ops`,
        ...cells((d) => (d.rssBeforeWarmup === undefined ? '-' : mb(d.rssBeforeWarmup))),
      ],
      ['RSS after 0 (after the warm-up)', ...cells((d) => mb(d.rss0))],
      ['RSS after 1,000', ...cells((d) => mb(d.rssAt1000))],
      ['RSS after 5,000', ...cells((d) => mb(d.rssAt5000))],
      [
        'one-time ramp: before warm-up -> after (MB)',
        ...cells((d) =>
          d.rssBeforeWarmup === undefined ? '-' : num((d.rss0 - d.rssBeforeWarmup) / 1024, 1),
        ),
      ],
      ['RSS at the end', ...cells((d) => mb(d.rssLast))],
      [
        'RSS range over the run (min-max)',
        ...cells((d) => `${num(d.rssMin / 1024, 1)}-${num(d.rssMax / 1024, 1)} MB`),
      ],
      ['RSS growth per op, amortized (KB)', ...cells((d) => num(d.rssPerOpKB, 2))],
      ['RSS slope, least squares (KB/op)', ...cells((d) => num(d.rssSlopeKB, 2))],
      ['RSS slope, second half only (KB/op)', ...cells((d) => num(d.rssLateSlopeKB, 2))],
      ['anonymous memory growth per op (KB)', ...cells((d) => num(d.anonPerOpKB, 2))],
      ['anonymous slope, second half (KB/op)', ...cells((d) => num(d.anonLateSlopeKB, 2))],
      ['main heap used growth, after gc (KB)', ...cells((d) => num(d.heapGrowthKB, 0))],
      ['main heap committed (heapTotal) growth (KB)', ...cells((d) => num(d.heapTotalGrowthKB, 0))],
      [
        'RSS growth per op outside the main V8 heap (KB)',
        ...cells((d) => num(d.outsideHeapPerOpKB, 2)),
      ],
      ['outcome', ...cells((d) => d.died ?? 'completed')],
      ['wall time (s)', ...cells((d) => num(d.ms / 1000, 1))],
    ],
  );
  note(
    `molt drift vs raw worker drift: ${num(molt.rssSlopeKB - worker.rssSlopeKB, 2)} KB/op beyond a bare Worker; reload errors: ${moltErrors}`,
  );
  note(
    `"before warm-up" to "after 0" is the one-time ramp of the first workers (node binary pages, malloc arenas). V8 grows and shrinks the main isolate's young generation (8 <-> 16 MB semi-spaces) as it sees fit: a bounded step of ~8 MB in RSS and heapTotal, not a per-reload leak; the "outside the main V8 heap" figure takes it out.`,
  );
  note(
    `${LOAD_CALLERS} callers: RSS sampled with the callers paused and drained, after gc; the load's one-time ramp (main isolate's young generation 1 -> 32 MB committed, malloc arenas) is the "one-time ramp" row, not a per-reload cost. ${num(Number(loadDone?.calls ?? Number.NaN) / 1e6, 1)} M calls, errors (reload + call): ${loadErrors}`,
  );
  note(
    `naive: ${naive.died ?? 'did not die'}; a 256 MB heap holds ~${num(naive.done, 0)} copies of the module; ${num(naive.rssSlopeKB, 1)} KB RSS per import`,
  );
  if (molt.done < MOLT_RELOADS || worker.done < WORKER_CYCLES)
    note(
      `time cap reached (${MOLT_CAP_MS / 1000} s / ${WORKER_CAP_MS / 1000} s); MOLT_BENCH_MEM_CAP_S=900 MOLT_BENCH_WORKER_CAP_S=900 runs every operation`,
    );
  console.log();
  const heapFlat = molt.heapGrowthKB <= 1024;
  const capped = molt.done < MOLT_RELOADS ? ` (over ${molt.done})` : '';
  table(
    ['target', 'value', 'goal', 'verdict'],
    [
      [
        `molt RSS growth per reload, amortized${capped}`,
        `${num(molt.rssPerOpKB, 2)} KB`,
        '<= 2 KB',
        check(
          'RSS growth <= 2 KB/reload',
          `${num(molt.rssPerOpKB, 2)} KB over ${molt.done}`,
          molt.done >= 1000 && molt.rssPerOpKB <= 2 && moltErrors === 0,
        ),
      ],
      [
        `molt RSS growth per reload outside the main V8 heap${capped}`,
        `${num(molt.outsideHeapPerOpKB, 2)} KB`,
        '<= 2 KB',
        check(
          'RSS growth outside V8 heap <= 2 KB/reload',
          `${num(molt.outsideHeapPerOpKB, 2)} KB over ${molt.done}`,
          molt.done >= 1000 && molt.outsideHeapPerOpKB <= 2 && moltErrors === 0,
        ),
      ],
      [
        `molt RSS growth per reload under ${LOAD_CALLERS} callers, amortized${loaded.done < LOAD_RELOADS ? ` (over ${loaded.done})` : ''}`,
        `${num(loaded.rssPerOpKB, 2)} KB`,
        '<= 5 KB',
        check(
          `RSS growth under ${LOAD_CALLERS} callers <= 5 KB/reload`,
          `${num(loaded.rssPerOpKB, 2)} KB over ${loaded.done}`,
          loaded.done >= 1000 && loaded.rssPerOpKB <= 5 && loadErrors === 0,
        ),
      ],
      [
        `molt main heap used growth${capped}`,
        `${num(molt.heapGrowthKB, 0)} KB`,
        '<= 1024 KB (flat)',
        check('heap flat (<= 1 MB growth)', `${num(molt.heapGrowthKB, 0)} KB`, heapFlat),
      ],
    ],
  );
  return { molt, loaded, worker, naive };
}
