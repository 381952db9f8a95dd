/**
 * The live timeline: reloads (with each step's timing), rollbacks, failures, crashes and
 * recoveries, newest first, as the event stream delivers them.
 */
import { el, trim } from './dom.js';
import { clock, ref, text, timings } from './format.js';

const MAX_ITEMS = 200;

type Payload = Record<string, unknown>;

export class TimelineView {
  readonly #list: HTMLOListElement;

  constructor(list: HTMLOListElement) {
    this.#list = list;
  }

  add(event: string, data: unknown, at = Date.now()): void {
    const p: Payload = typeof data === 'object' && data !== null ? (data as Payload) : {};
    const item = el(
      'li',
      { testid: 'timeline-item', className: kindClass(event), attrs: { 'data-event': event } },
      el('time', { text: clock(at), attrs: { datetime: new Date(at).toISOString() } }),
      el('strong', { text: title(event, p) }),
      el('span', { text: text(p.name, 200), testid: 'timeline-name' }),
      el('span', { text: describe(event, p), testid: 'timeline-detail' }),
    );
    item.dataset.name = text(p.name, 200);
    const t = timings(p.timings);
    if (t !== '')
      item.append(el('span', { text: t, testid: 'timeline-timings', className: 'timings' }));
    this.#list.prepend(item);
    trim(this.#list, MAX_ITEMS);
  }

  clear(): void {
    this.#list.replaceChildren();
  }
}

function title(event: string, p: Payload): string {
  switch (event) {
    case 'reload.succeeded':
      return `${text(p.kind, 20) || 'reload'} ✓`;
    case 'reload.failed':
      return `${text(p.kind, 20) || 'reload'} ✗`;
    case 'reload.rolledBack':
      return 'rolled back';
    case 'plugin.crashed':
      return 'crashed';
    case 'plugin.recovered':
      return 'recovered';
    case 'gap':
      return 'events missed';
    default:
      return event;
  }
}

function describe(event: string, p: Payload): string {
  switch (event) {
    case 'reload.succeeded':
      return `${ref(p.from) || '–'} → ${ref(p.to)}${p.state ? `, state ${text(p.state, 20)}` : ''}`;
    case 'reload.failed': {
      const e = (p.error ?? {}) as Payload;
      return `${ref(p.from) || '–'} → ${ref(p.to) || '?'}: ${text(e.code, 40)} ${text(e.message)}`;
    }
    case 'reload.rolledBack':
      return `${ref(p.from)} → ${ref(p.to)} (${text(p.reason, 20)}, state ${text(p.state, 20)})`;
    case 'plugin.crashed': {
      const e = (p.error ?? {}) as Payload;
      return `${ref(p.from)}: ${text(e.code, 40)} ${text(e.message)}${p.inProbation ? ' (on trial)' : ''}`;
    }
    case 'plugin.recovered':
      return `${ref(p.to)} after ${text(p.attempts, 10)} attempt(s)`;
    case 'gap':
      return `${text(p.dropped, 20)} event(s) dropped by the stream; the table was read again`;
    default:
      return '';
  }
}

function kindClass(event: string): string {
  if (event === 'reload.failed' || event === 'plugin.crashed') return 'bad';
  if (event === 'reload.rolledBack' || event === 'gap') return 'warn';
  return 'good';
}
