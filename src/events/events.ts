/** The host's events: names in one `as const` object, payload types keyed by name. */
import type { ErrorCode } from '../errors/errors.js';

export const EVENTS = {
  generationStarted: 'generation.started',
  generationRetired: 'generation.retired',
  reloadStarted: 'reload.started',
  reloadSucceeded: 'reload.succeeded',
  reloadFailed: 'reload.failed',
  reloadRolledBack: 'reload.rolledBack',
  pluginCrashed: 'plugin.crashed',
  pluginRecovered: 'plugin.recovered',
  pluginLog: 'plugin.log',
  pluginUnloaded: 'plugin.unloaded',
} as const;

export type EventName = (typeof EVENTS)[keyof typeof EVENTS];

export interface VersionRef {
  version: string;
  buildId: string;
  generation: number;
}

/** Milliseconds spent in each step; a step that did not run is absent. */
export interface StepTimings {
  validate?: number;
  start?: number;
  load?: number;
  init?: number;
  health?: number;
  drain?: number;
  snapshot?: number;
  migrate?: number;
  restore?: number;
  swap?: number;
  total: number;
}

export interface ErrorInfo {
  code: ErrorCode;
  message: string;
}

export interface HostEvents {
  'generation.started': { name: string; to: VersionRef; timings: StepTimings };
  'generation.retired': { name: string; from: VersionRef; drainMs: number; forced: boolean };
  'reload.started': {
    name: string;
    from: VersionRef | undefined;
    kind: 'load' | 'reload' | 'rollback';
  };
  'reload.succeeded': {
    name: string;
    from: VersionRef | undefined;
    to: VersionRef;
    kind: 'load' | 'reload' | 'rollback';
    stateTransferred: boolean;
    timings: StepTimings;
  };
  'reload.failed': {
    name: string;
    from: VersionRef | undefined;
    to: { version: string; buildId: string } | undefined;
    kind: 'load' | 'reload' | 'rollback';
    error: ErrorInfo;
    timings: StepTimings;
  };
  'reload.rolledBack': {
    name: string;
    from: VersionRef;
    to: VersionRef;
    reason: 'crash' | 'manual';
  };
  'plugin.crashed': { name: string; from: VersionRef; error: ErrorInfo; inProbation: boolean };
  'plugin.recovered': { name: string; to: VersionRef; attempts: number };
  'plugin.log': { name: string; generation: number; level: string; msg: string; data: unknown };
  'plugin.unloaded': { name: string };
}
