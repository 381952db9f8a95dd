/**
 * A shadow reload (issue 11, item 3): before its swap, a candidate generation gets copies of a
 * sample of the live calls to tools both versions mark safe to repeat (MCP's `readOnlyHint` or
 * `idempotentHint`); the caller's answer is always the current generation's. Each pair's
 * outcome (and, with `compare: 'result'`, its result as canonical JSON) and the two p99
 * latencies are compared; after `calls` pairs the gate lets the reload go on or refuses it with
 * SHADOW_MISMATCH naming the first differences.
 *
 * It plugs into the reload pipeline as a `ReloadGate` (reload.ts): the candidate has started,
 * initialized and passed health; the slot routes through `ShadowRun.call` while it runs.
 * Mirrored calls go straight to the candidate's sandbox, past the generation's counters, so
 * they never count in the slot's call record, its stats or any trial's figures.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import type {
  ShadowDifference,
  ShadowFigures,
  TrialAbort,
  TrialFigures,
  TrialReport,
} from '../events/events.js';
import type { CallTarget } from '../sandbox/protocol.js';
import type { CallOptions } from '../sandbox/sandbox.js';
import type { Timer } from '../util/clock.js';
import { OptionsReader } from '../util/options.js';
import { outcomeOf, quantileMs, ToolCalls } from './call-record.js';
import type { Generation } from './generation.js';
import { P99_FLOOR_MS, repeatableTools } from './promotion.js';
import type { ReloadGate, SlotCore } from './reload.js';

/** `host.reload(name, dir, { shadow })`. */
export interface ShadowOptions {
  /** The share of eligible calls mirrored, 0 < sample ≤ 1 (per tool, deterministic). */
  sample: number;
  /** Mirrored calls compared before the candidate is judged. */
  calls: number;
  /** `'outcome'` (default): ok or the same error code; `'result'`: also equal results. */
  compare?: 'outcome' | 'result';
  /** The candidate's p99 over this many times the current one's is a difference (default: the host's probation `maxP99Ratio`). */
  maxP99Ratio?: number;
  /** Time to gather `calls` pairs before the reload is refused with SHADOW_INCOMPLETE (default 5 min). */
  timeoutMs?: number;
  /** Mirrored calls in flight at once; a sampled call past it is skipped (default 16). */
  maxInFlight?: number;
}

export type ResolvedShadow = Required<ShadowOptions>;

/** A shadow in progress, as `host.plugins()` shows it (shaped like a trial's status). */
export interface ShadowStatus extends TrialReport {
  mode: 'shadow';
  /** The candidate's version and generation (not serving: its answers are discarded). */
  version: string;
  buildId: string;
  generation: number;
  since: string;
  forMs: number;
  shadow: ShadowFigures;
}

export const SHADOW_DEFAULTS = { compare: 'outcome', timeoutMs: 300_000, maxInFlight: 16 } as const;
/** Figures are histograms (bounded memory): the bound only keeps a shadow finite. */
export const MAX_SHADOW_CALLS = 1_000_000;
const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;
const MAX_IN_FLIGHT = 1024;

/** The decision waits for this many differences at most: the report names the first few. */
const MAX_DIFFERENCES = 5;
/** Excerpts of arguments and answers in a report. */
const EXCERPT = 200;
/** A canonical result longer than this is kept as its sha256 until its pair is compared. */
const HASH_OVER = 4096;
/** `promotion.progress`: at most once a second. */
const PROGRESS_MS = 1_000;

const KEYS = ['sample', 'calls', 'compare', 'maxP99Ratio', 'timeoutMs', 'maxInFlight'];

/**
 * Checks `value` as shadow options (OPTIONS_INVALID naming the option) and fills the defaults;
 * `maxP99Ratio` defaults to the host's probation rule.
 */
export function resolveShadow(value: unknown, defaultP99Ratio: number): ResolvedShadow {
  const o = new OptionsReader('shadow', value, KEYS, '{ "sample": 0.1, "calls": 100 }');
  const sample = o.number('sample', (n) => n > 0 && n <= 1, 'a number over 0 and at most 1');
  return {
    sample: sample ?? o.missing('sample', 'a number over 0 and at most 1, e.g. 0.1'),
    calls:
      o.integer('calls', 1, MAX_SHADOW_CALLS) ??
      o.missing('calls', `a whole number from 1 to ${MAX_SHADOW_CALLS}`),
    compare: o.oneOf('compare', ['outcome', 'result'] as const) ?? SHADOW_DEFAULTS.compare,
    maxP99Ratio:
      o.number('maxP99Ratio', (n) => n >= 1, 'a number of at least 1') ?? defaultP99Ratio,
    timeoutMs: o.integer('timeoutMs', 1, MAX_TIMEOUT_MS) ?? SHADOW_DEFAULTS.timeoutMs,
    maxInFlight: o.integer('maxInFlight', 1, MAX_IN_FLIGHT) ?? SHADOW_DEFAULTS.maxInFlight,
  };
}

/** One side of a pair: how it ended, how long it took, what to compare and to quote. */
interface Side {
  ok: boolean;
  /** The error code, or `ok`. */
  outcome: string;
  /** With `compare: 'result'`: the result as canonical JSON (or its sha256 past HASH_OVER). */
  key: string | undefined;
  excerpt: string;
  ms: number;
}

interface Pair {
  tool: string;
  args: unknown;
  current: Side | undefined;
  candidate: Side | undefined;
}

function cut(text: string): string {
  return text.length <= EXCERPT ? text : `${text.slice(0, EXCERPT)}…`;
}

/** Canonical JSON (RFC 8785) of a result; a value JSON cannot hold is named, not thrown. */
function canonical(value: unknown): string {
  try {
    return canonicalize(value) ?? 'undefined';
  } catch (err) {
    return `<not JSON: ${(err as Error).message}>`;
  }
}

function excerptOf(value: unknown): string {
  try {
    return cut(JSON.stringify(value) ?? 'undefined');
  } catch {
    return cut(String(value));
  }
}

/**
 * One side's figures over the compared pairs: every answer that was not a value counts as an
 * error (a pair is judged by its outcome, whoever's fault it was), the p99 read from the
 * histogram as a trial's is.
 */
function figuresOf(calls: ToolCalls): TrialFigures {
  const { outcomes, latency } = calls.stats('');
  const n = latency.count;
  const errors = n - (outcomes.ok ?? 0);
  return {
    calls: n,
    errors,
    errorRate: n === 0 ? 0 : errors / n,
    p99Ms: quantileMs(latency, 0.99),
  };
}

const round = (n: number): number => Math.round(n * 100) / 100;

/**
 * What the slot needs of a running shadow: its hot path routes through `call`, and the
 * operator's `promote`/`abort` reach it while the reload it gates holds the slot's queue.
 */
export interface ShadowRun {
  /** Tells it from a canary's split, which the slot's hot path holds in the same field. */
  readonly kind: 'shadow';
  /** A call to the plugin: the current generation answers it; a sampled copy goes to the candidate. */
  call(
    tool: CallTarget,
    args: unknown,
    options?: CallOptions,
    deadline?: number,
    acceptedAt?: number,
  ): Promise<unknown>;
  /** Decides now in the candidate's favour (`molt promote`). */
  promote(): ShadowStatus;
  /**
   * Refuses the reload (`molt abort`, or the slot closing with `error`); false when the shadow
   * had already decided (a passed one then goes on to its swap, and its trial).
   */
  abort(error?: MoltError): boolean;
  status(): ShadowStatus;
}

/**
 * The gate a shadow reload passes; `resolveShadow` has checked `options`. `onPassed` hears the
 * figures of a shadow that let its reload go on.
 */
export function shadowGate(
  options: ResolvedShadow,
  onPassed?: (figures: ShadowFigures) => void,
): ReloadGate {
  return async (candidate, slot) => {
    const current = slot.active;
    if (current === undefined || !current.alive)
      throw incomplete(slot.name, 'no current generation serves to compare with', 'crash');
    const safe = repeatableTools(candidate, current);
    if (safe.size === 0) {
      throw incomplete(
        slot.name,
        'no tool is marked readOnlyHint or idempotentHint by both versions: nothing can be mirrored',
        'nothing',
      );
    }
    await copyState(current, candidate);
    const run = new Shadow(slot, current, candidate, safe, options);
    slot.mirror(run);
    run.start();
    try {
      await run.decided;
      onPassed?.(run.status().shadow);
    } finally {
      slot.mirror(undefined);
      run.end();
    }
  };
}

function incomplete(name: string, why: string, reason: string, figures?: object): MoltError {
  return new MoltError(ErrorCodes.SHADOW_INCOMPLETE, `shadow of ${name}: ${why}`, {
    details: { reason, ...figures },
  });
}

/**
 * A stateful candidate starts from a copy of the current state: a snapshot taken between the
 * current generation's calls (no hold), migrated (or downgraded by the version being left) if
 * the state versions differ, restored into the candidate. The usual handover after the shadow
 * replaces the copy with the state at the swap.
 */
async function copyState(current: Generation, candidate: Generation): Promise<void> {
  if (!current.info.stateful || !candidate.info.stateful) return;
  let state = await current.op('snapshot', undefined);
  const fromVersion = current.info.stateVersion;
  const toVersion = candidate.info.stateVersion;
  if (fromVersion < toVersion) state = await candidate.op('migrate', { fromVersion, state });
  else if (fromVersion > toVersion) state = await current.op('downgrade', { toVersion, state });
  await candidate.op('restore', state);
}

class Shadow implements ShadowRun {
  readonly kind = 'shadow';
  readonly decided: Promise<void>;
  readonly #slot: SlotCore;
  readonly #current: Generation;
  readonly #candidate: Generation;
  readonly #safe: ReadonlySet<string>;
  readonly #o: ResolvedShadow;
  readonly #since: number;
  readonly #sinceIso = new Date().toISOString();
  /** Per tool: the share of a call owed to the mirror (deterministic sampling, no aliasing across tools). */
  readonly #owed = new Map<string, number>();
  readonly #figures: ShadowFigures;
  readonly #differences: ShadowDifference[] = [];
  /** Each side's outcomes and latency histogram over the compared pairs (bounded, like a trial's). */
  readonly #currentCalls = new ToolCalls();
  readonly #candidateCalls = new ToolCalls();
  #inFlight = 0;
  #candidateInFlight = 0;
  #idle: (() => void) | undefined;
  #done = false;
  #decision: TrialReport['decision'] = 'undecided';
  #why: string | undefined;
  #resolve!: () => void;
  #reject!: (err: unknown) => void;
  #timeout: Timer | undefined;
  #progress: Timer | undefined;
  readonly #offCrash: () => void;

  constructor(
    slot: SlotCore,
    current: Generation,
    candidate: Generation,
    safe: ReadonlySet<string>,
    options: ResolvedShadow,
  ) {
    this.#slot = slot;
    this.#current = current;
    this.#candidate = candidate;
    this.#safe = safe;
    this.#o = options;
    this.#since = slot.deps.clock.now();
    this.#figures = {
      calls: options.calls,
      compare: options.compare,
      mirrored: 0,
      matched: 0,
      differing: 0,
      skipped: 0,
    };
    this.decided = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The slot's crash handling owns the current generation; the candidate is the shadow's.
    candidate.onCrash = () => this.#refuse('crash', this.#crashed('candidate', candidate));
    this.#offCrash = slot.deps.bus.on('plugin.crashed', (e) => {
      if (e.name === slot.name && e.from.generation === current.id)
        this.#refuse('crash', incomplete(slot.name, 'the current generation crashed', 'crash'));
    });
    const { clock } = slot.deps;
    this.#timeout = clock.setTimeout(
      () =>
        this.#refuse(
          'timeout',
          incomplete(
            slot.name,
            `${this.#judged()} of ${options.calls} mirrored calls compared within ${options.timeoutMs} ms; nothing swapped`,
            'timeout',
            { figures: this.#report(), shadow: { ...this.#figures } },
          ),
        ),
      options.timeoutMs,
    );
  }

  /** Told once the slot routes through it: a listener's calls from here on may be mirrored. */
  start(): void {
    const { bus } = this.#slot.deps;
    bus.emit('promotion.started', {
      name: this.#slot.name,
      from: this.#current.ref,
      to: this.#candidate.ref,
      probationMs: this.#o.timeoutMs,
      baseline: figuresOf(this.#currentCalls),
      mode: 'shadow',
      shadow: { ...this.#figures },
    });
    this.#armProgress();
  }

  /** The slot's hot path while the shadow runs: the caller's promise is the current one's. */
  call(
    tool: CallTarget,
    args: unknown,
    options?: CallOptions,
    deadline?: number,
    acceptedAt?: number,
  ): Promise<unknown> {
    const answer = this.#current.call(tool, args, options, deadline, acceptedAt);
    if (typeof tool !== 'string' || this.#done || !this.#safe.has(tool)) return answer;
    if (this.#figures.mirrored >= this.#o.calls) return answer;
    const owed = (this.#owed.get(tool) ?? 0) + this.#o.sample;
    if (owed < 1) {
      this.#owed.set(tool, owed);
      return answer;
    }
    this.#owed.set(tool, owed - 1);
    if (this.#inFlight >= this.#o.maxInFlight) {
      this.#figures.skipped++;
      return answer;
    }
    this.#mirror(tool, args, answer, options?.signal);
    return answer;
  }

  #mirror(tool: string, args: unknown, answer: Promise<unknown>, signal?: AbortSignal): void {
    const clock = this.#slot.deps.clock;
    const started = clock.now();
    const pair: Pair = { tool, args, current: undefined, candidate: undefined };
    this.#inFlight++;
    this.#candidateInFlight++;
    this.#figures.mirrored++;
    // Our reactions are attached before the caller's: the result is read before anyone can
    // change it. They return nothing, so the caller's promise is untouched.
    answer.then(
      (value) => this.#ended(pair, 'current', this.#ok(value, clock.now() - started)),
      (err: unknown) => {
        // A caller that gave up got CANCELLED; the candidate, never told, cannot match that.
        const cancelled = signal?.aborted === true || isMoltError(err, ErrorCodes.CANCELLED);
        this.#ended(
          pair,
          'current',
          cancelled ? 'cancelled' : this.#failed(err, clock.now() - started),
        );
      },
    );
    let mirrored: Promise<unknown>;
    try {
      // Straight to the sandbox: no generation counter, no tracker, no call record sees it.
      mirrored = this.#candidate.sandbox.call(tool, args, undefined, undefined);
    } catch (err) {
      mirrored = Promise.reject(err);
    }
    mirrored
      .then(
        (value) => this.#ok(value, clock.now() - started),
        (err: unknown) => this.#failed(err, clock.now() - started),
      )
      .then((side) => {
        if (--this.#candidateInFlight === 0) this.#idle?.();
        this.#ended(pair, 'candidate', side);
      })
      .catch(() => {});
  }

  #ok(value: unknown, ms: number): Side {
    const key = this.#o.compare === 'result' ? canonical(value) : undefined;
    return {
      ok: true,
      outcome: 'ok',
      key: key !== undefined && key.length > HASH_OVER ? sha256(key) : key,
      excerpt: key !== undefined ? cut(key) : excerptOf(value),
      ms,
    };
  }

  #failed(err: unknown, ms: number): Side {
    const code = isMoltError(err) ? err.code : ErrorCodes.INTERNAL;
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, outcome: code, key: code, excerpt: cut(`${code}: ${message}`), ms };
  }

  #ended(pair: Pair, which: 'current' | 'candidate', side: Side | 'cancelled'): void {
    if (side === 'cancelled') {
      // Not judged: the pair leaves the count, and the candidate's answer is dropped.
      pair.current = undefined;
      pair.candidate = undefined;
      pair.tool = '';
      this.#inFlight--;
      this.#figures.mirrored--;
      this.#figures.skipped++;
      return;
    }
    if (pair.tool === '') return;
    pair[which] = side;
    const { current, candidate } = pair;
    if (current === undefined || candidate === undefined) return;
    this.#inFlight--;
    if (this.#done) return;
    this.#currentCalls.add(outcomeOf(current.ok ? undefined : current.outcome), current.ms);
    this.#candidateCalls.add(outcomeOf(candidate.ok ? undefined : candidate.outcome), candidate.ms);
    const kind =
      current.outcome !== candidate.outcome
        ? 'outcome'
        : this.#o.compare === 'result' && current.key !== candidate.key
          ? 'result'
          : undefined;
    if (kind === undefined) this.#figures.matched++;
    else {
      this.#figures.differing++;
      if (this.#differences.length < MAX_DIFFERENCES) {
        this.#differences.push({
          tool: pair.tool,
          args: excerptOf(pair.args),
          kind,
          current: current.excerpt,
          candidate: candidate.excerpt,
        });
      }
    }
    if (this.#figures.differing >= MAX_DIFFERENCES || this.#judged() >= this.#o.calls)
      void this.#decide(false);
  }

  #judged(): number {
    return this.#figures.matched + this.#figures.differing;
  }

  /** All pairs in: a difference or a slower p99 refuses; else the reload goes on. */
  async #decide(early: boolean): Promise<void> {
    if (this.#done) return;
    if (!early) {
      const latency = this.#latency();
      if (latency !== undefined && this.#differences.length < MAX_DIFFERENCES)
        this.#differences.push(latency);
      if (this.#differences.length > 0) {
        this.#refuse('mismatch', this.#mismatch());
        return;
      }
    }
    this.#done = true;
    this.#decision = 'healthy';
    this.#why = early ? 'promoted by the operator' : undefined;
    this.#slot.deps.bus.emit('promotion.promoted', {
      name: this.#slot.name,
      to: this.#candidate.ref,
      early,
      ...this.#report(),
      mode: 'shadow',
      shadow: { ...this.#figures },
    });
    // Mirrored calls still running finish before the swap: none may touch the state after
    // the handover restored it (each is bounded by its call deadline).
    if (this.#candidateInFlight > 0)
      await new Promise<void>((resolve) => {
        this.#idle = resolve;
      });
    this.#resolve();
  }

  /** The p99 rule of a trial (promotion.ts), over the pairs' latencies. */
  #latency(): ShadowDifference | undefined {
    const cur = figuresOf(this.#currentCalls).p99Ms;
    const cand = figuresOf(this.#candidateCalls).p99Ms;
    if (cur === undefined || cand === undefined || cand < P99_FLOOR_MS) return undefined;
    const ratio = this.#o.maxP99Ratio;
    if (cand <= ratio * Math.max(cur, P99_FLOOR_MS / ratio)) return undefined;
    return {
      tool: '*',
      args: '',
      kind: 'latency',
      current: `p99 ${round(cur)} ms`,
      candidate: `p99 ${round(cand)} ms (at most ${ratio}×)`,
    };
  }

  #mismatch(): MoltError {
    const first = this.#differences[0]!;
    const { name } = this.#slot;
    const where =
      first.kind === 'latency'
        ? `latency: current ${first.current}, candidate ${first.candidate}`
        : `tool "${first.tool}" ${first.args}: current ${first.current}, candidate ${first.candidate}`;
    const f = this.#figures;
    return new MoltError(
      ErrorCodes.SHADOW_MISMATCH,
      `shadow of ${name}@${this.#candidate.version} differs from ${this.#current.version}: ${where} (${f.differing} of ${this.#judged()} compared calls differed${first.kind === 'latency' ? '' : ` on ${f.compare}`}); the reload is refused`,
      {
        details: {
          reason: 'mismatch',
          differences: [...this.#differences],
          shadow: { ...f },
          figures: this.#report(),
        },
      },
    );
  }

  #crashed(which: string, gen: Generation): MoltError {
    return new MoltError(
      ErrorCodes.PLUGIN_CRASHED,
      `shadow of ${this.#slot.name}: the ${which} ${gen.version} (generation ${gen.id}) crashed; the reload is refused`,
      { details: { reason: 'crash', shadow: { ...this.#figures } } },
    );
  }

  #refuse(reason: TrialAbort, error: MoltError): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.#decision = reason === 'mismatch' ? 'regression' : 'undecided';
    this.#why = error.message;
    this.#slot.deps.bus.emit('promotion.aborted', {
      name: this.#slot.name,
      to: this.#candidate.ref,
      reason,
      ...this.#report(),
      mode: 'shadow',
      shadow: { ...this.#figures },
      ...(this.#differences.length === 0 ? {} : { differences: [...this.#differences] }),
    });
    this.#reject(error);
    return true;
  }

  promote(): ShadowStatus {
    const status = this.status();
    void this.#decide(true);
    return status;
  }

  abort(error?: MoltError): boolean {
    const refused = this.#refuse(
      'abort',
      error ??
        incomplete(this.#slot.name, 'aborted by the operator; nothing swapped', 'abort', {
          figures: this.#report(),
        }),
    );
    // A slot closing does not wait for a promoted shadow's last mirrored calls.
    if (error !== undefined) this.#reject(error);
    return refused;
  }

  status(): ShadowStatus {
    const c = this.#candidate;
    return {
      mode: 'shadow',
      version: c.version,
      buildId: c.buildId,
      generation: c.id,
      since: this.#sinceIso,
      forMs: this.#slot.deps.clock.now() - this.#since,
      ...this.#report(),
      shadow: { ...this.#figures },
    };
  }

  /** Trial-shaped figures: the candidate's as `trial`, the current one's as `baseline`. */
  #report(): TrialReport {
    const judged = this.#judged();
    return {
      trial: figuresOf(this.#candidateCalls),
      baseline: figuresOf(this.#currentCalls),
      decision: this.#decision,
      why:
        this.#why ??
        (this.#decision === 'undecided'
          ? `${judged} of ${this.#o.calls} calls compared`
          : undefined),
    };
  }

  #armProgress(): void {
    this.#progress = this.#slot.deps.clock.setTimeout(() => {
      if (this.#done) return;
      this.#slot.deps.bus.emit('promotion.progress', {
        name: this.#slot.name,
        to: this.#candidate.ref,
        ...this.#report(),
        mode: 'shadow',
        shadow: { ...this.#figures },
      });
      this.#armProgress();
    }, PROGRESS_MS);
  }

  /** The gate is over, one way or the other. */
  end(): void {
    this.#done = true;
    this.#timeout?.clear();
    this.#progress?.clear();
    this.#offCrash();
    this.#idle?.();
    // The swap, if one follows, gives the candidate the slot's own crash handling.
    this.#candidate.onCrash = undefined;
  }
}

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}
