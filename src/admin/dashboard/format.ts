/**
 * Turns API values into display text. Everything from the host may carry plugin-supplied text,
 * so each value is coerced to a bounded string here; the views only ever set it as textContent.
 */
import { RELOAD_STEPS } from '../../events/events.js';
import type { PluginStatus } from './wire.js';

/** Longest text one cell shows: a hostile plugin's 1 MB message must not stretch the page. */
export const MAX_TEXT = 300;

export function clip(s: string, max = MAX_TEXT): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Any value as bounded display text: strings as they are, anything else as JSON. */
export function text(value: unknown, max = MAX_TEXT): string {
  if (typeof value === 'string') return clip(value, max);
  if (value === undefined || value === null) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  try {
    return clip(JSON.stringify(value) ?? '', max);
  } catch {
    return '';
  }
}

export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function ms(value: unknown): string {
  const n = num(value);
  if (n === undefined) return '–';
  return n >= 100 ? `${Math.round(n)} ms` : `${n.toFixed(1)} ms`;
}

/** `validate 0.4 · start 12.1 · swap 0.1 · total 20.3 ms`: the steps that ran, in order. */
export function timings(value: unknown): string {
  if (typeof value !== 'object' || value === null) return '';
  const t = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const step of RELOAD_STEPS) {
    const n = num(t[step]);
    if (n !== undefined) parts.push(`${step} ${n.toFixed(1)}`);
  }
  const total = num(t.total);
  if (total !== undefined) parts.push(`total ${total.toFixed(1)} ms`);
  return parts.join(' · ');
}

/** `1.2.0 (3f1c9a2b)` from a `{ version, buildId }` ref, or '' for anything else. */
export function ref(value: unknown): string {
  if (typeof value !== 'object' || value === null) return '';
  const r = value as Record<string, unknown>;
  const build = typeof r.buildId === 'string' ? ` (${r.buildId.slice(0, 8)})` : '';
  return `${text(r.version, 40)}${build}`;
}

export function rate(value: number | undefined, digits = 1): string {
  return value === undefined ? '–' : value.toFixed(digits);
}

export function percent(value: number | undefined): string {
  return value === undefined ? '–' : `${(value * 100).toFixed(1)} %`;
}

/** The local wall-clock time of a timestamp, to the millisecond. */
export function clock(at: number | string): string {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return text(at, 40);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/**
 * A version proving itself, in one line: a canary's share and calls against its minimum, a
 * shadow's mirrored calls and differences, a probation trial's calls; empty when none runs.
 */
export function promotion(p: PluginStatus): string {
  const decision = (d: unknown) => (d === undefined || d === 'undecided' ? '' : `, ${text(d, 20)}`);
  if (p.canary != null) {
    const c = p.canary;
    return `canary ${percent(num(c.weight))} → ${text(c.version, 40)}: ${num(c.trial?.calls) ?? 0}/${num(c.minCalls) ?? '?'} calls${decision(c.decision)}`;
  }
  if (p.shadow != null) {
    const f = p.shadow.shadow;
    return `shadow → ${text(p.shadow.version, 40)}: ${num(f?.mirrored) ?? 0}/${num(f?.calls) ?? '?'} mirrored, ${num(f?.differing) ?? 0} differ`;
  }
  if (p.trial != null) {
    const t = p.trial;
    return `on trial: ${num(t.trial?.calls) ?? 0} calls, ${percent(num(t.trial?.errorRate))} errors${decision(t.decision)}`;
  }
  return '';
}
