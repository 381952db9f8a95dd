/**
 * `molt soak ARTIFACT`: runs the reload SLO harness (src/soak/) and says what passed or failed,
 * as lines for a person or as JSON for a plugin's CI. Exit 0 pass, 1 fail, 2 usage.
 */
import { SOAK_DEFAULTS, type SoakOptions, type SoakReport, soak } from '../soak/soak.js';
import { EXIT, out, UsageError } from './output.js';

export interface SoakFlags {
  callers?: string;
  every?: string;
  reloads?: string;
  calls?: string;
  maxP99Ratio?: string;
  p99FloorMs?: string;
  maxMs?: string;
}

/** Each flag's bounds: the soak stays bounded in time and count whatever it is given. */
const BOUNDS: Record<keyof SoakFlags, [key: keyof SoakOptions, min: number, max: number]> = {
  callers: ['callers', 1, 256],
  every: ['everyMs', 1, 60_000],
  reloads: ['reloads', 0, 1_000],
  calls: ['calls', 1, 10_000],
  maxP99Ratio: ['maxP99Ratio', 1, 1_000_000],
  p99FloorMs: ['p99FloorMs', 0, 600_000],
  maxMs: ['maxMs', 1_000, 3_600_000],
};

const FLAG_NAMES: Record<keyof SoakFlags, string> = {
  callers: '--callers',
  every: '--every',
  reloads: '--reloads',
  calls: '--calls',
  maxP99Ratio: '--max-p99-ratio',
  p99FloorMs: '--p99-floor-ms',
  maxMs: '--max-ms',
};

export function soakOptions(flags: SoakFlags): SoakOptions {
  const options = { ...SOAK_DEFAULTS };
  for (const flag of Object.keys(BOUNDS) as (keyof SoakFlags)[]) {
    const text = flags[flag];
    if (text === undefined) continue;
    const [key, min, max] = BOUNDS[flag];
    const value = Number(text);
    const whole = key !== 'maxP99Ratio';
    if (
      !Number.isFinite(value) ||
      value < min ||
      value > max ||
      (whole && !Number.isInteger(value))
    )
      throw new UsageError(
        `${FLAG_NAMES[flag]} must be ${whole ? 'an integer' : 'a number'} from ${min} to ${max}, not "${text}"`,
      );
    options[key] = value;
  }
  return options;
}

export async function runSoak(path: string, flags: SoakFlags, json: boolean): Promise<number> {
  const report = await soak(path, soakOptions(flags));
  printSoak(report, json);
  return report.ok ? EXIT.ok : EXIT.failed;
}

const f = (ms: number): string => `${ms.toFixed(2)} ms`;

export function printSoak(r: SoakReport, json: boolean): void {
  if (json) {
    out(JSON.stringify(r, null, 2));
    return;
  }
  out(`soak ${r.name}@${r.version} ${r.buildId.slice(0, 12)}`);
  out(`  tools driven: ${r.driven.join(', ') || '-'}`);
  if (r.undriven.length > 0) out(`  not driven (no examples): ${r.undriven.join(', ')}`);
  out(`  windows: ${r.windowMs} ms each`);
  const w = r.steady;
  out(
    `  steady: ${w.calls} calls, ${w.failed} failed, ${w.lost} lost, p50 ${f(w.p50Ms)}, p99 ${f(w.p99Ms)}`,
  );
  const c = r.churn;
  out(
    `  churn:  ${c.calls} calls, ${c.failed} failed, ${c.lost} lost, p50 ${f(c.p50Ms)}, p99 ${f(c.p99Ms)}, ${c.reloads} reloads (${c.reloadFailures.length} failed)`,
  );
  out(`  p99 ratio (churn / steady): ${r.p99Ratio.toFixed(2)}×`);
  if (r.drift === undefined) out('  state: stateless, nothing to compare');
  else
    out(
      `  state: ${r.drift.calls} calls in order with ${r.drift.reloads} reloads vs none: ${r.drift.differences.length === 0 ? 'same' : 'DRIFTED'}`,
    );
  for (const d of r.drift?.differences ?? []) out(`    ${d}`);
  if (r.ok) out('PASS');
  else {
    out('FAIL');
    for (const why of r.failures) out(`  - ${why}`);
  }
}
