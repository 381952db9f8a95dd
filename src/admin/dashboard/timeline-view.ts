/**
 * The live timeline: reloads (with each step's timing), promotions (a canary, a shadow or a
 * probation trial: started, promoted, aborted), rollbacks, failures, crashes and recoveries,
 * newest first, as the event stream delivers them. What each item says: timeline-entry.ts.
 */
import { el, trim } from './dom.js';
import { clock, text, timings } from './format.js';
import { timelineEntry } from './timeline-entry.js';

const MAX_ITEMS = 200;

type Payload = Record<string, unknown>;

export class TimelineView {
  readonly #list: HTMLOListElement;

  constructor(list: HTMLOListElement) {
    this.#list = list;
  }

  add(event: string, data: unknown, at = Date.now()): void {
    const p: Payload = typeof data === 'object' && data !== null ? (data as Payload) : {};
    const entry = timelineEntry(event, p);
    const item = el(
      'li',
      { testid: 'timeline-item', className: entry.kind, attrs: { 'data-event': event } },
      el('time', { text: clock(at), attrs: { datetime: new Date(at).toISOString() } }),
      el('strong', { text: entry.title }),
      el('span', { text: text(p.name, 200), testid: 'timeline-name' }),
      el('span', { text: entry.detail, testid: 'timeline-detail' }),
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
