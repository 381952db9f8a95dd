/**
 * A canary reload (issue 11, item 2): between the candidate's health and its swap, a share of
 * new calls goes to the candidate and the rest to the current generation, each call pinned to
 * the one it was given. The candidate is judged against the current generation over the same
 * window, with promotion.ts's `judge()`: once it has `minCalls` judged calls and is healthy the
 * gate resolves (the usual swap runs); a regression, a crash, the time running out or the
 * operator's abort end it, the candidate drains and the reload fails with CANARY_ABORTED.
 *
 * The slot's hot path reads one field (`SlotCore.split`) to know whether a canary runs.
 */
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import type { TrialAbort, TrialFigures, TrialReport, VersionRef } from '../events/events.js';
import type { CallTarget } from '../sandbox/protocol.js';
import type { CallOptions } from '../sandbox/sandbox.js';
import type { Timer } from '../util/clock.js';
import { OptionsReader } from '../util/options.js';
import type { ToolCallStats } from './call-record.js';
import type { Generation } from './generation.js';
import {
  figuresOf,
  judge,
  type ProbationRules,
  repeatableTools,
  tightened,
  VERSION_FAULTS,
} from './promotion.js';
import type { ReloadGate, SlotCore } from './reload.js';

/** `host.reload(name, dir, { canary })`: what share of calls, and when it is decided. */
export interface CanaryOptions {
  /** The share of new calls the candidate gets: 0 < weight < 1 (0.1 is 10%). */
  weight: number;
  /** Judged calls on the candidate before it is decided (default 100). */
  minCalls?: number;
  /** The host's `probation.maxErrorRate` unless given (see `judge()`). */
  maxErrorRate?: number;
  /** The host's `probation.maxP99Ratio` unless given. */
  maxP99Ratio?: number;
  /** Aborted (reason `timeout`) if still undecided this long after it began (default 10 min). */
  timeoutMs?: number;
}

export const DEFAULT_CANARY = { minCalls: 100, timeoutMs: 600_000 } as const;

/** The canary's rules once checked and filled in. */
export interface CanaryRules extends ProbationRules {
  weight: number;
  timeoutMs: number;
}

/** Why a canary ended without its candidate going live. */
export type CanaryAbort =
  | Extract<TrialAbort, 'regression' | 'timeout' | 'abort' | 'crash'>
  | 'superseded';

/** A canary in progress, as `host.plugins()` shows it. */
export interface CanaryStatus extends TrialReport {
  mode: 'canary';
  weight: number;
  /** The candidate. */
  version: string;
  buildId: string;
  generation: number;
  since: string;
  forMs: number;
  minCalls: number;
  timeoutMs: number;
}

/** What the slot's hot path hands a call to while a canary runs. */
export interface CallSplit {
  /** Tells it from a shadow's run, which the slot's hot path holds in the same field. */
  readonly kind: 'canary';
  readonly candidate: Generation;
  call(
    tool: CallTarget,
    args: unknown,
    options?: CallOptions,
    deadline?: number,
    acceptedAt?: number,
  ): Promise<unknown>;
  status(): CanaryStatus;
  /** Ends it now: `promote` resolves the gate, the rest reject it. */
  end(how: 'promote' | CanaryAbort): void;
}

const KEYS = ['weight', 'minCalls', 'maxErrorRate', 'maxP99Ratio', 'timeoutMs'];
/** The clock's longest timer (util/clock.ts): a longer timeout would fire at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * Checks a caller's canary options (they may come from an HTTP body) and fills in the
 * defaults: the host's probation rules, tightened by the candidate's manifest at the gate.
 */
export function canaryRules(value: unknown, host: ProbationRules): CanaryRules {
  const o = new OptionsReader('canary', value, KEYS, '{ "weight": 0.1 }');
  const weight =
    o.number('weight', (n) => n > 0 && n < 1, 'a number over 0 and under 1') ??
    o.missing('weight', 'a number over 0 and under 1, e.g. 0.1');
  return {
    weight,
    minCalls: o.integer('minCalls', 1, 1_000_000) ?? DEFAULT_CANARY.minCalls,
    maxErrorRate:
      o.number('maxErrorRate', (n) => n >= 0 && n <= 1, 'from 0 to 1') ?? host.maxErrorRate,
    maxErrorRateIncrease: host.maxErrorRateIncrease,
    maxP99Ratio:
      o.number('maxP99Ratio', (n) => n >= 1 && n <= 1000, 'from 1 to 1000') ?? host.maxP99Ratio,
    timeoutMs: o.integer('timeoutMs', 1, MAX_TIMEOUT_MS) ?? DEFAULT_CANARY.timeoutMs,
  };
}

/** The refusal of a canary on a plugin with state: two generations cannot share it. */
export function canaryStateful(name: string, version: string): MoltError {
  return new MoltError(
    ErrorCodes.CANARY_STATEFUL,
    `${name}@${version} keeps state (snapshot/restore), which two generations serving side by side would split; prove it with a shadow reload instead ({ shadow: … })`,
    { details: { plugin: name, version } },
  );
}

/** How often a canary's figures are told (`promotion.progress`): at most once a second. */
const PROGRESS_MS = 1_000;

/** `after - before`, tool by tool: the current generation's calls since the canary began. */
export function since(
  after: readonly ToolCallStats[],
  before: readonly ToolCallStats[],
): ToolCallStats[] {
  const was = new Map(before.map((t) => [t.tool, t]));
  return after.map((t) => {
    const b = was.get(t.tool);
    if (b === undefined) return t;
    const outcomes: ToolCallStats['outcomes'] = {};
    for (const [k, n] of Object.entries(t.outcomes) as [
      keyof ToolCallStats['outcomes'],
      number,
    ][]) {
      const d = n - (b.outcomes[k] ?? 0);
      if (d > 0) outcomes[k] = d;
    }
    return {
      tool: t.tool,
      inFlight: t.inFlight,
      outcomes,
      latency: {
        count: t.latency.count - b.latency.count,
        sumMs: t.latency.sumMs - b.latency.sumMs,
        buckets: t.latency.buckets.map((n, i) => n - (b.latency.buckets[i] ?? 0)),
      },
    };
  });
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

/**
 * One canary: the per-call pick, the figures, and its end. Built by the gate once the
 * candidate is ready; the slot routes through it until the gate settles.
 */
class Canary implements CallSplit {
  readonly kind = 'canary';
  readonly candidate: Generation;
  readonly #current: Generation;
  readonly #slot: SlotCore;
  readonly #rules: CanaryRules;
  readonly #repeatable: ReadonlySet<string>;
  /** The current generation's figures when the canary began: its window starts there. */
  readonly #before: ToolCallStats[];
  readonly #since: number;
  readonly #sinceIso = new Date().toISOString();
  readonly #done: Deferred;
  /** Calls picked so far: the candidate gets a call whenever ⌊picked × weight⌋ steps up. */
  #picked = 0;
  /** The candidate's answers of any outcome: an upper bound on its judged calls. */
  #answered = 0;
  #ended = false;
  #timeout: Timer | undefined;
  #progress: Timer | undefined;
  /** Retries a failed repeatable call once the current generation no longer takes calls. */
  readonly #fallback: (tool: CallTarget, args: unknown, options?: CallOptions) => Promise<unknown>;

  constructor(
    candidate: Generation,
    current: Generation,
    slot: SlotCore,
    rules: CanaryRules,
    fallback: (tool: CallTarget, args: unknown, options?: CallOptions) => Promise<unknown>,
  ) {
    this.candidate = candidate;
    this.#current = current;
    this.#slot = slot;
    this.#rules = rules;
    this.#fallback = fallback;
    this.#repeatable = repeatableTools(candidate, current);
    this.#before = current.callStats();
    this.#since = slot.deps.clock.now();
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#done = { promise, resolve, reject };
  }

  get outcome(): Promise<void> {
    return this.#done.promise;
  }

  begin(): void {
    const { bus, clock } = this.#slot.deps;
    bus.emit('promotion.started', {
      name: this.#slot.name,
      from: this.#current.ref,
      to: this.candidate.ref,
      probationMs: this.#rules.timeoutMs,
      baseline: figuresOf([]),
      mode: 'canary',
      weight: this.#rules.weight,
    });
    this.#timeout = clock.setTimeout(() => this.end('timeout'), this.#rules.timeoutMs);
    this.#armProgress();
    this.candidate.onCrash = (gen, exit) => {
      bus.emit('plugin.crashed', {
        name: this.#slot.name,
        from: gen.ref,
        error: { code: exit.code, message: exit.reason },
        inProbation: false,
      });
      this.end('crash');
    };
  }

  call(
    tool: CallTarget,
    args: unknown,
    options?: CallOptions,
    deadline?: number,
    acceptedAt?: number,
  ): Promise<unknown> {
    const n = this.#picked++;
    const w = this.#rules.weight;
    if (this.#ended || Math.floor((n + 1) * w) === Math.floor(n * w))
      return this.#current.call(tool, args, options, deadline, acceptedAt);
    return this.candidate.call(tool, args, options, deadline, acceptedAt).then(
      (value) => {
        this.#judge();
        return value;
      },
      (err: unknown) => {
        this.#judge();
        if (!this.#retries(tool, err)) throw err;
        // The caller gets the answer the current version gives; the failure still counts
        // against the candidate. A fresh deadline: the retry is a call of its own.
        // After a promotion the current one is kept warm (probation) or draining: once it no
        // longer takes calls, the retry goes where the slot sends it.
        const s = this.#current.state;
        return (s === 'active' || s === 'standby') && this.#current.alive
          ? this.#current.call(tool, args, options)
          : this.#fallback(tool, args, options);
      },
    );
  }

  #retries(tool: CallTarget, err: unknown): boolean {
    if (!isMoltError(err) || !VERSION_FAULTS.has(err.code)) return false;
    // A resource read, a prompt's get, a completion: reads by definition.
    return typeof tool !== 'string' || this.#repeatable.has(tool);
  }

  status(): CanaryStatus {
    const c = this.candidate;
    return {
      mode: 'canary',
      weight: this.#rules.weight,
      version: c.version,
      buildId: c.buildId,
      generation: c.id,
      since: this.#sinceIso,
      forMs: this.#slot.deps.clock.now() - this.#since,
      minCalls: this.#rules.minCalls,
      timeoutMs: this.#rules.timeoutMs,
      ...this.#report(),
    };
  }

  #report(): TrialReport {
    const trial = figuresOf(this.candidate.callStats());
    const baseline: TrialFigures = figuresOf(since(this.#current.callStats(), this.#before));
    const rules = tightened(this.#rules, this.candidate.artifact.manifest.probation);
    const verdict = judge(trial, baseline, { ...rules, minCalls: this.#rules.minCalls });
    return {
      trial,
      baseline,
      decision: verdict.decision,
      why: verdict.decision === 'healthy' ? undefined : verdict.why,
    };
  }

  /** After each candidate call: decided once it has `minCalls` judged calls. */
  #judge(): void {
    // Reading both generations' figures costs far more than a call: not before it can decide.
    if (this.#ended || ++this.#answered < this.#rules.minCalls) return;
    const report = this.#report();
    if (report.decision === 'healthy') this.#finish('promote', report);
    else if (report.decision === 'regression') this.#finish('regression', report);
  }

  #armProgress(): void {
    this.#progress = this.#slot.deps.clock.setTimeout(() => {
      if (this.#ended) return;
      this.#slot.deps.bus.emit('promotion.progress', {
        name: this.#slot.name,
        to: this.candidate.ref,
        mode: 'canary',
        ...this.#report(),
      });
      this.#armProgress();
    }, PROGRESS_MS);
  }

  end(how: 'promote' | CanaryAbort): void {
    if (this.#ended) return;
    this.#finish(how, this.#report());
  }

  #finish(how: 'promote' | CanaryAbort, report: TrialReport): void {
    this.#ended = true;
    this.#timeout?.clear();
    this.#progress?.clear();
    this.candidate.onCrash = undefined;
    const { bus } = this.#slot.deps;
    const name = this.#slot.name;
    const to: VersionRef = this.candidate.ref;
    if (how === 'promote') {
      const early = report.decision !== 'healthy';
      bus.emit('promotion.promoted', { name, to, early, mode: 'canary', ...report });
      this.#done.resolve();
      return;
    }
    bus.emit('promotion.aborted', { name, to, reason: how, mode: 'canary', ...report });
    const c = this.candidate;
    const why =
      how === 'regression'
        ? `failed its gate: ${report.why ?? 'regression'}`
        : how === 'timeout'
          ? `undecided after ${this.#rules.timeoutMs} ms (${report.why ?? report.decision})`
          : how === 'crash'
            ? 'crashed'
            : how === 'abort'
              ? 'aborted by the operator'
              : 'ended by an unload or the host closing';
    this.#done.reject(
      new MoltError(
        ErrorCodes.CANARY_ABORTED,
        `canary of ${name}@${c.version} ${why}; ${this.#current.version} serves on`,
        { details: { plugin: name, reason: how, figures: report } },
      ),
    );
  }
}

/**
 * The gate a canary reload passes (reload.ts `ReloadGate`): the current generation keeps
 * serving the rest of the calls throughout, and whatever the outcome no call is lost. On an
 * abort the candidate takes no new call and drains before the reload discards it.
 */
export function canaryGate(
  rules: CanaryRules,
  fallback: (tool: CallTarget, args: unknown, options?: CallOptions) => Promise<unknown>,
): ReloadGate {
  return async (candidate, slot) => {
    const current = slot.active;
    if (current === undefined || !current.alive) {
      throw new MoltError(
        ErrorCodes.CANARY_ABORTED,
        `canary of ${slot.name}: no current version serves to split calls with`,
        { details: { plugin: slot.name, reason: 'abort' } },
      );
    }
    if (candidate.info.stateful || current.info.stateful)
      throw canaryStateful(
        slot.name,
        candidate.info.stateful ? candidate.version : current.version,
      );
    const canary = new Canary(candidate, current, slot, rules, fallback);
    slot.split(canary);
    canary.begin();
    try {
      await canary.outcome;
    } catch (err) {
      slot.split(undefined);
      // Calls already on the candidate finish there; new ones went to the current since `end`.
      if (candidate.alive) await candidate.waitDrained(candidate.limits.drainTimeoutMs);
      throw err;
    }
    slot.split(undefined);
  };
}
