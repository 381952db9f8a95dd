/**
 * Sends every host transition to the audit log, with versions, buildIds and step timings. A
 * rollback after a crash follows the `crash` line that caused it.
 */
import type { AuditLog } from '../catalog/audit.js';
import type { HostEvents } from '../events/events.js';
import type { Host } from '../runtime/host.js';

export function attachAudit(host: Host, audit: AuditLog): void {
  host.on('reload.succeeded', (e) => {
    // A restart after a crash is logged once, as `recovered`, with its attempts.
    if (e.kind === 'recover') return;
    void audit.append(e.kind, e.name, {
      from: e.from,
      to: e.to,
      stateTransferred: e.stateTransferred,
      state: e.state,
      timings: e.timings,
      atSwap: e.atSwap,
    });
  });
  host.on('reload.failed', (e) => {
    void audit.append('failure', e.name, {
      kind: e.kind,
      from: e.from,
      to: e.to,
      error: e.error,
      timings: e.timings,
    });
  });
  host.on('plugin.crashed', (e) => {
    void audit.append('crash', e.name, {
      from: e.from,
      error: e.error,
      inProbation: e.inProbation,
    });
  });
  host.on('plugin.recovered', (e) => {
    void audit.append('recovered', e.name, {
      to: e.to,
      attempts: e.attempts,
      stateAgeMs: e.stateAgeMs,
    });
  });
  host.on('state.restored', (e) => {
    void audit.append('state.restored', e.name, {
      to: e.to,
      stateVersion: e.stateVersion,
      from: e.from,
      ageMs: e.ageMs,
    });
  });
  host.on('state.rejected', (e) => {
    void audit.append('state.rejected', e.name, { reason: e.reason, keptAs: e.keptAs });
  });
  // A version's trial, canary or shadow decided: what made it permanent, or what ended it.
  host.on('promotion.promoted', (e) => {
    void audit.append('promoted', e.name, { ...decided(e), early: e.early });
  });
  host.on('promotion.aborted', (e) => {
    void audit.append('promotion.aborted', e.name, {
      ...decided(e),
      reason: e.reason,
      why: e.why,
      ...(e.differences === undefined ? {} : { differences: e.differences }),
    });
  });
  host.on('generation.retired', (e) => {
    void audit.append('retired', e.name, { from: e.from, drainMs: e.drainMs, forced: e.forced });
  });
}

/** What both ends of a promotion record: the version, how it was tried, and its figures. */
function decided(e: HostEvents['promotion.promoted'] | HostEvents['promotion.aborted']) {
  return {
    to: e.to,
    mode: e.mode ?? 'probation',
    trial: e.trial,
    baseline: e.baseline,
    ...(e.shadow === undefined ? {} : { shadow: e.shadow }),
  };
}
