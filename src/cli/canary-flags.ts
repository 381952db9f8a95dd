/** `molt reload NAME --canary 10%`: the flags, read into host.reload's canary options. */
import { type CanaryOptions, canaryRules, DEFAULT_CANARY } from '../runtime/canary.js';
import { DEFAULT_PROBATION_RULES } from '../runtime/promotion.js';
import { UsageError } from './output.js';

export interface CanaryFlags {
  canary?: string;
  canaryMinCalls?: string;
  canaryTimeout?: string;
  canaryMaxErrorRate?: string;
  canaryMaxP99Ratio?: string;
}

/** How long the CLI waits for a canary's outcome beyond its own timeout. */
const ANSWER_MARGIN_MS = 30_000;

/** A share of calls as a person writes it, `10%` or `0.1`, as a fraction; NaN if it is neither. */
export function parseShare(text: string): number {
  if (text.trim() === '') return Number.NaN;
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  return pct === null ? Number(text) : Number(pct[1]) / 100;
}

/** `10%` or `0.1` → 0.1; anything else is a usage error. */
export function canaryShare(text: string): number {
  const n = parseShare(text);
  if (!Number.isFinite(n) || n <= 0 || n >= 1) {
    throw new UsageError(
      `--canary takes a share over 0 and under 100%, as 10% or 0.1, not "${text}"`,
    );
  }
  return n;
}

/**
 * The canary options the flags ask for (undefined without `--canary`), checked here as the host
 * will check them, and how long to wait for the answer.
 */
export function canaryFromFlags(
  flags: CanaryFlags,
): { canary: CanaryOptions; waitMs: number } | undefined {
  if (flags.canary === undefined) {
    const stray = [
      flags.canaryMinCalls,
      flags.canaryTimeout,
      flags.canaryMaxErrorRate,
      flags.canaryMaxP99Ratio,
    ].some((f) => f !== undefined);
    if (stray) throw new UsageError('the --canary-… flags go with --canary');
    return undefined;
  }
  const canary: CanaryOptions = { weight: canaryShare(flags.canary) };
  if (flags.canaryMinCalls !== undefined) canary.minCalls = Number(flags.canaryMinCalls);
  if (flags.canaryTimeout !== undefined) canary.timeoutMs = Number(flags.canaryTimeout);
  if (flags.canaryMaxErrorRate !== undefined)
    canary.maxErrorRate = Number(flags.canaryMaxErrorRate);
  if (flags.canaryMaxP99Ratio !== undefined) canary.maxP99Ratio = Number(flags.canaryMaxP99Ratio);
  try {
    canaryRules(canary, DEFAULT_PROBATION_RULES);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return { canary, waitMs: (canary.timeoutMs ?? DEFAULT_CANARY.timeoutMs) + ANSWER_MARGIN_MS };
}
