/**
 * `molt validate PATH [--against DATA]`: whether the loader would accept an artifact, decided by
 * the loader's own functions, not a copy of them. The artifact is accepted into a throwaway store
 * (archive safety, manifest, the entry's sha256 against buildId), then inspected by a host
 * (host API, the entry evaluated in a sandbox that checks its bytes, config and tool schemas; no
 * `init`); with `--against`, the reload's schema check runs against what a running host serves.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { admin } from '../admin/client.js';
import { isMoltError, type MoltError } from '../errors/errors.js';
import { Contracts, type ProviderSlot } from '../runtime/contracts.js';
import { createHost, type InspectResult } from '../runtime/host.js';
import { schemaBreak } from '../runtime/schema-compat.js';
import type { ToolInfo } from '../sandbox/protocol.js';
import { Store } from '../store/store.js';
import { removeTree } from '../store/store-fs.js';
import { systemClock } from '../util/clock.js';
import { EXIT, out } from './output.js';

export interface Problem {
  code: string;
  message: string;
  details?: Record<string, unknown> | undefined;
}

export interface ValidateReport {
  ok: boolean;
  name?: string;
  version?: string;
  buildId?: string;
  problems: Problem[];
}

/** What a running host serves of one plugin: enough for the reload's checks. */
export interface LivePlugin {
  name: string;
  version: string;
  buildId: string;
  tools: ToolInfo[];
  provides?: Record<string, string>;
  requires?: { contract: string; range: string; optional: boolean }[];
}

/** What a running host serves: its plugins, and the contracts the host itself provides. */
interface Live {
  plugins: LivePlugin[];
  hostContracts: Record<string, string>;
}

export async function validate(path: string, against?: string): Promise<ValidateReport> {
  // Asked first: no host at DATA is a usage problem (exit 3), found before any work is done.
  const live = against === undefined ? undefined : await livePlugins(against);
  const tmp = await mkdtemp(join(tmpdir(), 'molt-validate-'));
  try {
    let inspected: InspectResult;
    try {
      inspected = await inspect(path, tmp);
    } catch (err) {
      if (!isMoltError(err)) throw err;
      return { ok: false, problems: [problem(err)] };
    }
    const { name, version, buildId } = inspected;
    const problems = live === undefined ? [] : checkAgainst(inspected, live).map(problem);
    return { ok: problems.length === 0, name, version, buildId, problems };
  } finally {
    await removeTree(tmp);
  }
}

/** What `molt serve` does with a dropped artifact, up to the sandbox's load and no further. */
async function inspect(path: string, tmp: string): Promise<InspectResult> {
  const stored = await new Store(join(tmp, 'store')).accept(path);
  const host = await createHost({ standby: 0, probationMs: 0, dataDir: join(tmp, 'data') });
  try {
    return await host.inspect(stored.dir, { expect: stored });
  } finally {
    await host.close();
  }
}

/** The checks a load or reload of `inspected` would meet on the host serving `live`. */
function checkAgainst(inspected: InspectResult, live: Live): MoltError[] {
  const problems: MoltError[] = [];
  const current = live.plugins.find((p) => p.name === inspected.name);
  if (current !== undefined) {
    const refused = schemaBreak(inspected.name, current, inspected);
    if (refused !== undefined) problems.push(refused);
  }
  // The host's own contract checks, run on a copy of what the live host serves.
  const contracts = liveContracts(live);
  const attempt = (check: () => void): void => {
    try {
      check();
    } catch (err) {
      if (isMoltError(err)) problems.push(err);
      else throw err;
    }
  };
  attempt(() => contracts.assertSatisfied(inspected.manifest));
  if (current !== undefined)
    attempt(() => contracts.assertNotBreaking(inspected.name, inspected.manifest));
  return problems;
}

/** A `Contracts` over the live host's plugins and host contracts, as its admin API reports them. */
function liveContracts(live: Live): Contracts {
  const slots: ProviderSlot[] = live.plugins.map((p) => ({
    name: p.name,
    serving: true,
    manifest: {
      name: p.name,
      version: p.version,
      entry: '',
      buildId: p.buildId,
      provides: p.provides ?? {},
      requires: Object.fromEntries(
        (p.requires ?? []).map((r) => [r.contract, { range: r.range, optional: r.optional }]),
      ),
    },
    call: () => Promise.reject(new Error('not a live plugin')),
  }));
  const contracts = new Contracts(() => slots, systemClock);
  for (const [name, version] of Object.entries(live.hostContracts))
    contracts.provide(name, version, {});
  return contracts;
}

/** What the host at `dataDir` serves, with tools and contracts (the admin API's `GET /v1/plugins`). */
async function livePlugins(dataDir: string): Promise<Live> {
  const { plugins, hostContracts } = await admin<{ plugins?: unknown; hostContracts?: unknown }>(
    dataDir,
    'GET',
    '/v1/plugins',
  );
  // Only what has the shape the checks read; anything else is not a plugin to check against.
  return {
    plugins: (Array.isArray(plugins) ? plugins : []).filter(
      (p): p is LivePlugin =>
        typeof p?.name === 'string' && typeof p.version === 'string' && Array.isArray(p.tools),
    ),
    hostContracts:
      typeof hostContracts === 'object' && hostContracts !== null
        ? Object.fromEntries(
            Object.entries(hostContracts).filter(
              (e): e is [string, string] => typeof e[1] === 'string',
            ),
          )
        : {},
  };
}

function problem(err: MoltError): Problem {
  return { code: err.code, message: err.message, details: err.details };
}

/** Prints the report (`CODE: message` per problem, or `ok name@version buildId`); the exit code. */
export function printReport(report: ValidateReport, json: boolean): number {
  if (json) out(JSON.stringify(report, null, 2));
  else if (report.ok) out(`ok ${report.name}@${report.version} ${report.buildId}`);
  else {
    for (const p of report.problems) {
      out(`${p.code}: ${p.message}`);
      for (const item of listed(p.details)) out(`  ${item}`);
    }
  }
  return report.ok ? EXIT.ok : EXIT.failed;
}

/** The sub-problems an error carries: a manifest's or schema's problems, a reload's changes. */
function listed(details: Record<string, unknown> | undefined): string[] {
  const lines: string[] = [];
  for (const item of [details?.problems, details?.changes].flat()) {
    if (typeof item !== 'object' || item === null) continue;
    const { tool, path, message } = item as { tool?: unknown; path?: unknown; message?: unknown };
    const where = [tool, path].filter((v) => typeof v === 'string' && v !== '').join(' ');
    lines.push(`${where === '' ? '' : `${where}: `}${String(message)}`);
  }
  return lines;
}
