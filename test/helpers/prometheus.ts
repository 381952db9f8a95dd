/**
 * Reads a `/metrics` text with a Prometheus text-format parser (parse-prometheus-text-format, a
 * port of the Python client's): it throws on any line the format does not allow. Its output
 * folds every labelled histogram series of a family into one (it keeps buckets only of the
 * last, and no `_sum`/`_count`), so values are read from a second parse in which histogram
 * families are declared untyped: each `_bucket`, `_sum` and `_count` line is then kept whole,
 * with its labels. `histogram()` checks what the format promises of a histogram.
 */
import assert from 'node:assert/strict';
import parse from 'parse-prometheus-text-format';

export interface Series {
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** Family name → its TYPE, as the parser read it. */
  types: Map<string, string>;
  /** Every sample of `name` whose labels include `labels`. */
  series(name: string, labels?: Record<string, string>): Series[];
  /** The one sample of `name` with exactly these labels (undefined when absent). */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** One histogram series: buckets (cumulative, by `le`), `_sum` and `_count`. */
  histogram(name: string, labels: Record<string, string>): Histogram;
  /** Every series key (`name{labels}`), to compare two scrapes' label sets. */
  keys(): Set<string>;
}

export interface Histogram {
  buckets: Map<string, number>;
  sum: number;
  count: number;
}

const key = (name: string, labels: Record<string, string>): string =>
  `${name}${JSON.stringify(Object.fromEntries(Object.entries(labels).sort()))}`;

const same = (a: Record<string, string>, b: Record<string, string>): boolean =>
  key('', a) === key('', b);

export function scrape(text: string): Scrape {
  const types = new Map(parse(text).map((f) => [f.name, f.type]));
  const untyped = text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped');
  const byName = new Map<string, Series[]>();
  for (const family of parse(untyped)) {
    const list = byName.get(family.name) ?? [];
    for (const m of family.metrics) list.push({ labels: m.labels ?? {}, value: Number(m.value) });
    byName.set(family.name, list);
  }
  const series = (name: string, labels: Record<string, string> = {}): Series[] =>
    (byName.get(name) ?? []).filter((s) =>
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
  const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
    series(name, labels).find((s) => same(s.labels, labels))?.value;
  return {
    types,
    series,
    value,
    histogram(name, labels) {
      assert.equal(types.get(name), 'HISTOGRAM', `${name} is a histogram`);
      const buckets = new Map<string, number>();
      let last = 0;
      for (const s of series(`${name}_bucket`, labels)) {
        const { le, ...rest } = s.labels;
        if (le === undefined || !same(rest, labels)) continue;
        assert.ok(s.value >= last, `${name} buckets are cumulative`);
        last = s.value;
        buckets.set(le, s.value);
      }
      const count = value(`${name}_count`, labels);
      const sum = value(`${name}_sum`, labels);
      assert.ok(
        count !== undefined && sum !== undefined,
        `${name}${JSON.stringify(labels)} has _count and _sum`,
      );
      assert.equal(buckets.get('+Inf'), count, 'the +Inf bucket is the count');
      return { buckets, sum, count };
    },
    keys() {
      const out = new Set<string>();
      for (const [name, list] of byName) for (const s of list) out.add(key(name, s.labels));
      return out;
    },
  };
}
