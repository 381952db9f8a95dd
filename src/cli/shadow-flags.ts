/** `molt reload NAME --shadow 20%`: the flags, read into host.reload's shadow options. */
import { resolveShadow, SHADOW_DEFAULTS, type ShadowOptions } from '../runtime/shadow.js';
import { parseShare } from './canary-flags.js';
import { UsageError } from './output.js';

export interface ShadowFlags {
  shadow?: string;
  shadowCalls?: string;
  compare?: string;
  shadowTimeout?: string;
  shadowMaxInFlight?: string;
  shadowMaxP99Ratio?: string;
}

/** Mirrored calls compared before deciding, when `--shadow-calls` is not given. */
export const DEFAULT_SHADOW_CALLS = 100;

/** How long the CLI waits for a shadow's outcome beyond its own timeout. */
const ANSWER_MARGIN_MS = 30_000;

/** `20%` or `0.2` → 0.2 (up to all of them: `100%`, `1`); anything else is a usage error. */
export function shadowShare(text: string): number {
  const n = parseShare(text);
  if (!Number.isFinite(n) || n <= 0 || n > 1) {
    throw new UsageError(
      `--shadow takes a share over 0 and at most 100%, as 20% or 0.2, not "${text}"`,
    );
  }
  return n;
}

/**
 * The shadow options the flags ask for (undefined without `--shadow`), checked here as the host
 * will check them, and how long to wait for the answer.
 */
export function shadowFromFlags(
  flags: ShadowFlags,
): { shadow: ShadowOptions; waitMs: number } | undefined {
  const { shadowCalls, compare, shadowTimeout, shadowMaxInFlight, shadowMaxP99Ratio } = flags;
  if (flags.shadow === undefined) {
    const stray = [shadowCalls, compare, shadowTimeout, shadowMaxInFlight, shadowMaxP99Ratio].some(
      (f) => f !== undefined,
    );
    if (stray) throw new UsageError('the --shadow-… and --compare flags go with --shadow');
    return undefined;
  }
  const shadow: ShadowOptions = {
    sample: shadowShare(flags.shadow),
    calls: shadowCalls === undefined ? DEFAULT_SHADOW_CALLS : Number(shadowCalls),
  };
  if (compare !== undefined) shadow.compare = compare as ShadowOptions['compare'];
  if (shadowTimeout !== undefined) shadow.timeoutMs = Number(shadowTimeout);
  if (shadowMaxInFlight !== undefined) shadow.maxInFlight = Number(shadowMaxInFlight);
  if (shadowMaxP99Ratio !== undefined) shadow.maxP99Ratio = Number(shadowMaxP99Ratio);
  try {
    resolveShadow(shadow, 1);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return { shadow, waitMs: (shadow.timeoutMs ?? SHADOW_DEFAULTS.timeoutMs) + ANSWER_MARGIN_MS };
}
