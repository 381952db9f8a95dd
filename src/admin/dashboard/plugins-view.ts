/** The plugins table: one row per plugin, updated in place, with its reload and rollback buttons. */
import { el } from './dom.js';
import { ms, num, percent, promotion, rate, text } from './format.js';
import type { Rates } from './rates.js';
import type { PluginStatus } from './wire.js';

export interface PluginActions {
  reload(name: string, button: HTMLButtonElement): void;
  rollback(name: string, button: HTMLButtonElement): void;
}

interface Row {
  tr: HTMLTableRowElement;
  cells: Record<Column, HTMLTableCellElement>;
  /** The request order of the data shown: an older answer never overwrites a newer one. */
  seq: number;
}

const COLUMNS = [
  'name',
  'version',
  'state',
  'isolation',
  'inFlight',
  'callsPerSec',
  'errorRate',
  'p99',
  'reloads',
  'lastReload',
] as const;
type Column = (typeof COLUMNS)[number];

export class PluginsView {
  readonly #body: HTMLTableSectionElement;
  readonly #actions: PluginActions;
  readonly #rows = new Map<string, Row>();

  constructor(body: HTMLTableSectionElement, actions: PluginActions) {
    this.#body = body;
    this.#actions = actions;
  }

  /** Shows `p` as read by the request numbered `seq`, unless a later request was shown already. */
  update(p: PluginStatus, rates: Rates, seq: number): void {
    const name = text(p.name, 200);
    const row = this.#rows.get(name) ?? this.#add(name);
    if (seq < row.seq) return;
    row.seq = seq;
    const { cells } = row;
    cells.version.textContent = `${text(p.version, 40)} · ${text(p.buildId, 100).slice(0, 12)}`;
    cells.version.title = text(p.buildId, 80);
    const proving = promotion(p);
    cells.state.textContent =
      proving === '' ? text(p.state, 40) : `${text(p.state, 40)} · ${proving}`;
    row.tr.dataset.state = text(p.state, 40);
    row.tr.dataset.version = text(p.version, 40);
    cells.isolation.textContent = text(p.isolation, 40);
    cells.inFlight.textContent = String(num(p.inFlight) ?? '–');
    cells.callsPerSec.textContent = rate(rates.callsPerSec);
    cells.errorRate.textContent = percent(rates.errorRate);
    cells.p99.textContent = ms(p.p99Ms ?? p.stats?.p99Ms);
    cells.reloads.textContent = `${num(p.stats?.reloads) ?? 0} / ${num(p.stats?.rollbacks) ?? 0} / ${num(p.stats?.crashes) ?? 0}`;
    cells.lastReload.textContent = ms(p.stats?.lastReloadMs);
  }

  /** Drops the rows of plugins absent from a full listing requested as `seq`. */
  keepOnly(names: ReadonlySet<string>, seq: number): string[] {
    const gone: string[] = [];
    for (const [name, row] of this.#rows) {
      if (names.has(name) || row.seq > seq) continue;
      this.remove(name);
      gone.push(name);
    }
    return gone;
  }

  remove(name: string): void {
    this.#rows.get(name)?.tr.remove();
    this.#rows.delete(name);
  }

  clear(): void {
    this.#rows.clear();
    this.#body.replaceChildren();
  }

  #add(name: string): Row {
    const cells = Object.fromEntries(
      COLUMNS.map((c) => [c, el('td', { testid: `plugin-${c}` })]),
    ) as Record<Column, HTMLTableCellElement>;
    cells.name.textContent = name;
    const reload = el('button', {
      text: 'Reload',
      testid: 'reload-button',
      attrs: { type: 'button' },
    });
    const rollback = el('button', {
      text: 'Roll back',
      testid: 'rollback-button',
      attrs: { type: 'button' },
    });
    reload.setAttribute('aria-label', `Reload ${name}`);
    rollback.setAttribute('aria-label', `Roll back ${name}`);
    reload.addEventListener('click', () => this.#actions.reload(name, reload));
    rollback.addEventListener('click', () => this.#actions.rollback(name, rollback));
    const tr = el(
      'tr',
      { testid: 'plugin-row', attrs: { 'data-name': name } },
      ...COLUMNS.map((c) => cells[c]),
      el('td', { className: 'actions' }, reload, rollback),
    );
    // Rows stay sorted by name, so a refresh never reorders what the operator is looking at.
    const after = [...this.#rows.keys()].filter((n) => n > name).sort()[0];
    this.#body.insertBefore(tr, after === undefined ? null : (this.#rows.get(after)?.tr ?? null));
    const row: Row = { tr, cells, seq: -1 };
    this.#rows.set(name, row);
    return row;
  }
}
