export {
  type AnyEventSource,
  EventStream,
  type EventStreamOptions,
  type OverflowPolicy,
  type SubscriberQueue,
} from './admin/event-stream.js';
export { type ErrorCode, ErrorCodes, isMoltError, MoltError } from './errors/errors.js';
export type { AnyListener } from './events/bus.js';
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
export { type FrontDoorOptions, McpFrontDoor } from './mcp/front-door.js';
export {
  type McpHttpOptions,
  type McpHttpServer,
  type McpOAuth,
  startMcpHttp,
} from './mcp/http.js';
export {
  createHost,
  Host,
  type InspectResult,
  type PluginInfo,
  type ReloadOptions,
} from './runtime/host.js';
export type { HostOptions } from './runtime/options.js';
export type { LoadResult, SlotStats } from './runtime/reload.js';
export type { SchemaCompat } from './runtime/schema-compat.js';
export type { RollbackOptions, SlotLoadOptions } from './runtime/slot.js';
export type { Grants, Isolation } from './sandbox/permissions.js';
export type { ToolInfo } from './sandbox/protocol.js';
export type {
  CallOptions,
  Progress,
  Sandbox,
  SandboxFactory,
  SandboxSpec,
} from './sandbox/sandbox.js';
export {
  type SchemaChange,
  type SchemaChangeKind,
  type SchemaChangesOptions,
  schemaChanges,
} from './schema/compat.js';
export type { Clock, Timer } from './util/clock.js';
