/**
 * Contracts: what plugins serve each other (`provides`), what they may call (`requires`), and
 * the router behind `ctx.call`. A call through the host reaches the current generation of the
 * live provider whose version satisfies the caller's range, exactly as an outside call would,
 * except inside one call's chain: a call back into a plugin the chain already passed goes to
 * that very generation, so it never waits behind its own chain's hold or drain (no deadlock).
 */
import semver from 'semver';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import type { Artifact, Manifest } from '../manifest/manifest.js';
import type { Ask, InnerCallOptions } from '../sandbox/sandbox.js';
import type { Clock } from '../util/clock.js';
import type { Generation } from './generation.js';

/** One requirement as the manifest states it, normalized. */
export interface Requirement {
  contract: string;
  range: string;
  optional: boolean;
}

/** One contract a plugin (or the host) serves. */
export interface Provision {
  contract: string;
  version: string;
  /** The tools it exposes; undefined: every tool of the plugin. */
  tools: readonly string[] | undefined;
}

/** A contract the embedding application serves: `host.provide(name, version, tools)`. */
export type HostTools = Record<string, (args: unknown, ctx: { signal: AbortSignal }) => unknown>;

/** What the router needs of a plugin's slot. */
export interface ProviderSlot {
  readonly name: string;
  /** The manifest that serves now, or the one a first load is starting. */
  readonly manifest: Manifest | undefined;
  /** True once a generation serves (false while the first load starts). */
  readonly serving: boolean;
  call(tool: string, args: unknown, options: InnerCallOptions): Promise<unknown>;
}

type Provider =
  | { kind: 'plugin'; slot: ProviderSlot; provision: Provision }
  | { kind: 'host'; tools: HostTools; provision: Provision };

export function requirementsOf(manifest: Manifest): Requirement[] {
  return Object.entries(manifest.requires ?? {}).map(([contract, r]) =>
    typeof r === 'string'
      ? { contract, range: r, optional: false }
      : { contract, range: r.range, optional: r.optional === true },
  );
}

export function provisionsOf(manifest: Manifest): Provision[] {
  return Object.entries(manifest.provides ?? {}).map(([contract, p]) =>
    typeof p === 'string'
      ? { contract, version: p, tools: undefined }
      : { contract, version: p.version, tools: p.tools },
  );
}

const satisfies = (version: string, range: string): boolean =>
  semver.satisfies(version, range, { includePrerelease: true });

/** A dependent that a change would leave without a provider. */
export interface BrokenDependent {
  plugin: string;
  contract: string;
  range: string;
}

export class Contracts {
  readonly #slots: () => Iterable<ProviderSlot>;
  readonly #clock: Clock;
  readonly #host = new Map<string, { version: string; tools: HostTools }>();
  /**
   * Where each requirer's calls go, per manifest and contract: resolving walks every plugin and
   * parses semver ranges, too slow for every call. Dropped whenever what serves changes.
   */
  #routes = new WeakMap<
    Manifest,
    Map<string, { req: Requirement | undefined; provider: Provider | undefined }>
  >();
  /** The starting plugin each generation's init called last: what its INIT_TIMEOUT names. */
  readonly #startingWaits = new WeakMap<Generation, string>();
  /** Inits waiting on a call to a plugin that is itself starting: who waits for whom. */
  readonly #initWaits = new Map<string, string>();

  constructor(slots: () => Iterable<ProviderSlot>, clock: Clock) {
    this.#slots = slots;
    this.#clock = clock;
  }

  /** What serves changed (a plugin came, went or swapped; the host provided): route afresh. */
  invalidate(): void {
    this.#routes = new WeakMap();
  }

  /** The contracts the embedding application serves, with their versions. */
  hostContracts(): Record<string, string> {
    return Object.fromEntries([...this.#host].map(([name, c]) => [name, c.version]));
  }

  /** The embedding application serves `contract` at `version` with these functions. */
  provide(contract: string, version: string, tools: HostTools): void {
    if (!/^[a-z0-9][a-z0-9._-]{0,127}$/.test(contract))
      throw new MoltError(ErrorCodes.OPTIONS_INVALID, `"${contract}" is not a contract name`);
    if (semver.valid(version) !== version)
      throw new MoltError(ErrorCodes.OPTIONS_INVALID, `"${version}" is not a semver version`);
    if (this.#host.has(contract))
      throw new MoltError(ErrorCodes.OPTIONS_INVALID, `the host already provides "${contract}"`);
    const own = Object.create(null) as HostTools;
    for (const [name, fn] of Object.entries(tools)) {
      if (typeof fn !== 'function')
        throw new MoltError(ErrorCodes.OPTIONS_INVALID, `${contract}.${name} is not a function`);
      own[name] = fn;
    }
    this.#host.set(contract, { version, tools: own });
    this.invalidate();
  }

  /**
   * The provider of `req`: the highest version that satisfies its range, a plugin before the
   * host at equal versions. `except` is the requirer itself (a plugin never serves itself).
   */
  resolve(req: Requirement, except?: string): Provider | undefined {
    let best: Provider | undefined;
    const better = (p: Provider): void => {
      if (!satisfies(p.provision.version, req.range)) return;
      if (best === undefined || semver.gt(p.provision.version, best.provision.version)) best = p;
    };
    for (const slot of this.#slots()) {
      if (slot.name === except || slot.manifest === undefined) continue;
      const provision = provisionsOf(slot.manifest).find((p) => p.contract === req.contract);
      if (provision !== undefined) better({ kind: 'plugin', slot, provision });
    }
    const own = this.#host.get(req.contract);
    if (own !== undefined) {
      better({
        kind: 'host',
        tools: own.tools,
        provision: { contract: req.contract, version: own.version, tools: Object.keys(own.tools) },
      });
    }
    return best;
  }

  /**
   * The non-optional requirements of `manifest` no provider satisfies: live plugins, the host,
   * and `alsoProviding` (manifests loading in the same set).
   */
  unsatisfied(manifest: Manifest, alsoProviding: readonly Manifest[] = []): Requirement[] {
    return requirementsOf(manifest).filter(
      (req) =>
        !req.optional &&
        this.resolve(req, manifest.name) === undefined &&
        !alsoProviding.some(
          (m) =>
            m.name !== manifest.name &&
            provisionsOf(m).some(
              (p) => p.contract === req.contract && satisfies(p.version, req.range),
            ),
        ),
    );
  }

  /** CONTRACT_UNSATISFIED naming each requirement nothing serves, or nothing. */
  assertSatisfied(manifest: Manifest, alsoProviding: readonly Manifest[] = []): void {
    const missing = this.unsatisfied(manifest, alsoProviding);
    if (missing.length === 0) return;
    throw new MoltError(
      ErrorCodes.CONTRACT_UNSATISFIED,
      `${manifest.name}@${manifest.version} requires ${missing.map((r) => `${r.contract}@${r.range}`).join(', ')}, which no loaded plugin or the host provides`,
      { details: { plugin: manifest.name, missing } },
    );
  }

  /**
   * The live plugins that `name` changing to `next` (undefined: going away) would leave with a
   * non-optional requirement nothing satisfies.
   */
  brokenBy(name: string, next: Manifest | undefined): BrokenDependent[] {
    const broken: BrokenDependent[] = [];
    for (const slot of this.#slots()) {
      if (slot.name === name || slot.manifest === undefined) continue;
      for (const req of requirementsOf(slot.manifest)) {
        if (req.optional) continue;
        const now = this.resolve(req, slot.name);
        if (now?.kind !== 'plugin' || now.slot.name !== name) continue;
        // Another provider, or the new version, still serves this range.
        const others = this.#without(name, req, slot.name);
        const stillServed =
          others ||
          (next !== undefined &&
            provisionsOf(next).some(
              (p) => p.contract === req.contract && satisfies(p.version, req.range),
            ));
        if (!stillServed)
          broken.push({ plugin: slot.name, contract: req.contract, range: req.range });
      }
    }
    return broken;
  }

  /** CONTRACT_BROKEN before a provider's new version swaps in. */
  assertNotBreaking(name: string, next: Manifest): void {
    const broken = this.brokenBy(name, next);
    if (broken.length === 0) return;
    throw new MoltError(
      ErrorCodes.CONTRACT_BROKEN,
      `${name}@${next.version} would leave ${broken.map((b) => `${b.plugin} (needs ${b.contract}@${b.range})`).join(', ')} without a provider; the current version serves on`,
      { details: { plugin: name, version: next.version, dependents: broken } },
    );
  }

  /** The live plugins that need `name`: a contract only it serves them. */
  dependentsOf(name: string): string[] {
    return [...new Set(this.brokenBy(name, undefined).map((b) => b.plugin))];
  }

  /** Plugins that opted in to reload after `name` and use a contract it serves them. */
  cascadeOf(name: string): string[] {
    const out: string[] = [];
    for (const slot of this.#slots()) {
      if (slot.name === name || slot.manifest?.reloadWithDependencies !== true) continue;
      const uses = requirementsOf(slot.manifest).some((req) => {
        const p = this.resolve(req, slot.name);
        return p?.kind === 'plugin' && p.slot.name === name;
      });
      if (uses) out.push(slot.name);
    }
    return out;
  }

  #without(name: string, req: Requirement, except: string): boolean {
    for (const slot of this.#slots()) {
      if (slot.name === name || slot.name === except || slot.manifest === undefined) continue;
      if (
        provisionsOf(slot.manifest).some(
          (p) => p.contract === req.contract && satisfies(p.version, req.range),
        )
      )
        return true;
    }
    const own = this.#host.get(req.contract);
    return own !== undefined && satisfies(own.version, req.range);
  }

  /** `ctx.call` from generation `from`: routes it, or refuses it with a typed error. */
  route(from: Generation, ask: Ask): Promise<unknown> {
    const manifest = from.artifact.manifest;
    let routes = this.#routes.get(manifest);
    if (routes === undefined) {
      routes = new Map();
      this.#routes.set(manifest, routes);
    }
    let found = routes.get(ask.contract);
    if (found === undefined) {
      const req = requirementsOf(manifest).find((r) => r.contract === ask.contract);
      found = { req, provider: req === undefined ? undefined : this.resolve(req, manifest.name) };
      routes.set(ask.contract, found);
    }
    const { req, provider } = found;
    if (req === undefined) {
      return Promise.reject(
        new MoltError(
          ErrorCodes.CONTRACT_UNDECLARED,
          `${manifest.name} called contract "${ask.contract}", which its manifest does not require`,
          { details: { plugin: manifest.name, contract: ask.contract } },
        ),
      );
    }
    if (provider === undefined) {
      return Promise.reject(
        new MoltError(
          ErrorCodes.CONTRACT_UNSATISFIED,
          `no live provider of ${req.contract}@${req.range} for ${manifest.name}`,
          { details: { plugin: manifest.name, contract: req.contract, range: req.range } },
        ),
      );
    }
    const { tools } = provider.provision;
    if (tools !== undefined && !tools.includes(ask.tool)) {
      return Promise.reject(
        new MoltError(
          ErrorCodes.UNKNOWN_TOOL,
          `contract ${req.contract}@${provider.provision.version} has no tool "${ask.tool}"`,
          { details: { contract: req.contract, tool: ask.tool } },
        ),
      );
    }
    if (provider.kind === 'host') return this.#callHost(provider.tools, ask);
    const chain = ask.chain ?? [from];
    // The outside call's client travels down the chain: a provider's `ctx.sample` asks it too.
    const options: InnerCallOptions = {
      signal: ask.signal,
      chain,
      deadline: ask.deadline,
      client: ask.client,
    };
    // Inside one chain, a plugin it already passed answers from that same generation.
    for (const g of chain as readonly Generation[]) {
      if (g.name === provider.slot.name && g.alive)
        return g.call(ask.tool, ask.args, options, ask.deadline);
    }
    if (ask.fromOp && !provider.slot.serving) {
      this.#startingWaits.set(from, provider.slot.name);
      return this.#waitForStarting(manifest.name, provider.slot, ask, options);
    }
    return provider.slot.call(ask.tool, ask.args, options);
  }

  /**
   * An `init` calling a plugin that is itself starting waits for it (bounded by its init
   * timeout), unless that plugin's init waits, directly or not, for this one: a cycle, refused
   * at once with the chain named.
   */
  #waitForStarting(
    name: string,
    target: ProviderSlot,
    ask: Ask,
    options: InnerCallOptions,
  ): Promise<unknown> {
    const path = [name, target.name];
    for (let next = this.#initWaits.get(target.name); next !== undefined; ) {
      path.push(next);
      if (next === name) {
        return Promise.reject(
          new MoltError(
            ErrorCodes.DEPENDENCY_CYCLE,
            `init of ${name} calls ${target.name}, which is starting and waits for ${name}: ${path.join(' → ')}`,
            { details: { chain: path } },
          ),
        );
      }
      if (path.length > 256) break;
      next = this.#initWaits.get(next);
    }
    this.#initWaits.set(name, target.name);
    const done = (): void => {
      if (this.#initWaits.get(name) === target.name) this.#initWaits.delete(name);
    };
    const call = target.call(ask.tool, ask.args, options);
    call.then(done, done);
    return call;
  }

  /** The starting plugin a generation's init last called (and waited for), if any. */
  startingWaitOf(gen: Generation): string | undefined {
    return this.#startingWaits.get(gen);
  }

  async #callHost(tools: HostTools, ask: Ask): Promise<unknown> {
    const fn = Object.hasOwn(tools, ask.tool) ? tools[ask.tool] : undefined;
    if (fn === undefined)
      throw new MoltError(
        ErrorCodes.UNKNOWN_TOOL,
        `the host's contract "${ask.contract}" has no tool "${ask.tool}"`,
      );
    ask.signal.throwIfAborted();
    // The embedding application's function gets a real AbortSignal, linked to the call's.
    const controller = new AbortController();
    const { signal } = controller;
    const forward = (): void => controller.abort(ask.signal.reason);
    ask.signal.addEventListener('abort', forward, { once: true });
    let timer: { clear(): void } | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      if (Number.isFinite(ask.deadline)) {
        timer = this.#clock.setTimeout(
          () =>
            reject(
              new MoltError(
                ErrorCodes.CALL_TIMEOUT,
                `${ask.contract}.${ask.tool} did not answer in time`,
              ),
            ),
          Math.max(0, ask.deadline - this.#clock.now()),
        );
      }
      onAbort = () => reject(new MoltError(ErrorCodes.CANCELLED, 'call cancelled'));
      ask.signal.addEventListener('abort', onAbort, { once: true });
    });
    const run = async (): Promise<unknown> => {
      try {
        return await fn(ask.args, { signal });
      } catch (err) {
        if (err instanceof MoltError) throw err;
        // The host's function failed: to the plugin that called, the callee's error.
        throw new MoltError(
          ErrorCodes.PLUGIN_ERROR,
          err instanceof Error ? err.message : String(err),
          { details: { contract: ask.contract, tool: ask.tool } },
        );
      }
    };
    try {
      return await Promise.race([run(), stop]);
    } finally {
      timer?.clear();
      if (onAbort !== undefined) ask.signal.removeEventListener('abort', onAbort);
      ask.signal.removeEventListener('abort', forward);
    }
  }
}

/**
 * The order a set loads in: groups whose members need only earlier groups (or what is already
 * live), providers first; a cycle is one group, started together. Tarjan's algorithm emits a
 * strongly connected component only after every one it reaches, which is that order.
 */
export function loadOrder(artifacts: readonly Artifact[]): Artifact[][] {
  const needs = artifacts.map((a) =>
    requirementsOf(a.manifest).flatMap((req) =>
      artifacts.flatMap((b, j) =>
        b !== a &&
        provisionsOf(b.manifest).some(
          (p) => p.contract === req.contract && satisfies(p.version, req.range),
        )
          ? [j]
          : [],
      ),
    ),
  );
  const index = new Array<number>(artifacts.length).fill(-1);
  const low = new Array<number>(artifacts.length).fill(0);
  const onStack = new Array<boolean>(artifacts.length).fill(false);
  const stack: number[] = [];
  const groups: Artifact[][] = [];
  let counter = 0;
  const visit = (v: number): void => {
    index[v] = low[v] = counter++;
    stack.push(v);
    onStack[v] = true;
    for (const w of needs[v]!) {
      if (index[w] === -1) {
        visit(w);
        low[v] = Math.min(low[v]!, low[w]!);
      } else if (onStack[w]) low[v] = Math.min(low[v]!, index[w]!);
    }
    if (low[v] === index[v]) {
      const group: Artifact[] = [];
      let w: number;
      do {
        w = stack.pop()!;
        onStack[w] = false;
        group.push(artifacts[w]!);
      } while (w !== v);
      groups.push(group);
    }
  };
  for (let v = 0; v < artifacts.length; v++) if (index[v] === -1) visit(v);
  return groups;
}
