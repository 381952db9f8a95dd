/** The audit table: the host's audit log, newest first, fetched page by page after the last seq. */
import { el, trim } from './dom.js';
import { clock, num, text } from './format.js';
import type { AuditEntry } from './wire.js';

const MAX_ROWS = 500;
/** Columns of their own, and the hash chain's fields (`molt audit verify` reads those). */
const NOT_DETAILS = new Set(['seq', 'ts', 'action', 'name', 'prev', 'hash']);

export class AuditView {
  readonly #body: HTMLTableSectionElement;
  /** The highest seq shown: the next fetch asks for what comes after it. */
  last: number | undefined;

  constructor(body: HTMLTableSectionElement) {
    this.#body = body;
  }

  /** Adds entries (any order); those at or below `last` were shown already. */
  add(entries: readonly AuditEntry[]): void {
    const fresh = entries
      .filter((e) => num(e.seq) !== undefined && (this.last === undefined || e.seq > this.last))
      .sort((a, b) => a.seq - b.seq);
    for (const e of fresh) {
      const rest = Object.fromEntries(Object.entries(e).filter(([k]) => !NOT_DETAILS.has(k)));
      this.#body.prepend(
        el(
          'tr',
          { testid: 'audit-row', attrs: { 'data-action': text(e.action, 60) } },
          el('td', { text: String(e.seq), className: 'nowrap' }),
          el('td', {
            text: clock(text(e.ts, 40)),
            className: 'nowrap',
            attrs: { title: text(e.ts, 40) },
          }),
          el('td', { text: text(e.action, 60), testid: 'audit-action', className: 'nowrap' }),
          el('td', { text: text(e.name, 200), className: 'nowrap' }),
          el('td', { text: text(rest), className: 'details' }),
        ),
      );
      this.last = e.seq;
    }
    trim(this.#body, MAX_ROWS);
  }

  clear(): void {
    this.last = undefined;
    this.#body.replaceChildren();
  }
}
