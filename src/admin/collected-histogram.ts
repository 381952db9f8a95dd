/**
 * A Prometheus histogram whose buckets are counted elsewhere and read at scrape time.
 * prom-client's `Histogram` learns values one `observe()` at a time, which is exactly what the
 * call path must not pay for; its `Registry` renders any metric that answers `get()` with the
 * family's values, so this one answers it from the runtime's own counts. (prom-client has no
 * public way to set a histogram's buckets: https://github.com/siimon/prom-client/issues/241.)
 */
import type { Histogram, Registry } from 'prom-client';

export interface HistogramSeries<L extends string> {
  labels: Record<L, string>;
  /** Per bucket, not cumulative: one more than the bounds, the last counting what is above. */
  buckets: readonly number[];
  /** The sum of every value, in the exported unit. */
  sum: number;
}

export interface CollectedHistogramConfig<L extends string> {
  name: string;
  help: string;
  /** Upper bounds (inclusive), ascending, in the exported unit. */
  bounds: readonly number[];
  registry: Registry;
  /** Called at each scrape. */
  read(): Iterable<HistogramSeries<L>> | Promise<Iterable<HistogramSeries<L>>>;
}

interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export function registerCollectedHistogram<L extends string>(
  config: CollectedHistogramConfig<L>,
): void {
  const { name, help, bounds, registry, read } = config;
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: Sample[] = [];
      for (const s of await read()) {
        let total = 0;
        for (let i = 0; i < bounds.length; i++) {
          total += s.buckets[i] ?? 0;
          values.push({
            metricName: `${name}_bucket`,
            labels: { ...s.labels, le: bounds[i]! },
            value: total,
          });
        }
        total += s.buckets[bounds.length] ?? 0;
        values.push({
          metricName: `${name}_bucket`,
          labels: { ...s.labels, le: '+Inf' },
          value: total,
        });
        values.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
        values.push({ metricName: `${name}_count`, labels: s.labels, value: total });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    // The registry resets every metric on `resetMetrics()`: there is nothing of its own here.
    reset() {},
  };
  registry.registerMetric(metric as unknown as Histogram<L>);
}
