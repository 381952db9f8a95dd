/**
 * Messages between the host and a sandbox. Kept flat and small: every tool call is one message
 * each way, and structured clone cost grows with shape.
 */
import type { WireError } from '../errors/errors.js';
import type { JsonSchema } from '../plugin/index.js';

/** Lifecycle operations a host asks of a sandbox (everything but tool calls). */
export type OpName =
  | 'load'
  | 'init'
  | 'health'
  | 'snapshot'
  | 'migrate'
  | 'restore'
  | 'drain'
  | 'ping';

export interface LoadArg {
  entryPath: string;
  artifactDir: string;
  name: string;
}

export interface ToolInfo {
  name: string;
  description: string;
  inputSchema: JsonSchema;
}

/** What a sandbox reports after evaluating an entry: the proof of which code runs. */
export interface LoadedInfo {
  buildId: string;
  tools: ToolInfo[];
  stateful: boolean;
  stateVersion: number;
  hasHealth: boolean;
}

/** The tool calls of one event-loop turn, flat: [id, tool, args, id, tool, args, …]. */
export type CallBatch = unknown[];

/** The synchronous results of one turn, flat: [id, value, id, value, …]. */
export type ReplyBatch = unknown[];

export type HostMessage =
  | { t: 'call'; id: number; tool: string; args: unknown }
  | { t: 'op'; id: number; op: OpName; arg?: unknown }
  | { t: 'cancel'; id: number; reason: WireError };

export type SandboxMessage =
  | { t: 'ok'; id: number; value: unknown }
  | { t: 'err'; id: number; error: WireError }
  | {
      t: 'progress';
      id: number;
      done: number;
      total?: number | undefined;
      message?: string | undefined;
    }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; data?: unknown };
