/**
 * (h) Prometheus metrics: what they cost the call path, and what one scrape costs. 64 callers
 * on a no-op tool, four hosts in interleaved rounds (the order rotated each round): metrics
 * off (no `createMetrics`), off again on a second host (the A/A control: how far two identical
 * subjects drift on this machine), on but never scraped, and on (`createMetrics` with default
 * metrics, scraped once a second while its window runs). Then `render()` timed with 10 plugins
 * loaded.
 *
 * The runtime's own call record is always on: it is what the scrape reads. Its cost against a
 * build without it is measured outside this bench (README, Performance).
 */
import { createHost, createMetrics, type Host } from '../src/index.js';
import { benchPluginSource, writeArtifact } from './artifacts.js';
import { drive, Tally } from './drive.js';
import { check, heading, note, num, ratio, table } from './report.js';
import { type Summary, settleGc, summarize } from './stats.js';

const env = process.env;
const ROUNDS = Number(env.MOLT_BENCH_METRICS_ROUNDS ?? 8);
const WINDOW_MS = Number(env.MOLT_BENCH_METRICS_WINDOW_MS ?? 2_000);
const MANY = { concurrency: 64, maxCalls: 5_000_000, maxMs: WINDOW_MS };
const WARMUP = { concurrency: 64, maxCalls: 200_000, maxMs: 1_000 };
const SCRAPE_EVERY_MS = 1_000;
const SCRAPE_PLUGINS = 10;
const SCRAPES = Number(env.MOLT_BENCH_METRICS_SCRAPES ?? 50);
const NAME = 'metered';

interface Subject {
  label: string;
  host: Host;
  scrape: (() => Promise<string>) | undefined;
  tally: Tally;
  scrapes: number;
}

export interface MetricsCostRow {
  label: string;
  callsPerSec: number;
  p50Us: number;
  p99Us: number;
  scrapes: number;
}

export interface MetricsResult {
  cost: MetricsCostRow[];
  /** calls/s with metrics on over off, and of the A/A control over off. */
  onOverOff: number;
  controlOverOff: number;
  scrape: { plugins: number; ms: Summary; bytes: number; series: number };
}

async function benchCost(): Promise<MetricsCostRow[]> {
  const dir = await writeArtifact(NAME, '1.0.0', benchPluginSource('v1'));
  const subjects: Subject[] = [];
  try {
    for (const [label, on, scraped] of [
      ['metrics off', false, false],
      ['metrics off, 2nd host (A/A control)', false, false],
      ['metrics on, never scraped', true, false],
      ['metrics on, scraped every 1 s', true, true],
    ] as const) {
      const host = await createHost({ standby: 0 });
      await host.load(dir);
      const metrics = on ? createMetrics(host) : undefined;
      const scrape = scraped ? metrics?.render : undefined;
      subjects.push({ label, host, scrape, tally: new Tally(), scrapes: 0 });
    }
    for (const s of subjects) await drive(() => s.host.call(NAME, 'noop'), WARMUP);
    const n = subjects.length;
    for (let r = 0; r < ROUNDS; r++) {
      const order = [...subjects.slice(r % n), ...subjects.slice(0, r % n)];
      for (const s of order) {
        await settleGc(1);
        // Scraped only while its own window runs, so the others do not pay for its scrapes.
        const timer =
          s.scrape === undefined
            ? undefined
            : setInterval(() => {
                s.scrapes++;
                void s.scrape?.();
              }, SCRAPE_EVERY_MS);
        try {
          await drive(() => s.host.call(NAME, 'noop'), MANY, s.tally);
        } finally {
          clearInterval(timer);
        }
      }
    }
  } finally {
    for (const s of subjects) await s.host.close();
  }
  return subjects.map((s) => {
    const r = s.tally.result();
    if (r.errors > 0) throw new Error(`calls failed during the bench: ${r.firstError}`);
    return {
      label: s.label,
      callsPerSec: r.callsPerSec,
      p50Us: r.latency.p50,
      p99Us: r.latency.p99,
      scrapes: s.scrapes,
    };
  });
}

/** One scrape's time with 10 plugins loaded, each with calls of both its tools recorded. */
async function benchScrape(): Promise<MetricsResult['scrape']> {
  const host = await createHost({ standby: 0 });
  try {
    for (let i = 0; i < SCRAPE_PLUGINS; i++) {
      const name = `scraped${i}`;
      await host.load(await writeArtifact(name, '1.0.0', benchPluginSource(name)));
      for (let c = 0; c < 100; c++) await host.call(name, c % 2 === 0 ? 'noop' : 'version');
      await host.call(name, 'unknown').catch(() => undefined);
    }
    const metrics = createMetrics(host);
    let text = await metrics.render();
    const ms: number[] = [];
    for (let i = 0; i < SCRAPES; i++) {
      const t = performance.now();
      text = await metrics.render();
      ms.push(performance.now() - t);
    }
    metrics.close();
    const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    return { plugins: SCRAPE_PLUGINS, ms: summarize(ms), bytes: Buffer.byteLength(text), series };
  } finally {
    await host.close();
  }
}

export async function benchMetrics(): Promise<MetricsResult> {
  heading('(h) Prometheus metrics: calls/s at 64 in flight with metrics off and on; one scrape');
  const cost = await benchCost();
  const [off, control, , on] = cost as [
    MetricsCostRow,
    MetricsCostRow,
    MetricsCostRow,
    MetricsCostRow,
  ];
  table(
    ['subject', 'calls/s', 'vs off', 'p50 µs', 'p99 µs', 'scrapes'],
    cost.map((c) => [
      c.label,
      num(c.callsPerSec, 0),
      ratio(c.callsPerSec, off.callsPerSec),
      num(c.p50Us),
      num(c.p99Us),
      String(c.scrapes),
    ]),
  );
  const onOverOff = on.callsPerSec / off.callsPerSec;
  const controlOverOff = control.callsPerSec / off.callsPerSec;
  check(
    'metrics on: calls/s at 64 in flight >= 95% of off',
    `${num(onOverOff * 100)}% (A/A control ${num(controlOverOff * 100)}%)`,
    onOverOff >= 0.95,
  );
  note(
    `${ROUNDS} rounds of ${WINDOW_MS} ms per subject; read "vs off" against the A/A control's drift`,
  );
  const scrape = await benchScrape();
  console.log();
  table(
    ['scrape', 'p50 ms', 'p99 ms', 'max ms', 'bytes', 'samples'],
    [
      [
        `render(), ${scrape.plugins} plugins × 2 tools, default metrics on`,
        num(scrape.ms.p50, 2),
        num(scrape.ms.p99, 2),
        num(scrape.ms.max, 2),
        num(scrape.bytes, 0),
        num(scrape.series, 0),
      ],
    ],
  );
  return { cost, onOverOff, controlOverOff, scrape };
}
