/** `molt status`, `molt reload NAME`, `molt rollback NAME`, `molt call`: ask a running host. */
import { readFile } from 'node:fs/promises';
import { admin } from '../admin/client.js';
import type { UploadAnswer } from '../admin/uploads.js';
import type { PluginStatus, WaitingPlugin } from '../deploy/deployment.js';
import type { CanaryOptions, CanaryStatus } from '../runtime/canary.js';
import type { ReloadResult } from '../runtime/host.js';
import type { LoadResult } from '../runtime/reload.js';
import type { ShadowOptions, ShadowStatus } from '../runtime/shadow.js';
import type { TrialStatus } from '../runtime/slot.js';
import { ms, out, table } from './output.js';

export async function status(dataDir: string, json: boolean): Promise<void> {
  const { plugins, waiting = [] } = await admin<{
    plugins: PluginStatus[];
    waiting?: WaitingPlugin[];
  }>(dataDir, 'GET', '/v1/plugins');
  if (json) {
    const held = waiting.map((w) => ({ ...w, state: 'waiting' as const }));
    return out(JSON.stringify([...plugins, ...held], null, 2));
  }
  if (plugins.length === 0 && waiting.length === 0) return out('no plugins loaded');
  const rows = [
    [
      'NAME',
      'VERSION',
      'BUILD',
      'STATE',
      'ISOLATION',
      'IN-FLIGHT',
      'CALLS',
      'ERRORS',
      'RELOADS',
      'LAST RELOAD',
    ],
  ];
  for (const p of plugins) {
    rows.push([
      p.name,
      p.version,
      p.buildId.slice(0, 12),
      p.state,
      p.isolation,
      String(p.inFlight),
      String(p.stats.calls),
      String(p.stats.errors),
      String(p.stats.reloads),
      ms(p.stats.lastReloadMs),
    ]);
  }
  for (const w of waiting) {
    rows.push([w.name, w.version, w.buildId.slice(0, 12), 'waiting', '-', '-', '-', '-', '-', '-']);
  }
  out(table(rows));
  // Who serves whom, and what the waiting ones wait for.
  const contracts: string[] = [];
  for (const p of plugins) {
    for (const [contract, version] of Object.entries(p.provides ?? {}))
      contracts.push(`${p.name} provides ${contract}@${version}`);
    for (const r of p.requires ?? []) {
      const from = r.providedBy === null ? 'nobody now' : r.providedBy;
      contracts.push(
        `${p.name} requires ${r.contract}@${r.range}${r.optional ? ' (optional)' : ''}: ${from}`,
      );
    }
  }
  for (const w of waiting) {
    contracts.push(
      `${w.name} waits for ${w.waitingFor.map((x) => `${x.contract}@${x.range}`).join(', ')} (since ${w.since})`,
    );
  }
  if (contracts.length > 0) out(`\n${contracts.join('\n')}`);
  const trials = plugins.flatMap((p) => [
    ...(p.canary == null ? [] : [canaryLine(p.name, p.canary)]),
    ...(p.shadow == null ? [] : [shadowLine(p.name, p.version, p.shadow)]),
    ...(p.trial == null ? [] : [trialLine(p.name, p.trial)]),
  ]);
  if (trials.length > 0) out(`\n${trials.join('\n')}`);
}

/** A canary or a shadow the CLI's flags asked for, and how long to wait for its outcome. */
interface GateFlags {
  canary?: { canary: CanaryOptions; waitMs: number };
  shadow?: { shadow: ShadowOptions; waitMs: number };
}

/** The gate as the admin API takes it (a reload's body, an upload's header), and its wait. */
function gateRequest({ canary, shadow }: GateFlags): {
  body: { canary: CanaryOptions } | { shadow: ShadowOptions } | undefined;
  waitMs: number | undefined;
} {
  if (canary !== undefined) return { body: { canary: canary.canary }, waitMs: canary.waitMs };
  if (shadow !== undefined) return { body: { shadow: shadow.shadow }, waitMs: shadow.waitMs };
  return { body: undefined, waitMs: undefined };
}

export async function act(
  dataDir: string,
  action: 'reload' | 'rollback',
  name: string,
  options: { discardState?: boolean } & GateFlags = {},
): Promise<void> {
  const { canary } = options;
  const gate = gateRequest(options);
  const r = await admin<ReloadResult>(
    dataDir,
    'POST',
    `/v1/plugins/${encodeURIComponent(name)}/${action}`,
    options.discardState === true ? { discardState: true } : gate.body,
    gate.waitMs,
  );
  const done =
    canary !== undefined
      ? `the canary (${pct(canary.canary.weight)}) passed; reloaded`
      : action === 'reload'
        ? 'reloaded'
        : 'rolled back';
  const s = r.shadow;
  const after =
    s === undefined
      ? ''
      : `, after a shadow: ${s.matched} of ${s.mirrored} mirrored calls matched on ${s.compare}${s.skipped > 0 ? ` (${s.skipped} skipped)` : ''}`;
  out(`${done} ${r.name}: now ${r.version} (${r.buildId.slice(0, 12)})${after}`);
}

/**
 * `molt install FILE.molt [--canary …|--shadow …]`: the artifact sent to the running host, which
 * checks it as it checks any archive, installs it, and (with a gate) swaps it in only once its
 * canary or shadow passed; the host keeps it in its watched folder so a restart serves it.
 */
export async function install(
  dataDir: string,
  file: string,
  options: GateFlags = {},
): Promise<void> {
  const { canary, shadow } = options;
  const gate = gateRequest(options);
  const bytes = await readFile(file);
  const r = await admin<UploadAnswer>(dataDir, 'POST', '/v1/artifacts', undefined, gate.waitMs, {
    bytes,
    contentType: 'application/octet-stream',
    ...(gate.body === undefined
      ? {}
      : { headers: { 'molt-reload-options': JSON.stringify(gate.body) } }),
  });
  const how =
    canary !== undefined
      ? `, after its canary (${pct(canary.canary.weight)}) passed`
      : shadow !== undefined
        ? ', after its shadow passed'
        : '';
  out(`${r.action} ${r.name}: ${r.version} (${r.buildId.slice(0, 12)})${how}`);
}

/** `molt promote NAME` / `molt abort NAME`: end a trial one way or the other. */
export async function trial(
  dataDir: string,
  action: 'promote' | 'abort',
  name: string,
): Promise<void> {
  const path = `/v1/plugins/${encodeURIComponent(name)}/${action}`;
  if (action === 'promote') {
    const t = await admin<TrialStatus & { mode?: 'canary' | 'shadow' }>(dataDir, 'POST', path);
    if (t.mode === 'shadow')
      return out(
        `promoted the shadow of ${name}: ${t.version} (${t.buildId.slice(0, 12)}) swaps in`,
      );
    if (t.mode === 'canary')
      return out(
        `promoted the canary of ${name}: ${t.version} (${t.buildId.slice(0, 12)}) takes every call now`,
      );
    return out(`promoted ${name}: ${t.version} (${t.buildId.slice(0, 12)}) is permanent`);
  }
  const r = await admin<LoadResult>(dataDir, 'POST', path);
  out(`aborted the trial of ${name}: now ${r.version} (${r.buildId.slice(0, 12)})`);
}

const pct = (share: number): string => `${Math.round(share * 10_000) / 100}%`;

/** One line per canary in progress: the candidate's figures against the current version's. */
function canaryLine(name: string, c: CanaryStatus): string {
  const figures = (f: CanaryStatus['trial']) =>
    `${f.calls} calls, ${(f.errorRate * 100).toFixed(1)}% errors, p99 ${ms(f.p99Ms)}`;
  return `${name} ${c.version} canary at ${pct(c.weight)} for ${ms(c.forMs)}: ${figures(c.trial)} (current: ${figures(c.baseline)}); ${c.decision}${c.why === undefined ? '' : ` (${c.why})`}`;
}

/** A shadow in progress: what was mirrored and how it compared so far. */
function shadowLine(name: string, current: string, s: ShadowStatus): string {
  const f = s.shadow;
  const p99 = `p99 ${ms(s.trial.p99Ms)} against ${ms(s.baseline.p99Ms)}`;
  return `${name} ${s.version} in shadow of ${current} for ${ms(s.forMs)}: ${f.mirrored} of ${f.calls} calls mirrored, ${f.matched} matched, ${f.differing} differed on ${f.compare}, ${f.skipped} skipped; ${p99}`;
}

/** One line per trial in progress: its figures against the baseline, and the verdict so far. */
function trialLine(name: string, t: TrialStatus): string {
  const figures = (f: TrialStatus['trial']) =>
    `${f.calls} calls, ${(f.errorRate * 100).toFixed(1)}% errors, p99 ${ms(f.p99Ms)}`;
  return `${name} ${t.version} on trial for ${ms(t.forMs)}: ${figures(t.trial)} (before: ${figures(t.baseline)}); ${t.decision}${t.why === undefined ? '' : ` (${t.why})`}`;
}

export async function call(
  dataDir: string,
  name: string,
  tool: string,
  json: string | undefined,
): Promise<void> {
  const args: unknown = json === undefined ? {} : JSON.parse(json);
  const path = `/v1/plugins/${encodeURIComponent(name)}/tools/${encodeURIComponent(tool)}`;
  const { result } = await admin<{ result: unknown }>(dataDir, 'POST', path, args);
  out(typeof result === 'string' ? result : JSON.stringify(result, null, 2));
}
