import type { ResourceLimits } from 'node:worker_threads';
import type { Manifest } from '../manifest/manifest.js';
import type { SandboxFactory } from '../sandbox/pool.js';
import type { GenerationLimits } from './generation.js';

export interface HostOptions {
  /** How long the replaced generation is kept warm to roll back to if the new one crashes. */
  probationMs?: number;
  /** How long a replaced generation may take to finish its calls before it is forced down. */
  drainTimeoutMs?: number;
  /** Deadline of each tool call. A manifest's `limits.callTimeoutMs` overrides it. */
  callTimeoutMs?: number;
  /** Deadline of load + `init()`, and separately of `health()`, snapshot, migrate and restore. */
  initTimeoutMs?: number;
  /** After a call timeout, how long the worker has to answer a ping before it is ended as blocked. */
  unresponsiveMs?: number;
  /** Calls that may wait while a slot is held (state handover, recovery); more fail with QUEUE_FULL. */
  maxQueuedCalls?: number;
  /** Blank sandboxes kept started ahead per resource-limits key (0 turns warm standby off). */
  standby?: number;
  /** Default JS heap cap of a sandbox, in MB (a manifest's `limits.memoryMb` overrides it). */
  memoryMb?: number;
  /** Backoff of restarts after a crash with no warm generation to roll back to. */
  restartBackoff?: { initialMs?: number; maxMs?: number };
  /** Where a sandbox's stdout/stderr go. Default: the host's stderr, never its stdout. */
  output?: (plugin: string, stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** Replaces how sandboxes are made (tests, custom isolation). */
  sandboxFactory?: SandboxFactory;
}

export interface ResolvedOptions {
  probationMs: number;
  drainTimeoutMs: number;
  callTimeoutMs: number;
  initTimeoutMs: number;
  unresponsiveMs: number;
  maxQueuedCalls: number;
  standby: number;
  memoryMb: number | undefined;
  restartBackoff: { initialMs: number; maxMs: number };
  output: (plugin: string, stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  sandboxFactory: SandboxFactory | undefined;
}

export function resolveOptions(o: HostOptions): ResolvedOptions {
  return {
    probationMs: o.probationMs ?? 30_000,
    drainTimeoutMs: o.drainTimeoutMs ?? 10_000,
    callTimeoutMs: o.callTimeoutMs ?? 30_000,
    initTimeoutMs: o.initTimeoutMs ?? 10_000,
    unresponsiveMs: o.unresponsiveMs ?? 1_000,
    maxQueuedCalls: o.maxQueuedCalls ?? 10_000,
    standby: o.standby ?? 1,
    memoryMb: o.memoryMb,
    restartBackoff: {
      initialMs: o.restartBackoff?.initialMs ?? 100,
      maxMs: o.restartBackoff?.maxMs ?? 30_000,
    },
    output: o.output ?? ((_plugin, _stream, chunk) => process.stderr.write(chunk)),
    sandboxFactory: o.sandboxFactory,
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
