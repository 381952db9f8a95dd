/** The host's events: names in one `as const` object, payload types keyed by name. */
import type { ErrorCode } from '../errors/errors.js';
import type {
  PromptInfo,
  ResourceInfo,
  ResourceTemplateInfo,
  ToolInfo,
} from '../sandbox/protocol.js';

export const EVENTS = {
  generationStarted: 'generation.started',
  generationRetired: 'generation.retired',
  reloadStarted: 'reload.started',
  reloadSucceeded: 'reload.succeeded',
  reloadFailed: 'reload.failed',
  reloadRolledBack: 'reload.rolledBack',
  toolsChanged: 'tools.changed',
  resourcesChanged: 'resources.changed',
  promptsChanged: 'prompts.changed',
  resourceUpdated: 'resource.updated',
  slotState: 'slot.state',
  slotChanged: 'slot.changed',
  pluginCrashed: 'plugin.crashed',
  pluginRecovered: 'plugin.recovered',
  pluginLog: 'plugin.log',
  pluginUnloaded: 'plugin.unloaded',
  stateCheckpointed: 'state.checkpointed',
  stateRestored: 'state.restored',
  stateRejected: 'state.rejected',
  promotionStarted: 'promotion.started',
  promotionProgress: 'promotion.progress',
  promotionPromoted: 'promotion.promoted',
  promotionAborted: 'promotion.aborted',
} as const;

/** A generation's judged calls (see runtime/promotion.ts): `ok` and the version's own errors. */
export interface TrialFigures {
  calls: number;
  errors: number;
  errorRate: number;
  p99Ms: number | undefined;
}

/** A trial's figures against its baseline, and what they decide so far. */
export interface TrialReport {
  trial: TrialFigures;
  baseline: TrialFigures;
  decision: 'undecided' | 'healthy' | 'regression';
  /** In words: too few calls, or which threshold tripped and by how much. */
  why: string | undefined;
}

/**
 * Why a trial ended without its version becoming permanent. A shadow's: `mismatch` (the
 * candidate answered otherwise, or slower), `timeout` (too few mirrored calls in time).
 */
export type TrialAbort =
  | 'regression'
  | 'abort'
  | 'manual'
  | 'crash'
  | 'superseded'
  | 'cascade'
  /** A canary still undecided, or a shadow without its calls, when its `timeoutMs` ran out. */
  | 'timeout'
  /** A shadow's candidate answered otherwise than the current version, or slower. */
  | 'mismatch';

/**
 * What a promotion event is about: a canary or a shadow before the swap, or the probation after
 * it.
 */
export type PromotionMode = 'canary' | 'shadow' | 'probation';

/** A shadow's own counts (runtime/shadow.ts): how many calls it mirrored and how they compared. */
export interface ShadowFigures {
  /** Mirrored calls it needs to decide. */
  calls: number;
  compare: 'outcome' | 'result';
  /** Calls mirrored to the candidate so far (each also answered by the current one). */
  mirrored: number;
  /** Pairs (current, candidate) that ended alike, and those that did not. */
  matched: number;
  differing: number;
  /** Sampled calls not mirrored (too many in flight) or not judged (the caller cancelled). */
  skipped: number;
}

/** One call on which a shadow's candidate and current generation differed (bounded excerpts). */
export interface ShadowDifference {
  tool: string;
  /** The arguments, as JSON, cut to a few hundred characters. */
  args: string;
  /** What differed: the outcome (ok or the error code), the result, or the p99 latency. */
  kind: 'outcome' | 'result' | 'latency';
  current: string;
  candidate: string;
}

export type EventName = (typeof EVENTS)[keyof typeof EVENTS];

/** One artifact: what a restart can come back to. */
export interface ArtifactRef {
  version: string;
  buildId: string;
}

/** One generation of an artifact: what runs. */
export interface VersionRef extends ArtifactRef {
  generation: number;
}

/**
 * A slot's lifecycle. `probation`: the active generation is on trial (the previous one may be
 * kept warm to swap back to); `held`: a state handover holds new calls in a bounded queue;
 * `recovering`: the active generation crashed and calls wait for a rollback or a restart.
 */
export type SlotState =
  | 'loading'
  | 'active'
  | 'probation'
  | 'reloading'
  | 'held'
  | 'recovering'
  | 'closing'
  | 'closed';

/** What a pipeline run does: a first load, a reload, a rollback, or a restart after a crash. */
export type ReloadKind = 'load' | 'reload' | 'rollback' | 'recover';

/** Milliseconds spent in each step; a step that did not run is absent. */
/** The reload's timed steps in pipeline order: metrics labels and the dashboard read this list. */
export const RELOAD_STEPS = [
  'validate',
  'start',
  'load',
  'init',
  'health',
  'drain',
  'snapshot',
  'migrate',
  'restore',
  'swap',
] as const;

export type ReloadStep = (typeof RELOAD_STEPS)[number];

/** Milliseconds per step a reload ran (absent: the step did not run), and in all. */
export type StepTimings = { [step in ReloadStep]?: number } & { total: number };

export interface ErrorInfo {
  code: ErrorCode;
  message: string;
}

/**
 * What a reload did with the state: nothing to move (`none`), handed over as it was, `migrated`
 * up, `downgraded` by the newer version, restored from the newest `checkpoint` (after a crash),
 * or, asked to discard it, the older generation kept its
 * `own` (a warm one) or started `empty`.
 */
export type StateOutcome =
  | 'none'
  | 'handedOver'
  | 'migrated'
  | 'downgraded'
  | 'checkpoint'
  | 'own'
  | 'empty';

export interface HostEvents {
  'generation.started': { name: string; to: VersionRef; timings: StepTimings };
  'generation.retired': { name: string; from: VersionRef; drainMs: number; forced: boolean };
  'reload.started': {
    name: string;
    from: VersionRef | undefined;
    kind: ReloadKind;
    /** Set when the run is part of the cascade a reload of that plugin started. */
    cascadeOf?: string;
  };
  'reload.succeeded': {
    name: string;
    from: VersionRef | undefined;
    to: VersionRef;
    kind: ReloadKind;
    stateTransferred: boolean;
    /** What became of the state (see `StateOutcome`). */
    state: StateOutcome;
    timings: StepTimings;
    /**
     * The load at the instant of the swap: calls still running on the replaced generation
     * (they finish there) and calls waiting in the hold queue (they run on the new one).
     */
    atSwap: { inFlight: number; queued: number };
    cascadeOf?: string;
  };
  'reload.failed': {
    name: string;
    from: VersionRef | undefined;
    to: ArtifactRef | undefined;
    kind: ReloadKind;
    error: ErrorInfo;
    timings: StepTimings;
    cascadeOf?: string;
  };
  'reload.rolledBack': {
    name: string;
    from: VersionRef;
    to: VersionRef;
    /** `cascade`: a cascade this plugin was part of failed further on, so it went back too. */
    /** `regression`: its trial's figures tripped a threshold (`figures` says which). */
    /** `abort`: the operator ended its trial (`molt abort`, `host.abort`). */
    reason: 'crash' | 'manual' | 'cascade' | 'regression' | 'abort';
    cascadeOf?: string;
    /** With `regression`: the figures that tripped it. */
    figures?: TrialReport;
    /** The state the older version serves with (see `StateOutcome`). */
    state: StateOutcome;
    /** With `state: 'checkpoint'`: how old the restored state is (writes since are lost). */
    stateAgeMs?: number;
  };
  /** Step 8: the plugin's tool list changed (names, descriptions or schemas); empty once unloaded. */
  'tools.changed': { name: string; tools: ToolInfo[]; generation: number | undefined };
  /** Step 7: the plugin's resources or templates changed (any listed field); empty once unloaded. */
  'resources.changed': {
    name: string;
    resources: ResourceInfo[];
    resourceTemplates: ResourceTemplateInfo[];
    generation: number | undefined;
  };
  /** Step 7: the plugin's prompts changed (any listed field); empty once unloaded. */
  'prompts.changed': { name: string; prompts: PromptInfo[]; generation: number | undefined };
  /** `ctx.resourceUpdated(uri)` in a handler of that generation (rate-bounded). */
  'resource.updated': { name: string; generation: number; uri: string };
  'slot.state': { name: string; from: SlotState; to: SlotState };
  /**
   * What a restart must come back to changed: the active generation, or the known-good artifact
   * crash recovery restarts from. A deployment persists exactly this.
   */
  /**
   * A version went on trial: its probation window, the baseline it must hold up against. With
   * `mode: 'shadow'`, a candidate's shadow began (before any swap): `probationMs` is its
   * `timeoutMs`, the figures are the candidate's and the current one's over the mirrored calls.
   */
  'promotion.started': {
    name: string;
    from: VersionRef | undefined;
    to: VersionRef;
    /** A canary's or a shadow's: its `timeoutMs`. */
    probationMs: number;
    baseline: TrialFigures;
    /**
     * A canary (before the swap, `weight` of the calls), a shadow (before the swap, `shadow`
     * its counts) or a probation (after it).
     */
    mode: PromotionMode;
    weight?: number;
    shadow?: ShadowFigures;
  };
  /**
   * At most once a second during a trial: the figures so far (a canary's baseline: the current
   * version's calls over the same window; a shadow's: the current version's answers to the
   * mirrored calls, its `trial` the candidate's).
   */
  'promotion.progress': {
    name: string;
    to: VersionRef;
    mode?: PromotionMode;
    shadow?: ShadowFigures;
  } & TrialReport;
  /**
   * The trial ended well (`early`: `molt promote`): the version is permanent now; a canary's or
   * a shadow's candidate goes live (and then serves its probation).
   */
  'promotion.promoted': {
    name: string;
    to: VersionRef;
    early: boolean;
    mode?: PromotionMode;
    shadow?: ShadowFigures;
  } & TrialReport;
  /**
   * The trial ended with the version gone: rolled back (regression, abort, crash, …); a shadow's
   * reload refused, with the first `differences` on a `mismatch`.
   */
  'promotion.aborted': {
    name: string;
    to: VersionRef;
    reason: TrialAbort;
    mode?: PromotionMode;
    shadow?: ShadowFigures;
    differences?: ShadowDifference[];
  } & TrialReport;
  'slot.changed': {
    name: string;
    active: VersionRef | undefined;
    knownGood: ArtifactRef | undefined;
  };
  'plugin.crashed': { name: string; from: VersionRef; error: ErrorInfo; inProbation: boolean };
  /** `stateAgeMs`: set when the state came from a checkpoint, how old it is. */
  'plugin.recovered': { name: string; to: VersionRef; attempts: number; stateAgeMs?: number };
  /**
   * A plugin's log line. `dropped` is set on the report of what was dropped over the
   * generation's budgets (log lines, progress notes, output bytes) since the last report.
   */
  'plugin.log': {
    name: string;
    generation: number;
    level: string;
    msg: string;
    data: unknown;
    dropped?: { logs: number; progress: number; outputBytes: number };
    /** Logged by a handler whose call's client already got the line (an MCP session). */
    toCaller?: true;
  };
  'plugin.unloaded': { name: string };
  /**
   * The state was checkpointed (in memory, and on disk when the host has a data folder).
   * `bytes`: the file's size on disk; without a data folder, an estimate (no JSON is built).
   */
  'state.checkpointed': { name: string; stateVersion: number; bytes: number; ms: number };
  /** A checkpoint was restored into a new generation; `ageMs`: how old the state is. */
  'state.restored': {
    name: string;
    to: VersionRef;
    stateVersion: number;
    from: 'disk' | 'memory';
    ageMs: number;
  };
  /** A checkpoint could not be used: the plugin starts without it, the file is kept aside. */
  'state.rejected': { name: string; reason: string; keptAs: string | undefined };
}
