/** `molt status`, `molt reload NAME`, `molt rollback NAME`, `molt call`: ask a running host. */
import { admin } from '../admin/client.js';
import type { PluginStatus, WaitingPlugin } from '../deploy/deployment.js';
import type { ReloadResult } from '../runtime/host.js';
import type { LoadResult } from '../runtime/reload.js';
import { SHADOW_DEFAULTS, type ShadowOptions, type ShadowStatus } from '../runtime/shadow.js';
import type { TrialStatus } from '../runtime/slot.js';
import { ms, out, table, UsageError } from './output.js';

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
  const trials = plugins.flatMap((p) => (p.trial == null ? [] : [trialLine(p.name, p.trial)]));
  const shadows = plugins.flatMap((p) =>
    p.shadow == null ? [] : [shadowLine(p.name, p.version, p.shadow)],
  );
  if (trials.length + shadows.length > 0) out(`\n${[...trials, ...shadows].join('\n')}`);
}

export interface ShadowFlags {
  shadow?: string;
  shadowCalls?: string;
  compare?: string;
  shadowTimeout?: string;
  shadowMaxInFlight?: string;
}

/** A number the flag must hold, or a usage error (exit 2) naming it. */
function numberFlag(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) usage(`${flag} must be a number, not "${text}"`);
  return n;
}

function usage(message: string): never {
  throw new UsageError(message);
}

/**
 * `--shadow 20%` (or `0.2`) and its companions as host.reload's `shadow`; the host checks the
 * ranges. Without `--shadow`, none.
 */
export function shadowOf(flags: ShadowFlags): ShadowOptions | undefined {
  if (flags.shadow === undefined) return undefined;
  const share = flags.shadow.trim();
  const sample = share.endsWith('%')
    ? numberFlag('--shadow', share.slice(0, -1)) / 100
    : numberFlag('--shadow', share);
  const shadow: ShadowOptions = {
    sample,
    calls: numberFlag('--shadow-calls', flags.shadowCalls ?? '100'),
  };
  if (flags.compare !== undefined) {
    if (flags.compare !== 'outcome' && flags.compare !== 'result')
      usage(`--compare must be outcome or result, not "${flags.compare}"`);
    shadow.compare = flags.compare;
  }
  if (flags.shadowTimeout !== undefined)
    shadow.timeoutMs = numberFlag('--shadow-timeout', flags.shadowTimeout);
  if (flags.shadowMaxInFlight !== undefined)
    shadow.maxInFlight = numberFlag('--shadow-max-in-flight', flags.shadowMaxInFlight);
  return shadow;
}

export async function act(
  dataDir: string,
  action: 'reload' | 'rollback',
  name: string,
  options: { discardState?: boolean; shadow?: ShadowOptions | undefined } = {},
): Promise<void> {
  const { shadow } = options;
  const body =
    options.discardState === true
      ? { discardState: true }
      : shadow !== undefined
        ? { shadow }
        : undefined;
  // A shadow reload answers once decided: the request waits as long as the shadow may.
  const waitMs =
    shadow === undefined ? undefined : (shadow.timeoutMs ?? SHADOW_DEFAULTS.timeoutMs) + 30_000;
  const r = await admin<ReloadResult>(
    dataDir,
    'POST',
    `/v1/plugins/${encodeURIComponent(name)}/${action}`,
    body,
    waitMs,
  );
  const s = r.shadow;
  const after =
    s === undefined
      ? ''
      : `, after a shadow: ${s.matched} of ${s.mirrored} mirrored calls matched on ${s.compare}${s.skipped > 0 ? ` (${s.skipped} skipped)` : ''}`;
  out(
    `${action === 'reload' ? 'reloaded' : 'rolled back'} ${r.name}: now ${r.version} (${r.buildId.slice(0, 12)})${after}`,
  );
}

/** `molt promote NAME` / `molt abort NAME`: end a trial one way or the other. */
export async function trial(
  dataDir: string,
  action: 'promote' | 'abort',
  name: string,
): Promise<void> {
  const path = `/v1/plugins/${encodeURIComponent(name)}/${action}`;
  if (action === 'promote') {
    const t = await admin<TrialStatus | ShadowStatus>(dataDir, 'POST', path);
    if ('mode' in t && t.mode === 'shadow')
      return out(
        `promoted the shadow of ${name}: ${t.version} (${t.buildId.slice(0, 12)}) swaps in`,
      );
    return out(`promoted ${name}: ${t.version} (${t.buildId.slice(0, 12)}) is permanent`);
  }
  const r = await admin<LoadResult>(dataDir, 'POST', path);
  out(`aborted the trial of ${name}: now ${r.version} (${r.buildId.slice(0, 12)})`);
}

/** A shadow in progress: what was mirrored and how it compared so far. */
export function shadowLine(name: string, current: string, s: ShadowStatus): string {
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
