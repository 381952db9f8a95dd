export { createMetrics, type Metrics, type MetricsOptions } from './admin/metrics.js';
export { type ErrorCode, ErrorCodes, isMoltError, MoltError } from './errors/errors.js';
export {
  type ArtifactRef,
  EVENTS,
  type EventName,
  type HostEvents,
  type ReloadKind,
  type SlotState,
  type StateOutcome,
  type StepTimings,
  type VersionRef,
} from './events/events.js';
export {
  checkConfig,
  type ExpectedArtifact,
  HOST_API_VERSION,
  type Manifest,
  type ManifestLimits,
  type ManifestPermissions,
  validateManifest,
} from './manifest/manifest.js';
export {
  CALL_OUTCOMES,
  type CallOutcome,
  LATENCY_BOUNDS_MS,
  type LatencyStats,
  quantileMs,
  type ToolCallStats,
  UNKNOWN_TOOL,
} from './runtime/call-record.js';
export type { GenerationState } from './runtime/generation.js';
export {
  createHost,
  type GenerationInfo,
  type GenerationMemory,
  Host,
  type PluginCallStats,
  type PluginInfo,
  type ReloadOptions,
} from './runtime/host.js';
export type { HostOptions } from './runtime/options.js';
export type { LoadResult, SlotStats } from './runtime/reload.js';
export type { RollbackOptions, SlotLoadOptions } from './runtime/slot.js';
export type { Grants, Isolation } from './sandbox/permissions.js';
export type { ToolInfo } from './sandbox/protocol.js';
export type {
  CallOptions,
  Progress,
  Sandbox,
  SandboxFactory,
  SandboxMemory,
  SandboxSpec,
} from './sandbox/sandbox.js';
export type { Clock, Timer } from './util/clock.js';
