/**
 * A host that a team deploys: artifacts enter through the store, the catalog records what is
 * installed and active, every transition goes to the audit log, and a restarted process comes
 * back to the last consistent state (G6).
 *
 * Order of a change, chosen so a SIGKILL between any two steps is harmless: accept into the
 * store (atomic rename) → record as installed → swap in memory → record as active. A restart
 * before the last step serves the previous active version, which is still installed.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AuditLog } from '../catalog/audit.js';
import {
  Catalog,
  type PluginRecord,
  record,
  sameKey,
  type VersionKey,
} from '../catalog/catalog.js';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import type { HostEvents } from '../events/events.js';
import {
  type Artifact,
  checkExpected,
  type ExpectedArtifact,
  type Manifest,
  readArtifact,
} from '../manifest/manifest.js';
import type { CanaryOptions } from '../runtime/canary.js';
import { loadOrder } from '../runtime/contracts.js';
import { createHost, type Host, type PluginInfo } from '../runtime/host.js';
import type { HostOptions } from '../runtime/options.js';
import type { LoadResult } from '../runtime/reload.js';
import type { ShadowOptions } from '../runtime/shadow.js';
import type { RollbackOptions, TrialStatus } from '../runtime/slot.js';
import { Store, type StoredArtifact } from '../store/store.js';
import { attachAudit } from './audit-events.js';
import { lockDataDir } from './lock.js';
import { ReloadHistory } from './reload-history.js';

/** Points a test can stop the process at, in the order a change passes them. */
export type DeployStep =
  | 'accepted'
  | 'installed'
  | 'swapped'
  | 'activated'
  | 'catalog.beforeRename';

export interface DeploymentOptions extends HostOptions {
  dataDir: string;
  /** Test hook, called as each step of a change completes. */
  onStep?: (step: DeployStep, name: string) => void;
}

export interface InstallResult extends LoadResult {
  action: 'loaded' | 'reloaded' | 'unchanged';
}

/** How a version is made active: a canary first (host.reload's), ignored by a first load. */
export interface ActivateOptions {
  canary?: CanaryOptions;
  shadow?: ShadowOptions;
}

export interface PluginStatus extends PluginInfo {
  installed: number;
}

/** A plugin installed but not loaded: no live provider satisfies a requirement yet. */
export interface WaitingPlugin {
  name: string;
  version: string;
  buildId: string;
  /** The requirements nothing serves now. */
  waitingFor: { contract: string; range: string }[];
  since: string;
}

export class Deployment {
  readonly host: Host;
  readonly store: Store;
  readonly catalog: Catalog;
  readonly audit: AuditLog;
  readonly dataDir: string;
  /** Each plugin's last load, reload, rollback or recovery, with its outcome and step timings. */
  readonly reloads: ReloadHistory;
  readonly #onStep: (step: DeployStep, name: string) => void;
  readonly #chains = new Map<string, Promise<unknown>>();
  /** Per plugin, the build whose trial the restore abandoned: the folder's first pass skips it. */
  readonly #abandoned = new Map<string, string>();
  /** Per plugin, the newest write of what its slot reported (see `#persist`). */
  readonly #persisted = new Map<string, Promise<void>>();
  readonly #unlock: () => Promise<void>;

  private constructor(parts: {
    host: Host;
    store: Store;
    catalog: Catalog;
    audit: AuditLog;
    dataDir: string;
    options: DeploymentOptions;
    unlock: () => Promise<void>;
  }) {
    this.#unlock = parts.unlock;
    this.host = parts.host;
    this.store = parts.store;
    this.catalog = parts.catalog;
    this.audit = parts.audit;
    this.dataDir = parts.dataDir;
    this.reloads = new ReloadHistory(parts.host);
    this.#onStep = parts.options.onStep ?? (() => {});
    // The slot owns probation and known-good; the catalog records what it reports, so what is
    // active after any swap (a reload, a rollback, a crash's swap back) is what a restart loads.
    parts.host.on('slot.changed', (e) => this.#persist(e));
  }

  static async open(options: DeploymentOptions): Promise<Deployment> {
    const dataDir = resolve(options.dataDir);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const unlock = await lockDataDir(dataDir);
    try {
      return await Deployment.#open(dataDir, options, unlock);
    } catch (err) {
      await unlock();
      throw err;
    }
  }

  static async #open(
    dataDir: string,
    options: DeploymentOptions,
    unlock: () => Promise<void>,
  ): Promise<Deployment> {
    const catalog = await Catalog.open(join(dataDir, 'catalog.json'));
    const store = new Store(join(dataDir, 'store'));
    await store.sweep();
    const audit = await AuditLog.open(join(dataDir, 'audit.jsonl'));
    const host = await createHost(options);
    const self = new Deployment({ host, store, catalog, audit, dataDir, options, unlock });
    attachAudit(host, audit);
    await self.#finishPendingDeletes();
    await store.sweep();
    await self.#restore();
    return self;
  }

  /** Accepts an artifact (a `.molt` file or a folder) into the store and makes it active. */
  async install(source: string, options: ActivateOptions = {}): Promise<InstallResult> {
    return this.activate(await this.stage(source), options);
  }

  /** Accepts an artifact into the store and records it as installed; runs none of its code. */
  async stage(source: string): Promise<StoredArtifact> {
    const art = await this.store.accept(source);
    await this.#serial(art.name, async () => {
      this.#onStep('accepted', art.name);
      await this.#write(art.name, (r) => {
        const known = r.installed.find((k) => sameKey(k, art));
        if (known === undefined) {
          r.installed.push({
            version: art.version,
            buildId: art.buildId,
            installedAt: new Date().toISOString(),
            manifestSha256: art.manifestSha256,
          });
          void this.audit.append('install', art.name, { to: key(art) });
        } else {
          // A record from before manifests were kept: the store has just proven this one.
          known.manifestSha256 ??= art.manifestSha256;
        }
        r.pendingDelete = r.pendingDelete.filter((k) => !sameKey(k, art));
      });
      this.#onStep('installed', art.name);
    });
    return art;
  }

  /** Makes an installed version the active one: load, or reload with the full handover. */
  activate(
    target: VersionKey & { name: string },
    options: ActivateOptions = {},
  ): Promise<InstallResult> {
    return this.#serial(target.name, async () => {
      const { name } = target;
      const current = this.host.plugin(name);
      if (current !== undefined && sameKey(current, target))
        return { ...loadResult(current), action: 'unchanged' as const };
      const dir = this.store.path(name, target.version, target.buildId);
      // The folder must still hold what the store accepted: the catalog's record is the proof.
      const expect = this.#expected(name, target);
      const result =
        current === undefined
          ? await this.host.load(dir, { expect })
          : await this.host.reload(name, dir, { expect, ...options });
      this.#onStep('swapped', name);
      await this.#persisted.get(name);
      this.#onStep('activated', name);
      return {
        ...result,
        action: current === undefined ? ('loaded' as const) : ('reloaded' as const),
      };
    });
  }

  /**
   * Re-runs the active artifact in a fresh generation (state handed over); with `canary`, the
   * fresh generation first serves its share beside the running one (resolves once promoted);
   * with `shadow`, it first proves itself on mirrored calls.
   */
  reload(name: string, options: ActivateOptions = {}): Promise<InstallResult> {
    return this.#serial(name, async () => {
      const active = this.catalog.plugin(name)?.active;
      if (active == null || !this.#loaded(name)) throw unknown(name);
      const dir = this.store.path(name, active.version, active.buildId);
      const r = await this.host.reload(name, dir, {
        expect: this.#expected(name, active),
        ...options,
      });
      return { ...r, action: 'reloaded' as const };
    });
  }

  rollback(name: string, options: RollbackOptions = {}): Promise<LoadResult> {
    return this.#serial(name, async () => {
      const r = await this.host.rollback(name, options);
      await this.#persisted.get(name);
      return r;
    });
  }

  /**
   * Whether `k` is the build whose trial the restore abandoned: the watched folder still holds
   * its file, and re-activating it at start-up would put the host back on the trial it was
   * killed in. The folder forgets the marks once its start-up pass is done
   * (`forgetAbandoned`), so placing the file again activates it as usual.
   */
  abandoned(name: string, k: VersionKey): boolean {
    return this.#abandoned.get(name) === k.buildId;
  }

  forgetAbandoned(): void {
    this.#abandoned.clear();
  }

  /** Ends a trial early: the version on trial is recorded as permanent (known-good). */
  promote(name: string): Promise<TrialStatus> {
    // A canary's or a shadow's reload holds this plugin's chain until it is decided: deciding
    // it cannot wait.
    if (this.#gated(name)) return this.host.promote(name);
    return this.#serial(name, async () => {
      const r = await this.host.promote(name);
      await this.#persisted.get(name);
      return r;
    });
  }

  /** Ends a trial with a rollback: the permanent version serves again. */
  abort(name: string): Promise<LoadResult> {
    if (this.#gated(name)) return this.host.abort(name);
    return this.#serial(name, async () => {
      const r = await this.host.abort(name);
      await this.#persisted.get(name);
      return r;
    });
  }

  /** A canary or a shadow runs: its reload waits for promote/abort. */
  #gated(name: string): boolean {
    const p = this.host.plugin(name);
    return p?.canary !== undefined || p?.shadow !== undefined;
  }

  /** Unloads the plugin and marks every version of it for deletion on the next start. */
  remove(name: string): Promise<void> {
    return this.#serial(name, async () => {
      if (this.#loaded(name)) await this.host.unload(name);
      await this.#write(name, (r) => {
        r.pendingDelete = r.installed.map(key);
        r.active = null;
        r.knownGood = null;
      });
      await this.audit.append('remove', name, {});
    });
  }

  /** Marks one inactive version for deletion on the next start (its file left the folder). */
  forget(name: string, version: VersionKey): Promise<void> {
    return this.#serial(name, async () => {
      const r = this.catalog.plugin(name);
      if (
        r === undefined ||
        sameKey(r.active, version) ||
        r.pendingDelete.some((k) => sameKey(k, version))
      )
        return;
      await this.#write(name, (rec) => {
        if (rec.installed.some((k) => sameKey(k, version))) rec.pendingDelete.push(key(version));
      });
    });
  }

  status(): PluginStatus[] {
    return this.host.plugins().map((p) => {
      const r = this.catalog.plugin(p.name);
      return { ...p, installed: r?.installed.length ?? 0 };
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#chains.values()]);
    await this.host.close();
    await Promise.allSettled([...this.#persisted.values()]);
    await this.audit.flush();
    await this.#unlock();
  }

  /**
   * Records a slot's report. Writes queue in the catalog in the order the slot reported, so the
   * file always ends on the newest report; a failed write is audited, never thrown at a caller.
   */
  #persist(e: HostEvents['slot.changed']): void {
    if (e.active === undefined) return;
    const active = key(e.active);
    const knownGood = e.knownGood === undefined ? null : key(e.knownGood);
    const write = this.#write(e.name, (r) => {
      r.active = active;
      r.knownGood = knownGood;
    }).catch((err: unknown) =>
      this.audit.append('catalog.failed', e.name, {
        error: isMoltError(err) ? { code: err.code, message: err.message } : String(err),
      }),
    );
    this.#persisted.set(e.name, write);
    void write.finally(() => {
      if (this.#persisted.get(e.name) === write) this.#persisted.delete(e.name);
    });
  }

  async #finishPendingDeletes(): Promise<void> {
    for (const [name, r] of Object.entries(this.catalog.data.plugins)) {
      if (r.pendingDelete.length === 0) continue;
      for (const k of r.pendingDelete) {
        await this.store.remove(name, k.version, k.buildId);
        await this.audit.append('delete', name, { version: k.version, buildId: k.buildId });
      }
      await this.catalog.update((d) => {
        const rec = d.plugins[name];
        if (rec === undefined) return;
        rec.installed = rec.installed.filter((i) => !rec.pendingDelete.some((k) => sameKey(k, i)));
        rec.pendingDelete = [];
        if (rec.installed.length === 0 && rec.active === null) delete d.plugins[name];
      });
    }
  }

  /**
   * Loads each plugin's active version; one still on trial (active but not yet known-good)
   * is abandoned for the last permanent version, audited as `restore.trialAbandoned`, and
   * only loaded (on trial again) if the permanent one cannot be.
   *
   * Each store folder must still hold the build the catalog recorded when it was accepted. One
   * rewritten since (by anything with write access to it) is refused with BUILD_MISMATCH and
   * audited as `restore.failed`: it is never loaded, never the fallback of a trial, and the
   * catalog keeps its record (nothing is unloaded from it or queued for deletion).
   */
  /**
   * Loads what the catalog says is active, providers before the plugins that require them
   * (the members of a cycle together): the catalog's order is the order of first installs, not
   * of dependencies.
   */
  async #restore(): Promise<void> {
    const entries = Object.entries(this.catalog.data.plugins);
    const stand: Artifact[] = [];
    for (const [name, r] of entries) {
      const k = r.active ?? r.knownGood;
      const manifest =
        k == null
          ? undefined
          : await this.#read(name, k).then(
              (a) => a.manifest,
              () => undefined,
            );
      // Only its contracts matter for the order; an unreadable one is refused when it loads.
      stand.push({
        dir: name,
        entryPath: '',
        manifest: manifest ?? { name, version: '0.0.0', entry: '', buildId: '' },
      });
    }
    const records = new Map(entries);
    for (const group of loadOrder(stand)) {
      const alsoProviding = group.length > 1 ? group.map((a) => a.manifest) : undefined;
      await Promise.all(
        group.map((a) => this.#restoreOne(a.dir, records.get(a.dir)!, alsoProviding)),
      );
    }
  }

  async #restoreOne(
    name: string,
    r: PluginRecord,
    alsoProviding: readonly Manifest[] | undefined,
  ): Promise<void> {
    // Two-phase permanence: a version still on trial when the host stopped (active, not yet
    // known-good) is abandoned; the last permanent one serves, the trial only if it cannot.
    const onTrial = r.active != null && r.knownGood != null && !sameKey(r.active, r.knownGood);
    if (onTrial) {
      this.#abandoned.set(name, r.active!.buildId);
      await this.audit.append('restore.trialAbandoned', name, {
        trial: { version: r.active!.version, buildId: r.active!.buildId },
        permanent: { version: r.knownGood!.version, buildId: r.knownGood!.buildId },
      });
    }
    const candidates = (onTrial ? [r.knownGood, r.active] : [r.active, r.knownGood]).filter(
      (k, i, all): k is VersionKey => k != null && (i === 0 || !sameKey(k, all[0])),
    );
    const refused: VersionKey[] = [];
    const refuse = (k: VersionKey, err: unknown, as?: 'knownGood') => {
      refused.push(k);
      return this.audit.append('restore.failed', name, {
        version: k.version,
        buildId: k.buildId,
        ...(as === undefined ? {} : { as }),
        error: isMoltError(err) ? { code: err.code, message: err.message } : String(err),
      });
    };
    for (const k of candidates) {
      if (refused.some((x) => sameKey(x, k))) continue;
      const dir = this.store.path(name, k.version, k.buildId);
      const trial = r.knownGood != null && !sameKey(k, r.knownGood);
      let knownGood: Artifact | undefined;
      const known = r.knownGood;
      if (trial && known != null && !refused.some((x) => sameKey(x, known))) {
        try {
          knownGood = await this.#read(name, known);
        } catch (err) {
          // The trial goes on without a fallback rather than with one the host cannot trust.
          await refuse(known, err, 'knownGood');
        }
      }
      try {
        await this.host.load(dir, {
          expect: this.#expected(name, k),
          ...(knownGood === undefined ? {} : { knownGood }),
          ...(alsoProviding === undefined ? {} : { alsoProviding }),
        });
        await this.#persisted.get(name);
        break;
      } catch (err) {
        await refuse(k, err);
        // Its provider is missing: no older version will find one either. It waits.
        if (isMoltError(err, ErrorCodes.CONTRACT_UNSATISFIED)) break;
      }
    }
  }

  /**
   * Makes installed versions of plugins that need each other active together (`host.loadAll`):
   * a cycle of new plugins, none of which can load alone. All or nothing.
   */
  activateAll(targets: readonly (VersionKey & { name: string })[]): Promise<InstallResult[]> {
    const run = async (): Promise<InstallResult[]> => {
      const dirs = targets.map((t) => this.store.path(t.name, t.version, t.buildId));
      for (const t of targets)
        checkExpected(
          await readArtifact(this.store.path(t.name, t.version, t.buildId)),
          this.#expected(t.name, t),
        );
      const results = await this.host.loadAll(dirs);
      await Promise.all(targets.map((t) => this.#persisted.get(t.name)));
      return results.map((r) => ({ ...r, action: 'loaded' as const }));
    };
    // Every member's chain is held, so no single change of one of them interleaves.
    return targets.reduce<() => Promise<InstallResult[]>>(
      (inner, t) => () => this.#serial(t.name, inner),
      run,
    )();
  }

  /** Plugins the watched folder holds back until a provider appears (see `status`). */
  readonly waiting = new Map<string, WaitingPlugin>();

  /** Reads a stored artifact, refusing it unless it is still the one the store accepted. */
  async #read(name: string, k: VersionKey): Promise<Artifact> {
    const artifact = await readArtifact(this.store.path(name, k.version, k.buildId));
    checkExpected(artifact, this.#expected(name, k));
    return artifact;
  }

  /** What the catalog recorded of one version when the store accepted it. */
  #expected(name: string, k: VersionKey): ExpectedArtifact {
    const installed = this.catalog.plugin(name)?.installed.find((i) => sameKey(i, k));
    return {
      name,
      version: k.version,
      buildId: k.buildId,
      manifestSha256: installed?.manifestSha256,
    };
  }

  /** Changes one plugin's record; the test hook learns which plugin's write is about to land. */
  #write(name: string, change: (r: PluginRecord) => void): Promise<void> {
    return this.catalog.update((d) => change(record(d, name)), {
      beforeRename: () => this.#onStep('catalog.beforeRename', name),
    });
  }

  #loaded(name: string): boolean {
    return this.host.plugin(name) !== undefined;
  }

  /** Changes to one plugin run one at a time, so catalog and host never disagree for long. */
  #serial<T>(name: string, task: () => Promise<T>): Promise<T> {
    const run = (this.#chains.get(name) ?? Promise.resolve()).then(task);
    const tail = run.catch(() => {});
    this.#chains.set(name, tail);
    void tail.then(() => {
      if (this.#chains.get(name) === tail) this.#chains.delete(name);
    });
    return run;
  }
}

function key(k: VersionKey): VersionKey {
  return { version: k.version, buildId: k.buildId };
}

function loadResult(p: PluginInfo): LoadResult {
  return { name: p.name, version: p.version, buildId: p.buildId };
}

function unknown(name: string): MoltError {
  return new MoltError(ErrorCodes.UNKNOWN_PLUGIN, `no plugin named "${name}" is installed`, {
    details: { plugin: name },
  });
}
