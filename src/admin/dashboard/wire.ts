/**
 * What the admin API sends, as the page reads it. Written here rather than imported from the
 * host's modules so the page's build needs no Node types; every field is read defensively
 * (see `format.ts`) because plugin-supplied strings are hostile input.
 */

export interface PluginStats {
  calls: number;
  errors: number;
  reloads: number;
  rollbacks: number;
  crashes: number;
  lastReloadMs?: number;
  p99Ms?: number;
}

export interface PluginStatus {
  name: string;
  version: string;
  buildId: string;
  state: string;
  isolation: string;
  generation: number;
  inFlight: number;
  stats: PluginStats;
  /** Set once the metrics' per-tool latency histograms report it. */
  p99Ms?: number;
  /** A version proving itself: on probation, as a canary, or in shadow (absent or null: none). */
  trial?: Promotion | null;
  canary?: (Promotion & { weight?: number; minCalls?: number }) | null;
  shadow?:
    | (Promotion & {
        shadow?: { calls?: number; mirrored?: number; matched?: number; differing?: number };
      })
    | null;
}

/** What every kind of promotion in progress reports (`TrialReport` and its candidate). */
export interface Promotion {
  version?: string;
  trial?: { calls?: number; errorRate?: number; p99Ms?: number };
  decision?: string;
}

export interface AuditEntry {
  seq: number;
  ts: string;
  action: string;
  name: string;
  [key: string]: unknown;
}

export interface AuditPage {
  entries: AuditEntry[];
  next?: number;
}

/** The stream's events the page listens to; any event naming a plugin refreshes its row. */
export const STREAM_EVENTS = [
  'reload.started',
  'reload.succeeded',
  'reload.failed',
  'reload.rolledBack',
  'promotion.started',
  'promotion.promoted',
  'promotion.aborted',
  'plugin.crashed',
  'plugin.recovered',
  'plugin.unloaded',
  'slot.state',
  'slot.changed',
  'tools.changed',
  'generation.retired',
  'gap',
] as const;

export type StreamEventName = (typeof STREAM_EVENTS)[number];

/** The events the timeline shows: what an operator looks back at. */
export const TIMELINE_EVENTS: ReadonlySet<string> = new Set([
  'reload.succeeded',
  'reload.failed',
  'reload.rolledBack',
  'promotion.started',
  'promotion.promoted',
  'promotion.aborted',
  'plugin.crashed',
  'plugin.recovered',
  'gap',
]);
