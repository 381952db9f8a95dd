/**
 * Prometheus metrics of a host, on a registry of their own (two hosts in one process never
 * share series). Call figures are never touched per call: the runtime counts calls in plain
 * arrays (`runtime/call-record.ts`) and each scrape reads them through `collect()`. Reloads,
 * rollbacks and crashes are rare, so their events feed prom-client directly.
 *
 * Every label value comes from a bounded set: plugins loaded, tools they declare (`_unknown`
 * for any other name a caller sent), `ok` or a documented error code, reload kinds, steps and
 * slot and generation states. An unloaded plugin's series go with it.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { ErrorCodes, isErrorCode } from '../errors/errors.js';
import { RELOAD_STEPS, type StepTimings } from '../events/events.js';
import { LATENCY_BOUNDS_MS } from '../runtime/call-record.js';
import type { GenerationMemory, Host } from '../runtime/host.js';
import { type HistogramSeries, registerCollectedHistogram } from './collected-histogram.js';

export interface MetricsOptions {
  /** The admin event stream: subscribers now, and events dropped for slow ones so far. */
  eventStream?: { readonly subscribers: number; readonly dropped: number };
  /** MCP sessions open now (e.g. the HTTP front door's `sessions()`). */
  mcpSessions?: () => number;
  /** A deployment (`molt serve`): adds the versions installed per plugin. */
  deployment?: { status(): readonly { name: string; installed: number }[] };
  /** Node's default process metrics (`process_*`, `nodejs_*`); default true. */
  defaultMetrics?: boolean;
}

/** What the admin server mounts at `GET /metrics`. */
export interface Metrics {
  /** The Content-Type of what `render()` returns (Prometheus text format 0.0.4). */
  readonly contentType: string;
  /** Every metric now, as Prometheus text. */
  render(): Promise<string>;
  /** The private registry: add metrics of your own to it. */
  readonly registry: Registry;
  /** Stops listening to the host's events (the collected series stop with the host). */
  close(): void;
}

const RELOAD_BUCKETS_S = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
const STEP_BUCKETS_S = [0.0001, 0.00025, 0.001, 0.0025, 0.01, 0.025, 0.1, 0.25, 1, 2.5, 10, 30];
const CALL_BOUNDS_S = LATENCY_BOUNDS_MS.map((ms) => ms / 1000);

/** A documented error code, or INTERNAL: a label never carries anything else. */
const codeLabel = (code: string): string => (isErrorCode(code) ? code : ErrorCodes.INTERNAL);

export function createMetrics(host: Host, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const series = new PluginSeries();

  registerCallMetrics(host, registry);
  registerStateMetrics(host, registry, options);

  // Fed by events: rare, so each one is observed directly.
  const reloads = new Counter({
    name: 'molt_reloads_total',
    help: 'Pipeline runs (load, reload, rollback, recover) by outcome: ok or the error code.',
    labelNames: ['plugin', 'kind', 'outcome'] as const,
    registers,
  });
  const reloadSeconds = new Histogram({
    name: 'molt_reload_duration_seconds',
    help: 'Time of a pipeline run, requested to swapped (or failed).',
    labelNames: ['plugin', 'kind', 'outcome'] as const,
    buckets: RELOAD_BUCKETS_S,
    registers,
  });
  const stepSeconds = new Histogram({
    name: 'molt_reload_step_duration_seconds',
    help: 'Time of each step of a pipeline run (validate, start, load, init, health, drain, snapshot, migrate, restore, swap).',
    labelNames: ['plugin', 'step'] as const,
    buckets: STEP_BUCKETS_S,
    registers,
  });
  const rollbacks = new Counter({
    name: 'molt_rollbacks_total',
    help: 'Swaps back to a previous version, by reason: manual or crash.',
    labelNames: ['plugin', 'reason'] as const,
    registers,
  });
  const crashes = new Counter({
    name: 'molt_crashes_total',
    help: "Sandboxes of a plugin's generations that died on their own, by error code.",
    labelNames: ['plugin', 'code'] as const,
    registers,
  });

  const ran = (plugin: string, kind: string, outcome: string, timings: StepTimings): void => {
    const labels = { plugin, kind, outcome };
    series.inc(reloads, labels);
    series.observe(reloadSeconds, labels, timings.total / 1000);
    for (const step of RELOAD_STEPS) {
      const ms = timings[step];
      if (ms !== undefined) series.observe(stepSeconds, { plugin, step }, ms / 1000);
    }
  };
  const off = [
    host.on('reload.succeeded', (e) => ran(e.name, e.kind, 'ok', e.timings)),
    host.on('reload.failed', (e) => ran(e.name, e.kind, codeLabel(e.error.code), e.timings)),
    host.on('reload.rolledBack', (e) =>
      series.inc(rollbacks, { plugin: e.name, reason: e.reason }),
    ),
    host.on('plugin.crashed', (e) =>
      series.inc(crashes, { plugin: e.name, code: codeLabel(e.error.code) }),
    ),
    host.on('plugin.unloaded', (e) => series.forget(e.name)),
  ];

  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    registry,
    close: () => {
      for (const f of off) f();
    },
  };
}

/** Per plugin and tool, read from the runtime's call record at each scrape. */
function registerCallMetrics(host: Host, registry: Registry): void {
  const registers = [registry];
  new Counter({
    name: 'molt_calls_total',
    help: 'Tool calls answered, by outcome: ok or the error code the caller got.',
    labelNames: ['plugin', 'tool', 'outcome'] as const,
    registers,
    collect() {
      this.reset();
      for (const plugin of loaded(host)) {
        for (const t of host.callStats(plugin)?.tools ?? []) {
          const declared = t.tool !== '_unknown';
          if (declared) this.inc({ plugin, tool: t.tool, outcome: 'ok' }, 0);
          for (const [outcome, n] of Object.entries(t.outcomes))
            this.inc({ plugin, tool: t.tool, outcome }, n);
        }
      }
    },
  });
  registerCollectedHistogram<'plugin' | 'tool'>({
    name: 'molt_call_duration_seconds',
    help: 'How long callers waited for their answer, hold-queue wait included.',
    bounds: CALL_BOUNDS_S,
    registry,
    read: () => {
      const out: HistogramSeries<'plugin' | 'tool'>[] = [];
      for (const plugin of loaded(host)) {
        for (const t of host.callStats(plugin)?.tools ?? []) {
          if (t.tool === '_unknown' && t.latency.count === 0) continue;
          out.push({
            labels: { plugin, tool: t.tool },
            buckets: t.latency.buckets,
            sum: t.latency.sumMs / 1000,
          });
        }
      }
      return out;
    },
  });
  new Gauge({
    name: 'molt_calls_in_flight',
    help: 'Handlers running now (a call that timed out counts until its handler returns).',
    labelNames: ['plugin', 'tool'] as const,
    registers,
    collect() {
      this.reset();
      for (const plugin of loaded(host))
        for (const t of host.callStats(plugin)?.tools ?? [])
          if (t.tool !== '_unknown') this.set({ plugin, tool: t.tool }, t.inFlight);
    },
  });
  new Gauge({
    name: 'molt_calls_queued',
    help: 'Calls waiting in the hold queue (state handover, crash recovery, first load).',
    labelNames: ['plugin'] as const,
    registers,
    collect() {
      this.reset();
      for (const plugin of loaded(host)) this.set({ plugin }, host.callStats(plugin)?.queued ?? 0);
    },
  });
}

/** Plugins, generations, sandboxes and the front doors' own figures, read at each scrape. */
function registerStateMetrics(host: Host, registry: Registry, options: MetricsOptions): void {
  const registers = [registry];
  new Gauge({
    name: 'molt_plugin_info',
    help: 'The version serving each plugin, its build and isolation (always 1).',
    labelNames: ['plugin', 'version', 'build_id', 'isolation'] as const,
    registers,
    collect() {
      this.reset();
      for (const p of host.plugins())
        this.set(
          { plugin: p.name, version: p.version, build_id: p.buildId, isolation: p.isolation },
          1,
        );
    },
  });
  new Gauge({
    name: 'molt_plugin_state',
    help: "Each plugin's slot state (1 for the state it is in).",
    labelNames: ['plugin', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const p of host.plugins()) this.set({ plugin: p.name, state: p.state }, 1);
    },
  });
  new Gauge({
    name: 'molt_generations',
    help: 'Generations whose sandbox has not ended, by state (starting, ready, active, standby, draining).',
    labelNames: ['plugin', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const g of host.generations()) this.inc({ plugin: g.name, state: g.state });
    },
  });
  // One read of every sandbox per scrape, shared by the two gauges below.
  let memory: Promise<GenerationMemory[]> | undefined;
  const readMemory = (): Promise<GenerationMemory[]> => {
    memory ??= host.sandboxMemory().finally(() => {
      memory = undefined;
    });
    return memory;
  };
  new Gauge({
    name: 'molt_sandbox_resident_bytes',
    help: "Resident memory of a plugin's process sandboxes (every live generation), from /proc.",
    labelNames: ['plugin'] as const,
    registers,
    async collect() {
      this.reset();
      for (const g of await readMemory())
        if (g.residentBytes !== undefined) this.inc({ plugin: g.name }, g.residentBytes);
    },
  });
  new Gauge({
    name: 'molt_sandbox_heap_used_bytes',
    help: "V8 heap in use of a plugin's worker sandboxes (every live generation); Node 22.16+ only.",
    labelNames: ['plugin'] as const,
    registers,
    async collect() {
      this.reset();
      for (const g of await readMemory())
        if (g.heapUsedBytes !== undefined) this.inc({ plugin: g.name }, g.heapUsedBytes);
    },
  });
  const stream = options.eventStream;
  if (stream !== undefined) {
    new Gauge({
      name: 'molt_event_stream_subscribers',
      help: 'Subscribers of the admin event stream now.',
      registers,
      collect() {
        this.set(stream.subscribers);
      },
    });
    new Counter({
      name: 'molt_event_stream_dropped_events_total',
      help: 'Events the admin event stream dropped for subscribers that fell behind.',
      registers,
      collect() {
        this.reset();
        this.inc(stream.dropped);
      },
    });
  }
  const sessions = options.mcpSessions;
  if (sessions !== undefined) {
    new Gauge({
      name: 'molt_mcp_sessions',
      help: 'MCP sessions open now.',
      registers,
      collect() {
        this.set(sessions());
      },
    });
  }
  const deployment = options.deployment;
  if (deployment !== undefined) {
    new Gauge({
      name: 'molt_plugin_versions_installed',
      help: 'Versions of each plugin held in the store.',
      labelNames: ['plugin'] as const,
      registers,
      collect() {
        this.reset();
        for (const p of deployment.status()) this.set({ plugin: p.name }, p.installed);
      },
    });
  }
}

function loaded(host: Host): string[] {
  return host.plugins().map((p) => p.name);
}

/**
 * Event-fed series, remembered per plugin so an unloaded plugin's can be removed (prom-client
 * removes a series only by its full label set).
 */
class PluginSeries {
  /** Per plugin, per metric, each label set seen (as JSON) and how to remove it. */
  readonly #byPlugin = new Map<string, Map<object, Map<string, () => void>>>();

  inc<L extends string>(metric: Counter<L | 'plugin'>, labels: Record<L | 'plugin', string>): void {
    metric.inc(labels);
    this.#remember(metric, labels, () => metric.remove(labels));
  }

  observe<L extends string>(
    metric: Histogram<L | 'plugin'>,
    labels: Record<L | 'plugin', string>,
    value: number,
  ): void {
    metric.observe(labels, value);
    this.#remember(metric, labels, () => metric.remove(labels));
  }

  forget(plugin: string): void {
    for (const sets of this.#byPlugin.get(plugin)?.values() ?? [])
      for (const remove of sets.values()) remove();
    this.#byPlugin.delete(plugin);
  }

  #remember(metric: object, labels: Record<string, string>, remove: () => void): void {
    const plugin = labels.plugin!;
    let metrics = this.#byPlugin.get(plugin);
    if (metrics === undefined) {
      metrics = new Map();
      this.#byPlugin.set(plugin, metrics);
    }
    let sets = metrics.get(metric);
    if (sets === undefined) {
      sets = new Map();
      metrics.set(metric, sets);
    }
    const key = JSON.stringify(labels);
    if (!sets.has(key)) sets.set(key, remove);
  }
}
