import type { ResourceLimits } from 'node:worker_threads';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { DAY_MS, HOUR_MS, LIMIT_RANGES } from '../manifest/limits.js';
import type { Manifest } from '../manifest/manifest.js';
import { type Isolation, pickEnv, resolveGrants } from '../sandbox/permissions.js';
import type { SandboxFactory, SandboxSpec } from '../sandbox/sandbox.js';
import { type Clock, systemClock } from '../util/clock.js';
import type { GenerationLimits } from './generation.js';
import { DEFAULT_PROBATION_RULES, type ProbationRules } from './promotion.js';
import type { SchemaCompat } from './schema-compat.js';

export interface HostOptions {
  /** How long a new version is on trial: the replaced one is kept warm to swap back to. */
  probationMs?: number;
  /**
   * When a version on trial is rolled back for a regression (see promotion.ts): defaults
   * `{ maxErrorRate: 0.05, maxErrorRateIncrease: 0.02, maxP99Ratio: 3, minCalls: 50 }`.
   */
  probation?: Partial<ProbationRules>;
  /** How long a replaced generation may take to finish its calls before it is forced down. */
  drainTimeoutMs?: number;
  /** Deadline of each tool call. A manifest's `limits.callTimeoutMs` overrides it. */
  callTimeoutMs?: number;
  /** Deadline of load + `init()`, and separately of `health()`, snapshot, migrate and restore. */
  initTimeoutMs?: number;
  /** After a call timeout, how long the sandbox has to answer a ping before it is ended as blocked. */
  unresponsiveMs?: number;
  /** Calls that may wait while a slot is held (state handover, recovery); more fail with QUEUE_FULL. */
  maxQueuedCalls?: number;
  /** Blank sandboxes kept started ahead per resource-limits key (0 turns warm standby off). */
  standby?: number;
  /**
   * Default memory cap of a sandbox, in MB (a manifest's `limits.memoryMb` overrides it): the
   * JS heap of a worker, the whole process of a process sandbox.
   */
  memoryMb?: number;
  /**
   * How often each stateful plugin's state is checkpointed when it may have changed (0 turns
   * it off). With `dataDir`, checkpoints go to `<dataDir>/state/<name>.json` and are restored
   * at the next load. A manifest's `limits.checkpointMs` overrides it.
   */
  checkpointMs?: number;
  /** Default largest tool result, in MB (a manifest's `limits.maxResultMb` overrides it). */
  maxResultMb?: number;
  /**
   * The least isolation every plugin gets, whatever its manifest says (a manifest may ask for
   * more): `'process'` runs every plugin in its own child process with its permissions enforced.
   */
  isolation?: Isolation;
  /**
   * The host's data folder: each plugin's `ctx.dataDir` is `<dataDir>/plugins/<name>/`, kept
   * across reloads and restarts. Without one, each plugin gets a private temporary folder,
   * removed when the host closes.
   */
  dataDir?: string;
  /** Backoff of restarts after a crash with no warm generation to roll back to. */
  restartBackoff?: { initialMs?: number; maxMs?: number };
  /** Where a sandbox's stdout/stderr go. Default: the host's stderr, never its stdout. */
  output?: (plugin: string, stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** Replaces how sandboxes are made (tests, custom isolation). */
  sandboxFactory?: SandboxFactory;
  /** Replaces the clock of every timeout (tests advance a manual one). */
  clock?: Clock;
  /**
   * `'refuse'` (default): a reload within the active version's caret range that breaks a tool's
   * schema fails with SCHEMA_BREAKING. `'off'`: no check (a dev loop, where tools come and go).
   */
  schemaCompat?: SchemaCompat;
}

export interface ResolvedOptions {
  probationMs: number;
  probation: ProbationRules;
  drainTimeoutMs: number;
  callTimeoutMs: number;
  initTimeoutMs: number;
  unresponsiveMs: number;
  maxQueuedCalls: number;
  standby: number;
  memoryMb: number | undefined;
  maxResultMb: number;
  checkpointMs: number;
  isolation: Isolation;
  dataDir: string | undefined;
  restartBackoff: { initialMs: number; maxMs: number };
  output: (plugin: string, stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  sandboxFactory: SandboxFactory | undefined;
  clock: Clock;
  schemaCompat: SchemaCompat;
}

/** [minimum, maximum] of each numeric option; the manifest's own limits share their ranges. */
const RANGES = {
  probationMs: [0, DAY_MS],
  drainTimeoutMs: LIMIT_RANGES.drainTimeoutMs,
  callTimeoutMs: LIMIT_RANGES.callTimeoutMs,
  initTimeoutMs: LIMIT_RANGES.initTimeoutMs,
  unresponsiveMs: [1, HOUR_MS],
  maxQueuedCalls: LIMIT_RANGES.maxQueuedCalls,
  standby: [0, 16],
  memoryMb: LIMIT_RANGES.memoryMb,
  maxResultMb: LIMIT_RANGES.maxResultMb,
  checkpointMs: LIMIT_RANGES.checkpointMs,
  'restartBackoff.initialMs': [1, HOUR_MS],
  'restartBackoff.maxMs': [1, DAY_MS],
} as const satisfies Record<string, readonly [number, number]>;

function checked(name: keyof typeof RANGES, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const [min, max] = RANGES[name];
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new MoltError(
      ErrorCodes.OPTIONS_INVALID,
      `${name} must be an integer from ${min} to ${max}, not ${String(value)}`,
      { details: { option: name, value, min, max } },
    );
  }
  return value;
}

export function resolveOptions(o: HostOptions): ResolvedOptions {
  return {
    probationMs: checked('probationMs', o.probationMs, 30_000),
    probation: probationRules(o.probation),
    drainTimeoutMs: checked('drainTimeoutMs', o.drainTimeoutMs, 10_000),
    callTimeoutMs: checked('callTimeoutMs', o.callTimeoutMs, 30_000),
    initTimeoutMs: checked('initTimeoutMs', o.initTimeoutMs, 10_000),
    unresponsiveMs: checked('unresponsiveMs', o.unresponsiveMs, 1_000),
    maxQueuedCalls: checked('maxQueuedCalls', o.maxQueuedCalls, 10_000),
    standby: checked('standby', o.standby, 1),
    memoryMb: o.memoryMb === undefined ? undefined : checked('memoryMb', o.memoryMb, 0),
    maxResultMb: checked('maxResultMb', o.maxResultMb, 16),
    checkpointMs: checked('checkpointMs', o.checkpointMs, 5_000),
    isolation: isolationOption(o.isolation),
    dataDir: o.dataDir,
    restartBackoff: {
      initialMs: checked('restartBackoff.initialMs', o.restartBackoff?.initialMs, 100),
      maxMs: checked('restartBackoff.maxMs', o.restartBackoff?.maxMs, 30_000),
    },
    output: o.output ?? ((_plugin, _stream, chunk) => process.stderr.write(chunk)),
    sandboxFactory: o.sandboxFactory,
    clock: o.clock ?? systemClock,
    schemaCompat: schemaCompatOption(o.schemaCompat),
  };
}

const RULE_RANGES: Record<keyof ProbationRules, [number, number, boolean]> = {
  maxErrorRate: [0, 1, false],
  maxErrorRateIncrease: [0, 1, false],
  maxP99Ratio: [1, 1_000, false],
  minCalls: [1, 1_000_000, true],
};

function probationRules(o: Partial<ProbationRules> | undefined): ProbationRules {
  const rules = { ...DEFAULT_PROBATION_RULES };
  for (const [key, value] of Object.entries(o ?? {})) {
    const range = RULE_RANGES[key as keyof ProbationRules];
    if (value === undefined) continue;
    if (
      range === undefined ||
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value < range[0] ||
      value > range[1] ||
      (range[2] && !Number.isInteger(value))
    ) {
      throw new MoltError(
        ErrorCodes.OPTIONS_INVALID,
        range === undefined
          ? `probation.${key} is not an option`
          : `probation.${key} must be ${range[2] ? 'an integer' : 'a number'} from ${range[0]} to ${range[1]}, not ${String(value)}`,
        { details: { option: `probation.${key}`, value } },
      );
    }
    rules[key as keyof ProbationRules] = value;
  }
  return rules;
}

function schemaCompatOption(value: unknown): SchemaCompat {
  if (value === undefined || value === 'refuse' || value === 'off') return value ?? 'refuse';
  throw new MoltError(
    ErrorCodes.OPTIONS_INVALID,
    `schemaCompat must be "refuse" or "off", not ${JSON.stringify(value)}`,
    { details: { option: 'schemaCompat', value } },
  );
}

function isolationOption(value: unknown): Isolation {
  if (value === undefined || value === 'worker' || value === 'process') return value ?? 'worker';
  throw new MoltError(
    ErrorCodes.OPTIONS_INVALID,
    `isolation must be "worker" or "process", not ${JSON.stringify(value)}`,
    { details: { option: 'isolation', value } },
  );
}

/** The host's minimum or the manifest's choice, whichever isolates more. */
export function isolationOf(manifest: Manifest | undefined, o: ResolvedOptions): Isolation {
  return o.isolation === 'process' || manifest?.isolation === 'process' ? 'process' : 'worker';
}

/** What the sandbox of a generation of `manifest` is started with. */
export function sandboxSpec(
  manifest: Manifest | undefined,
  o: ResolvedOptions,
  dataDir: string,
): SandboxSpec {
  const isolation = isolationOf(manifest, o);
  const name = manifest?.name ?? '';
  return {
    isolation,
    resourceLimits: resourceLimits(manifest, o),
    memoryMb: isolation === 'process' ? (manifest?.limits?.memoryMb ?? o.memoryMb) : undefined,
    grants: resolveGrants(name, manifest?.permissions, dataDir),
    dataDir,
    env: pickEnv(manifest?.permissions?.env, process.env),
    clock: o.clock,
  };
}

export function generationLimits(manifest: Manifest, o: ResolvedOptions): GenerationLimits {
  return {
    callTimeoutMs: manifest.limits?.callTimeoutMs ?? o.callTimeoutMs,
    initTimeoutMs: manifest.limits?.initTimeoutMs ?? o.initTimeoutMs,
    drainTimeoutMs: manifest.limits?.drainTimeoutMs ?? o.drainTimeoutMs,
  };
}

export function resourceLimits(manifest: Manifest | undefined, o: ResolvedOptions): ResourceLimits {
  const limits: ResourceLimits = {};
  const memoryMb = manifest?.limits?.memoryMb ?? o.memoryMb;
  if (memoryMb !== undefined) limits.maxOldGenerationSizeMb = memoryMb;
  if (manifest?.limits?.youngGenerationMb !== undefined)
    limits.maxYoungGenerationSizeMb = manifest.limits.youngGenerationMb;
  if (manifest?.limits?.stackMb !== undefined) limits.stackSizeMb = manifest.limits.stackMb;
  return limits;
}
