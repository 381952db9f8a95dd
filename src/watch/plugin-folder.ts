/**
 * The watched plugins folder: every `.molt` file and every artifact folder (one holding
 * molt.json) at its top level is a candidate. For each plugin the best candidate is made active:
 * the highest semver; on a tie (same version, other build) the most recently modified file, then
 * the path that sorts last. A plugin whose last candidate leaves the folder is removed.
 *
 * A candidate the store refuses with STORE_CONFLICT (it already holds that name, version and
 * build with other contents: a twin whose manifest differs, or a store folder rewritten behind
 * the host's back) is reported and still counts as present, though it is never activated: it
 * never unloads or replaces what serves, nor queues any version for deletion.
 *
 * Files are read only once they have stopped changing (chokidar's awaitWriteFinish), events are
 * debounced per candidate, and reconciles of one plugin never overlap: a burst of events ends in
 * one reload of the newest.
 */
import { stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import semver from 'semver';
import type { Deployment } from '../deploy/deployment.js';
import { ErrorCodes, isMoltError, type MoltError } from '../errors/errors.js';
import { type Manifest, readArtifact } from '../manifest/manifest.js';
import { KeyedDebounce } from '../util/debounce.js';
import { RerunQueue } from '../util/rerun-queue.js';

export interface Candidate {
  path: string;
  name: string;
  version: string;
  buildId: string;
  mtimeMs: number;
}

export type FolderEvent =
  | { type: 'accepted'; candidate: Candidate }
  | { type: 'rejected'; path: string; code: string; message: string }
  | {
      type: 'activated';
      name: string;
      version: string;
      buildId: string;
      action: string;
      ms: number;
    }
  | { type: 'failed'; name: string; version: string; code: string; message: string }
  /** Not loaded until a provider serves what it requires; retried as plugins come and go. */
  | {
      type: 'waiting';
      name: string;
      version: string;
      waitingFor: { contract: string; range: string }[];
    }
  /** Its files left, but live plugins need it: it serves on until they go. */
  | { type: 'kept'; name: string; dependents: string[] }
  | { type: 'removed'; name: string };

export interface PluginFolderOptions {
  /** How long a file must stay unchanged before it is read (ms). */
  stableMs?: number;
  /** Quiet time after the last event on a candidate before it is scanned (ms). */
  debounceMs?: number;
  onEvent?: (e: FolderEvent) => void;
}

export function pickBest(candidates: Candidate[]): Candidate | undefined {
  return [...candidates].sort(
    (a, b) =>
      semver.compare(a.version, b.version) ||
      a.mtimeMs - b.mtimeMs ||
      (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  )[candidates.length - 1];
}

export class PluginFolder {
  readonly dir: string;
  readonly #deployment: Deployment;
  readonly #options: Required<Omit<PluginFolderOptions, 'onEvent'>>;
  readonly #emit: (e: FolderEvent) => void;
  readonly #candidates = new Map<string, Candidate>();
  /** Paths the store refused with STORE_CONFLICT: the artifact each names, never activated. */
  readonly #conflicts = new Map<string, Candidate>();
  readonly #debounce: KeyedDebounce<string>;
  readonly #reconciling = new RerunQueue<string>((name) => this.#apply(name));
  /** Plugins whose candidates changed, reconciled once no scan is pending: one reload per burst. */
  readonly #waiting = new Set<string>();
  readonly #scans = new Set<Promise<void>>();
  /** Providers whose files left while dependents still need them: retried as plugins go. */
  readonly #kept = new Set<string>();
  #watcher: FSWatcher | undefined;

  constructor(dir: string, deployment: Deployment, options: PluginFolderOptions = {}) {
    this.dir = resolve(dir);
    this.#deployment = deployment;
    this.#options = { stableMs: options.stableMs ?? 200, debounceMs: options.debounceMs ?? 50 };
    this.#emit = options.onEvent ?? (() => {});
    this.#debounce = new KeyedDebounce(
      (candidate) => this.#track(this.#scan(candidate)),
      this.#options.debounceMs,
    );
  }

  /** Starts watching; resolves once every artifact already in the folder has been handled. */
  async start(): Promise<void> {
    const watcher = watch(this.dir, {
      depth: 3,
      ignoreInitial: false,
      ignored: (p: string) =>
        /(^|[/\\])(node_modules|\.[^/\\]+)([/\\]|$)/.test(relative(this.dir, p)),
      awaitWriteFinish: {
        stabilityThreshold: this.#options.stableMs,
        pollInterval: Math.max(10, this.#options.stableMs / 4),
      },
    });
    this.#watcher = watcher;
    watcher.on('all', (_event, path) => this.#touched(path));
    await new Promise<void>((r) => watcher.once('ready', () => r()));
    await this.idle();
    // Plugins installed earlier whose files left the folder while the host was down.
    const present = new Set([...this.#candidates.values()].map((c) => c.name));
    for (const name of Object.keys(this.#deployment.catalog.data.plugins)) {
      if (!present.has(name)) this.#reconcile(name);
    }
    await this.idle();
    this.#deployment.forgetAbandoned();
  }

  /** Resolves when no scan or reconcile is pending (tests and start-up use it). */
  async idle(): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (this.#debounce.size === 0 && this.#scans.size === 0 && this.#reconciling.size === 0)
        return;
      await Promise.all([...this.#scans, ...this.#reconciling.pending()]);
      if (this.#debounce.size > 0)
        await new Promise((r) => setTimeout(r, this.#options.debounceMs));
    }
  }

  async close(): Promise<void> {
    await this.#debounce.close();
    await this.#watcher?.close();
    await Promise.allSettled([...this.#scans, ...this.#reconciling.pending()]);
  }

  /** Maps a changed path to its candidate: a top-level `.molt` file or top-level folder. */
  #touched(path: string): void {
    const rel = relative(this.dir, path);
    if (rel === '' || rel.startsWith('..')) return;
    this.#debounce.touch(join(this.dir, rel.split(sep)[0]!));
  }

  #track(p: Promise<void>): void {
    this.#scans.add(p);
    void p.finally(() => {
      this.#scans.delete(p);
      if (this.#debounce.size === 0 && this.#scans.size === 0) {
        const names = [...this.#waiting];
        this.#waiting.clear();
        for (const name of names) this.#reconcile(name);
      }
    });
  }

  async #scan(path: string): Promise<void> {
    const info = await stat(path).catch(() => undefined);
    const previous = this.#candidates.get(path);
    const isArtifact =
      info !== undefined &&
      ((info.isFile() && path.endsWith('.molt')) ||
        (info.isDirectory() &&
          (await stat(join(path, 'molt.json')).catch(() => undefined)) !== undefined));
    if (!isArtifact) {
      const gone = previous ?? this.#conflicts.get(path);
      this.#candidates.delete(path);
      this.#conflicts.delete(path);
      if (gone !== undefined) this.#waiting.add(gone.name);
      return;
    }
    try {
      const art = await this.#deployment.stage(path);
      const candidate: Candidate = {
        path,
        name: art.name,
        version: art.version,
        buildId: art.buildId,
        mtimeMs: info.mtimeMs,
      };
      this.#candidates.set(path, candidate);
      this.#conflicts.delete(path);
      this.#emit({ type: 'accepted', candidate });
      if (previous !== undefined && previous.name !== art.name) this.#waiting.add(previous.name);
      this.#waiting.add(art.name);
    } catch (err) {
      const code = isMoltError(err) ? err.code : 'LOAD_FAILED';
      const conflict = isMoltError(err, ErrorCodes.STORE_CONFLICT)
        ? conflictOf(err, path, info.mtimeMs)
        : undefined;
      if (conflict !== undefined) this.#conflicts.set(path, conflict);
      this.#emit({ type: 'rejected', path, code, message: (err as Error).message });
    }
  }

  /** Brings one plugin to its best candidate; a request during a run reruns once after it. */
  #reconcile(name: string): void {
    void this.#reconciling.request(name);
  }

  async #apply(name: string): Promise<void> {
    const present = [...this.#candidates.values()].filter((c) => c.name === name);
    const conflicts = [...this.#conflicts.values()].filter((c) => c.name === name);
    const best = pickBest([...present, ...conflicts]);
    const record = this.#deployment.catalog.plugin(name);
    if (best === undefined) {
      this.#forgetWaiting(name);
      if (record !== undefined && record.installed.length > record.pendingDelete.length) {
        try {
          await this.#deployment.remove(name);
        } catch (err) {
          if (!isMoltError(err, ErrorCodes.HAS_DEPENDENTS)) throw err;
          this.#kept.add(name);
          const dependents = (err.details?.dependents as string[] | undefined) ?? [];
          this.#emit({ type: 'kept', name, dependents });
          return;
        }
        this.#kept.delete(name);
        this.#emit({ type: 'removed', name });
        // A provider kept for its dependents may go now that one of them went.
        for (const held of this.#kept) this.#reconcile(held);
      }
      return;
    }
    // The folder's best cannot be accepted: what serves keeps serving, nothing is forgotten.
    if (conflicts.includes(best)) return;
    // A trial the restart abandoned is not resumed by the folder's first pass (two-phase permanence).
    if (this.#deployment.abandoned(name, best)) return;
    const started = performance.now();
    try {
      const r = await this.#deployment.activate(best);
      // Versions whose files left the folder go on the next start (never the active one).
      for (const k of this.#deployment.catalog.plugin(name)?.installed ?? []) {
        const inFolder = (c: Candidate): boolean =>
          c.version === k.version && c.buildId === k.buildId;
        if (!present.some(inFolder) && !conflicts.some(inFolder)) {
          await this.#deployment.forget(name, k);
        }
      }
      this.#forgetWaiting(name);
      if (r.action !== 'unchanged') {
        this.#emit({
          type: 'activated',
          name,
          version: r.version,
          buildId: r.buildId,
          action: r.action,
          ms: performance.now() - started,
        });
        // What it provides may be what a waiting plugin needs.
        for (const waiting of this.#deployment.waiting.keys()) this.#reconcile(waiting);
      }
    } catch (err) {
      if (isMoltError(err, ErrorCodes.CONTRACT_UNSATISFIED) && err.details?.plugin === name) {
        this.#wait(best, err);
        return;
      }
      this.#forgetWaiting(name);
      const code = isMoltError(err) ? err.code : 'LOAD_FAILED';
      this.#emit({
        type: 'failed',
        name,
        version: best.version,
        code,
        message: (err as Error).message,
      });
    }
  }

  #wait(best: Candidate, err: MoltError): void {
    const missing = (err.details?.missing as { contract: string; range: string }[]) ?? [];
    const waitingFor = missing.map(({ contract, range }) => ({ contract, range }));
    const before = this.#deployment.waiting.get(best.name);
    this.#deployment.waiting.set(best.name, {
      name: best.name,
      version: best.version,
      buildId: best.buildId,
      waitingFor,
      since: before?.since ?? new Date().toISOString(),
    });
    if (before === undefined || JSON.stringify(before.waitingFor) !== JSON.stringify(waitingFor))
      this.#emit({ type: 'waiting', name: best.name, version: best.version, waitingFor });
    // Plugins that wait for each other (a cycle) can only load together.
    if (this.#deployment.waiting.size > 1) void this.#together();
  }

  #forgetWaiting(name: string): void {
    this.#deployment.waiting.delete(name);
  }

  /**
   * Loads, as one set, the waiting plugins whose requirements the set and the live plugins
   * satisfy together: the largest such set, found by dropping members nothing could satisfy
   * until none is left to drop.
   */
  async #together(): Promise<void> {
    let set = [...this.#deployment.waiting.values()];
    const manifests = new Map<string, Manifest>();
    for (const w of set) {
      const m = await readArtifact(this.#deployment.store.path(w.name, w.version, w.buildId)).then(
        (a) => a.manifest,
        () => undefined,
      );
      if (m !== undefined) manifests.set(w.name, m);
    }
    set = set.filter((w) => manifests.has(w.name));
    for (let changed = true; changed && set.length > 1; ) {
      const all = set.map((w) => manifests.get(w.name)!);
      const next = set.filter(
        (w) => this.#deployment.host.unsatisfied(manifests.get(w.name)!, all).length === 0,
      );
      changed = next.length !== set.length;
      set = next;
    }
    if (set.length < 2) return;
    const started = performance.now();
    try {
      const results = await this.#deployment.activateAll(set);
      for (const r of results) {
        this.#forgetWaiting(r.name);
        this.#emit({
          type: 'activated',
          name: r.name,
          version: r.version,
          buildId: r.buildId,
          action: r.action,
          ms: performance.now() - started,
        });
      }
      for (const waiting of this.#deployment.waiting.keys()) this.#reconcile(waiting);
    } catch (err) {
      // Loaded nothing (all or nothing): each keeps waiting, and says why the set failed.
      const code = isMoltError(err) ? err.code : 'LOAD_FAILED';
      for (const w of set) {
        this.#emit({
          type: 'failed',
          name: w.name,
          version: w.version,
          code,
          message: `loading it with ${set.map((x) => x.name).join(', ')}: ${(err as Error).message}`,
        });
      }
    }
  }
}

/** The artifact a STORE_CONFLICT names (the store's details), as the candidate it would be. */
function conflictOf(err: MoltError, path: string, mtimeMs: number): Candidate | undefined {
  const { plugin, version, buildId } = err.details ?? {};
  if (typeof plugin !== 'string' || typeof version !== 'string' || typeof buildId !== 'string')
    return undefined;
  return { path, name: plugin, version, buildId, mtimeMs };
}
