export { type ErrorCode, ErrorCodes, isMoltError, MoltError } from './errors/errors.js';
export {
  EVENTS,
  type EventName,
  type HostEvents,
  type StepTimings,
  type VersionRef,
} from './events/events.js';
export {
  HOST_API_VERSION,
  type Manifest,
  type ManifestLimits,
  validateManifest,
} from './manifest/manifest.js';
export { createHost, Host, type PluginInfo } from './runtime/host.js';
export type { HostOptions } from './runtime/options.js';
export type { LoadResult, SlotState, SlotStats } from './runtime/slot.js';
export type { ToolInfo } from './sandbox/protocol.js';
export type { CallOptions, Progress } from './sandbox/worker-sandbox.js';
