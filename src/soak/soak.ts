/**
 * `molt soak`: the reload SLO harness. It calls every tool that gives `examples` from N callers,
 * for K×M ms with no reloads (the steady window), then while the plugin is reloaded K times every
 * M ms (fresh generations of the same artifact, state handed over: the churn window), and for a
 * stateful plugin compares the state a run with reloads ends in with the state of the same run
 * without them. Each run has a host of its own in a throwaway folder, so nothing is shared with a
 * real deployment.
 *
 * Why the drift runs are sequential: concurrent callers interleave differently on every run
 * (ids handed out in another order, a delete before or after its add), so two concurrent runs
 * need not end in the same state even without a reload. The drift runs make the same calls one
 * after another in one fixed order, and fire the reloads (not awaited) at fixed positions in that
 * order, so the calls queue behind each handover exactly as they would under load; any
 * difference left is the handover's.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMoltError } from '../errors/errors.js';
import { CheckpointFiles } from '../runtime/checkpoints.js';
import { createHost, type Host } from '../runtime/host.js';
import { Store } from '../store/store.js';
import { removeTree } from '../store/store-fs.js';
import { stateDiff } from './state-diff.js';

export interface SoakOptions {
  /** Concurrent callers (1–256). */
  callers: number;
  /** A reload starts every this many ms (1–60000) in the churn window. */
  everyMs: number;
  /** Reloads in the churn window, and in the drift run (0–1000). */
  reloads: number;
  /** The drift runs' calls: this many per caller, made in one fixed order (1–10000). */
  calls: number;
  /** The churn p99 may be at most this many times the steady p99 ... */
  maxP99Ratio: number;
  /** ... unless it is under this many ms: below it, a ratio is the machine's noise. */
  p99FloorMs: number;
  /** The whole soak's bound: past it, the calls still unanswered are counted lost. */
  maxMs: number;
}

export const SOAK_DEFAULTS: SoakOptions = {
  callers: 8,
  everyMs: 100,
  reloads: 10,
  calls: 50,
  maxP99Ratio: 10,
  p99FloorMs: 10,
  maxMs: 120_000,
};

export interface WindowFigures {
  calls: number;
  failed: number;
  lost: number;
  p50Ms: number;
  p99Ms: number;
}

export interface FailedCalls {
  tool: string;
  code: string;
  count: number;
  /** The first such failure's message. */
  message: string;
}

export interface SoakReport {
  ok: boolean;
  name: string;
  version: string;
  buildId: string;
  /** Tools called with their examples, and those without any (not driven). */
  driven: string[];
  undriven: string[];
  /** How long each window lasted: the churn window's reloads set it, the steady one matches. */
  windowMs: number;
  steady: WindowFigures;
  churn: WindowFigures & { reloads: number; reloadFailures: string[] };
  p99Ratio: number;
  /** Stateful plugins only: where the state after the run with reloads differs. */
  drift?: { calls: number; reloads: number; differences: string[] };
  failedCalls: FailedCalls[];
  /** Why it failed, one sentence each; empty when it passed. */
  failures: string[];
}

type Work = readonly [tool: string, args: unknown];

/** Tallies one window's calls: latencies, failures by tool and code, calls not yet answered. */
class Window {
  readonly latencies: number[] = [];
  pending = 0;
  failed = 0;
  readonly #failures: Map<string, FailedCalls>;

  constructor(failures: Map<string, FailedCalls>) {
    this.#failures = failures;
  }

  async call(host: Host, name: string, [tool, args]: Work): Promise<void> {
    const started = performance.now();
    this.pending++;
    try {
      await host.call(name, tool, structuredClone(args));
      this.latencies.push(performance.now() - started);
    } catch (err) {
      this.failed++;
      const code = isMoltError(err) ? err.code : 'UNEXPECTED';
      const key = `${tool}\0${code}`;
      const seen = this.#failures.get(key);
      if (seen === undefined) {
        this.#failures.set(key, { tool, code, count: 1, message: (err as Error).message });
      } else seen.count++;
    } finally {
      this.pending--;
    }
  }

  figures(): WindowFigures {
    const sorted = Float64Array.from(this.latencies).sort();
    const at = (q: number): number =>
      sorted.length === 0
        ? 0
        : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
    return {
      calls: this.latencies.length + this.failed + this.pending,
      failed: this.failed,
      lost: this.pending,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
    };
  }
}

/** `callers` callers, each making its calls one after another while `going()`. */
async function drive(
  window: Window,
  host: Host,
  name: string,
  work: readonly Work[],
  callers: number,
  going: () => boolean,
  deadline: number,
): Promise<void> {
  const each = Array.from({ length: callers }, async (_, c) => {
    for (let i = 0; going() && performance.now() < deadline; i++)
      await window.call(host, name, nth(work, c, i));
  });
  await until(Promise.all(each), deadline);
}

/** Resolves when `work` does, or when `deadline` (performance.now() ms) passes first. */
async function until(work: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
  });
  try {
    await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

const pause = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** The calls of caller `c`: the tools' examples in turn, each caller starting at its own place. */
const nth = (work: readonly Work[], c: number, i: number): Work => work[(c + i) % work.length]!;

export async function soak(path: string, options: SoakOptions): Promise<SoakReport> {
  const tmp = await mkdtemp(join(tmpdir(), 'molt-soak-'));
  try {
    return await soakIn(tmp, path, options);
  } finally {
    await removeTree(tmp);
  }
}

async function soakIn(tmp: string, path: string, o: SoakOptions): Promise<SoakReport> {
  const deadline = performance.now() + o.maxMs;
  const stored = await new Store(join(tmp, 'store')).accept(path);
  const { name } = stored;
  const failedCalls = new Map<string, FailedCalls>();
  const failures: string[] = [];
  let runs = 0;
  /** A host of its own per run: its state, once closed, is in its checkpoint file. */
  const run = async <T>(body: (host: Host) => Promise<T>): Promise<[T, unknown]> => {
    const dataDir = join(tmp, `run-${runs++}`);
    const host = await createHost({ probationMs: 0, dataDir });
    let result: T;
    try {
      await host.load(stored.dir, { expect: stored });
      result = await body(host);
    } finally {
      await host.close();
    }
    const read = await new CheckpointFiles(dataDir).read(name);
    return [result, read.kind === 'found' ? read.checkpoint.state : undefined];
  };

  // Churn, then steady, each on a fresh host from the same empty state and for the same span, so
  // a plugin whose calls slow as its state grows is not judged against its own younger self.
  const [churn, churnState] = await run(async (host) => {
    const tools = host.plugin(name)?.tools ?? [];
    const work: Work[] = tools.flatMap((t) => (t.examples ?? []).map((a): Work => [t.name, a]));
    const driven = tools.filter((t) => (t.examples?.length ?? 0) > 0).map((t) => t.name);
    const undriven = tools.filter((t) => !driven.includes(t.name)).map((t) => t.name);
    const window = new Window(failedCalls);
    const reloadFailures: string[] = [];
    let reloads = 0;
    let reloading = work.length > 0;
    const start = performance.now();
    const reloader = (async () => {
      for (let k = 0; reloading && k < o.reloads && performance.now() < deadline; k++) {
        await pause(start + (k + 1) * o.everyMs - performance.now());
        try {
          await host.reload(name, stored.dir, { expect: stored });
          reloads++;
        } catch (err) {
          reloadFailures.push(isMoltError(err) ? `${err.code} ${err.message}` : String(err));
        }
      }
      reloading = false;
    })();
    const callers = drive(window, host, name, work, o.callers, () => reloading, deadline);
    await until(Promise.all([reloader, callers]), deadline);
    const spanMs = performance.now() - start;
    return { work, driven, undriven, spanMs, ...window.figures(), reloads, reloadFailures };
  });
  const { driven, undriven, work, spanMs, ...churned } = churn;
  const version = stored.version;
  const buildId = stored.buildId;
  if (work.length === 0) {
    const none: WindowFigures = { calls: 0, failed: 0, lost: 0, p50Ms: 0, p99Ms: 0 };
    return {
      ok: false,
      name,
      version,
      buildId,
      driven,
      undriven,
      windowMs: 0,
      steady: none,
      churn: { ...none, reloads: 0, reloadFailures: [] },
      p99Ratio: 0,
      failedCalls: [],
      failures: [
        `no tool gives examples: nothing to call (add \`examples: [args…]\` to a tool of ${name})`,
      ],
    };
  }
  const [steady] = await run(async (host) => {
    const window = new Window(failedCalls);
    const end = Math.min(deadline, performance.now() + spanMs);
    if (work.length > 0)
      await drive(window, host, name, work, o.callers, () => performance.now() < end, deadline);
    return window.figures();
  });

  const p99Ratio = steady.p99Ms > 0 ? churned.p99Ms / steady.p99Ms : 0;

  let drift: SoakReport['drift'];
  const reload = (host: Host): Promise<unknown> =>
    host.reload(name, stored.dir, { expect: stored });
  if (churnState !== undefined) drift = await driftRuns(run, reload, name, work, o, deadline);

  const lost = steady.lost + churned.lost;
  if (lost > 0) failures.push(`${lost} call(s) lost: never answered within ${o.maxMs} ms`);
  const failedList = [...failedCalls.values()].sort((a, b) => b.count - a.count);
  for (const f of failedList)
    failures.push(`${f.count} call(s) of ${f.tool} failed with ${f.code}: ${f.message}`);
  for (const r of churned.reloadFailures) failures.push(`a reload failed: ${r}`);
  if (churned.reloads < o.reloads && churned.reloadFailures.length === 0)
    failures.push(`only ${churned.reloads} of ${o.reloads} reloads ran within ${o.maxMs} ms`);
  if (churned.p99Ms > o.p99FloorMs && p99Ratio > o.maxP99Ratio)
    failures.push(
      `p99 under churn ${churned.p99Ms.toFixed(2)} ms is ${p99Ratio.toFixed(1)}× the steady p99 ${steady.p99Ms.toFixed(2)} ms (at most ${o.maxP99Ratio}×)`,
    );
  if (drift !== undefined && drift.differences.length > 0)
    failures.push(`state drifted across ${drift.reloads} reloads: ${drift.differences.join('; ')}`);
  return {
    ok: failures.length === 0,
    name,
    version,
    buildId,
    driven,
    undriven,
    windowMs: Math.round(spanMs),
    steady,
    churn: churned,
    p99Ratio,
    ...(drift === undefined ? {} : { drift }),
    failedCalls: failedList,
    failures,
  };
}

type Run = <T>(body: (host: Host) => Promise<T>) => Promise<[T, unknown]>;

/**
 * The same calls in the same order, once without reloads and once with `reloads` of them fired
 * at even positions in the order (a reload starts only once the one before has ended).
 */
async function driftRuns(
  run: Run,
  reload: (host: Host) => Promise<unknown>,
  name: string,
  work: readonly Work[],
  o: SoakOptions,
  deadline: number,
): Promise<SoakReport['drift']> {
  const order: Work[] = [];
  for (let i = 0; i < o.calls; i++) for (let c = 0; c < o.callers; c++) order.push(nth(work, c, i));
  // Failures here are already judged in the windows: these runs only produce states.
  const quiet = new Map<string, FailedCalls>();
  const sequence = async (host: Host, reloadAt: Set<number>): Promise<number> => {
    const calls = new Window(quiet);
    let reloading: Promise<unknown> = Promise.resolve();
    let reloads = 0;
    for (let i = 0; i < order.length && performance.now() < deadline; i++) {
      if (reloadAt.has(i)) {
        await reloading;
        reloading = reload(host).then(
          () => reloads++,
          () => {},
        );
      }
      await calls.call(host, name, order[i]!);
    }
    await until(reloading, deadline);
    return reloads;
  };
  const [, expected] = await run((host) => sequence(host, new Set()));
  const at = new Set(
    Array.from({ length: o.reloads }, (_, k) =>
      Math.floor(((k + 1) * order.length) / (o.reloads + 1)),
    ),
  );
  const [reloads, actual] = await run((host) => sequence(host, at));
  return { calls: order.length, reloads, differences: stateDiff(actual, expected) };
}
