/**
 * The range of every duration and size molt accepts, from a manifest's `limits` or a host
 * option. Outside it a manifest is MANIFEST_INVALID and an option OPTIONS_INVALID: a timeout of
 * 1e12 ms would never fire (and Node would turn it into a 1 ms timer spinning with warnings).
 */
export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

/** [minimum, maximum], both inclusive; every value is an integer. */
export const LIMIT_RANGES = {
  memoryMb: [16, 65_536],
  youngGenerationMb: [1, 4_096],
  stackMb: [1, 256],
  callTimeoutMs: [1, DAY_MS],
  initTimeoutMs: [1, HOUR_MS],
  drainTimeoutMs: [0, HOUR_MS],
  maxQueuedCalls: [0, 1_000_000],
  maxResultMb: [1, 1_024],
  checkpointMs: [0, DAY_MS],
} as const satisfies Record<string, readonly [number, number]>;

export type LimitName = keyof typeof LIMIT_RANGES;
