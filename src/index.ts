export {
  type AnyEventSource,
  EventStream,
  type EventStreamOptions,
  type OverflowPolicy,
  type SubscriberQueue,
} from './admin/event-stream.js';
export { createMetrics, type Metrics, type MetricsOptions } from './admin/metrics.js';
export { type ErrorCode, ErrorCodes, isMoltError, MoltError } from './errors/errors.js';
export type { AnyListener } from './events/bus.js';
export {
  type ArtifactRef,
  EVENTS,
  type EventName,
  type HostEvents,
  type ReloadKind,
  type ShadowDifference,
  type ShadowFigures,
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
export { type FrontDoorOptions, McpFrontDoor } from './mcp/front-door.js';
export {
  type McpHttpOptions,
  type McpHttpServer,
  type McpOAuth,
  startMcpHttp,
} from './mcp/http.js';
export {
  CALL_OUTCOMES,
  type CallOutcome,
  LATENCY_BOUNDS_MS,
  type LatencyStats,
  quantileMs,
  type ToolCallStats,
  UNKNOWN_TOOL,
} from './runtime/call-record.js';
export {
  type CanaryOptions,
  type CanaryStatus,
  DEFAULT_CANARY,
} from './runtime/canary.js';
export type { HostTools, Requirement } from './runtime/contracts.js';
export type { GenerationState } from './runtime/generation.js';
export {
  type CompletionArgument,
  type CompletionRef,
  createHost,
  type GenerationInfo,
  type GenerationMemory,
  Host,
  type InspectResult,
  type PluginCallStats,
  type PluginInfo,
  type ReloadOptions,
  type ReloadResult,
  type UnloadOptions,
} from './runtime/host.js';
export type { HostOptions } from './runtime/options.js';
export { DEFAULT_PROBATION_RULES, type ProbationRules } from './runtime/promotion.js';
export type { LoadResult, SlotStats } from './runtime/reload.js';
export type { SchemaCompat } from './runtime/schema-compat.js';
export type { ShadowOptions, ShadowStatus } from './runtime/shadow.js';
export type { RollbackOptions, SlotLoadOptions, TrialStatus } from './runtime/slot.js';
export type { Grants, Isolation } from './sandbox/permissions.js';
export type {
  PromptInfo,
  ResourceInfo,
  ResourceTemplateInfo,
  ToolInfo,
} from './sandbox/protocol.js';
export type {
  CallClient,
  CallOptions,
  Progress,
  Sandbox,
  SandboxFactory,
  SandboxMemory,
  SandboxSpec,
} from './sandbox/sandbox.js';
export type { CompletionAnswer, PromptAnswer, ReadAnswer } from './sandbox/served.js';
export {
  type SchemaChange,
  type SchemaChangeKind,
  type SchemaChangesOptions,
  schemaChanges,
} from './schema/compat.js';
export type { Clock, Timer } from './util/clock.js';
