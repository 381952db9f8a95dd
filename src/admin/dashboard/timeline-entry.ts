/**
 * What one timeline item says: a title, a line of detail and how it reads (good, bad, warn,
 * info), from an event's name and payload. Pure, so its text is tested without a browser; every
 * field may carry plugin-supplied text and goes through format.ts's bounded `text`.
 */
import { num, percent, ref, text } from './format.js';

export type EntryKind = 'good' | 'bad' | 'warn' | 'info';

export interface TimelineEntry {
  title: string;
  detail: string;
  kind: EntryKind;
}

type Payload = Record<string, unknown>;

/** A trial's own figures: `12 calls, 0 errors`. */
function figures(p: Payload): string {
  const t = (p.trial ?? {}) as Payload;
  return `${num(t.calls) ?? 0} calls, ${num(t.errors) ?? 0} errors`;
}

/** `canary 10.0 %`, `shadow`, or a probation's `trial`: what kind of promotion it is. */
function mode(p: Payload): string {
  if (p.mode === 'canary') return `canary ${percent(num(p.weight))}`;
  if (p.mode === 'shadow') return 'shadow';
  return 'trial';
}

function seconds(value: unknown): string {
  const n = num(value);
  return n === undefined ? '–' : `${Math.round(n / 1000)} s`;
}

export function timelineEntry(event: string, data: unknown): TimelineEntry {
  const p: Payload = typeof data === 'object' && data !== null ? (data as Payload) : {};
  switch (event) {
    case 'reload.succeeded':
      return {
        title: `${text(p.kind, 20) || 'reload'} ✓`,
        detail: `${ref(p.from) || '–'} → ${ref(p.to)}${p.state ? `, state ${text(p.state, 20)}` : ''}`,
        kind: 'good',
      };
    case 'reload.failed': {
      const e = (p.error ?? {}) as Payload;
      return {
        title: `${text(p.kind, 20) || 'reload'} ✗`,
        detail: `${ref(p.from) || '–'} → ${ref(p.to) || '?'}: ${text(e.code, 40)} ${text(e.message)}`,
        kind: 'bad',
      };
    }
    case 'reload.rolledBack':
      return {
        title: 'rolled back',
        detail: `${ref(p.from)} → ${ref(p.to)} (${text(p.reason, 20)}, state ${text(p.state, 20)})`,
        kind: 'warn',
      };
    case 'promotion.started':
      return {
        title: `${mode(p)} started`,
        detail: `${ref(p.from) || '–'} → ${ref(p.to)}, for up to ${seconds(p.probationMs)}`,
        kind: 'info',
      };
    case 'promotion.promoted':
      return {
        title: `${mode(p)} promoted`,
        detail: `${ref(p.to)}: ${figures(p)}${p.early === true ? ', promoted early' : ''}`,
        kind: 'good',
      };
    case 'promotion.aborted': {
      const first = Array.isArray(p.differences) ? ((p.differences[0] ?? {}) as Payload) : {};
      const differs =
        first.tool === undefined
          ? ''
          : `; ${text(first.tool, 64)} ${text(first.kind, 20)}: ${text(first.current, 100)} ≠ ${text(first.candidate, 100)}`;
      const why = p.why === undefined ? '' : ` (${text(p.why, 200)})`;
      return {
        title: `${mode(p)} aborted`,
        detail: `${ref(p.to)}: ${text(p.reason, 20)}${why}, ${figures(p)}${differs}`,
        kind: 'warn',
      };
    }
    case 'plugin.crashed': {
      const e = (p.error ?? {}) as Payload;
      return {
        title: 'crashed',
        detail: `${ref(p.from)}: ${text(e.code, 40)} ${text(e.message)}${p.inProbation ? ' (on trial)' : ''}`,
        kind: 'bad',
      };
    }
    case 'plugin.recovered':
      return {
        title: 'recovered',
        detail: `${ref(p.to)} after ${text(p.attempts, 10)} attempt(s)`,
        kind: 'good',
      };
    case 'gap':
      return {
        title: 'events missed',
        detail: `${text(p.dropped, 20)} event(s) dropped by the stream; the table was read again`,
        kind: 'warn',
      };
    default:
      return { title: text(event, 64), detail: '', kind: 'info' };
  }
}
