/**
 * The last pipeline run of each plugin (load, reload, rollback, recover), kept from the host's
 * events so an operator can see how the last change went and what each step cost without
 * reading the audit log. Attached before a deployment restores its plugins, so those loads count.
 */
import type { ErrorInfo, ReloadKind, StepTimings } from '../events/events.js';
import type { Host } from '../runtime/host.js';

export interface LastReload {
  kind: ReloadKind;
  /** When the run ended (ISO 8601). */
  at: string;
  /** Its total, the same as `timings.total`. */
  ms: number;
  timings: StepTimings;
  outcome: 'succeeded' | 'failed';
  error?: ErrorInfo;
}

export class ReloadHistory {
  readonly #last = new Map<string, LastReload>();

  constructor(host: Host, now: () => Date = () => new Date()) {
    host.on('reload.succeeded', (e) => {
      this.#last.set(e.name, {
        kind: e.kind,
        at: now().toISOString(),
        ms: e.timings.total,
        timings: e.timings,
        outcome: 'succeeded',
      });
    });
    host.on('reload.failed', (e) => {
      this.#last.set(e.name, {
        kind: e.kind,
        at: now().toISOString(),
        ms: e.timings.total,
        timings: e.timings,
        outcome: 'failed',
        error: e.error,
      });
    });
    // A name unloaded for good keeps no entry; one loaded again starts a new history.
    host.on('plugin.unloaded', (e) => this.#last.delete(e.name));
  }

  last(name: string): LastReload | undefined {
    return this.#last.get(name);
  }
}
