/**
 * `molt dev DIR`: DIR holds plugin source projects (folders with a package.json, or DIR
 * itself). On save the changed project is rebuilt with esbuild and reloaded in place; a build
 * error keeps the running version and is reported with its file:line:column.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import type { VersionKey } from '../catalog/catalog.js';
import type { Deployment } from '../deploy/deployment.js';
import { isMoltError } from '../errors/errors.js';
import { buildPlugin, writeArtifactDir } from '../pack/index.js';
import type { Clock } from '../util/clock.js';
import { KeyedDebounce } from '../util/debounce.js';
import { RerunQueue } from '../util/rerun-queue.js';

export type DevReport =
  | { ok: true; name: string; version: string; buildId: string; ms: number; action: string }
  | { ok: false; project: string; name: string; code: string; message: string };

export class DevSession {
  readonly dir: string;
  readonly #deployment: Deployment;
  readonly #report: (r: DevReport) => void;
  readonly #debounce: KeyedDebounce<string>;
  readonly #queue = new RerunQueue<string>((project) => this.#build(project));
  readonly #builds = new Map<string, VersionKey>();
  #watcher: FSWatcher | undefined;
  /** DIR is itself the one project (else it holds projects, one per folder). */
  #single = false;

  constructor(
    dir: string,
    deployment: Deployment,
    report: (r: DevReport) => void,
    options: { debounceMs?: number; clock?: Clock } = {},
  ) {
    this.dir = resolve(dir);
    this.#deployment = deployment;
    this.#report = report;
    this.#debounce = new KeyedDebounce(
      (project) => this.#changed(project),
      options.debounceMs ?? 30,
      options.clock,
    );
  }

  async start(): Promise<void> {
    const projects = await this.#projects();
    this.#single = projects[0] === this.dir;
    for (const project of projects) await this.rebuild(project);
    const watcher = watch(this.dir, {
      ignoreInitial: true,
      ignored: (p: string) =>
        /(^|[/\\])(node_modules|dist|\.[^/\\]+)([/\\]|$)/.test(relative(this.dir, p)),
    });
    this.#watcher = watcher;
    watcher.on('all', (_e, path) => this.#debounce.touch(this.#projectOf(path)));
    await new Promise<void>((r) => watcher.once('ready', () => r()));
  }

  /** Stops watching; no build starts after this, and the builds under way finish first. */
  async close(): Promise<void> {
    await this.#debounce.close();
    await this.#watcher?.close();
    await Promise.allSettled(this.#queue.pending());
  }

  /** Builds a project and makes the result active; overlapping requests run once more after. */
  rebuild(project: string): Promise<void> {
    if (this.#debounce.closed) return Promise.resolve();
    return this.#queue.request(project);
  }

  async #build(project: string): Promise<void> {
    const started = performance.now();
    const tmp = join(this.#deployment.dataDir, 'dev', randomBytes(6).toString('hex'));
    try {
      const built = await buildPlugin(project);
      await writeArtifactDir(tmp, built);
      const r = await this.#deployment.install(tmp);
      // Earlier dev builds of this plugin are dead weight: they go on the next start.
      const previous = this.#builds.get(r.name);
      if (previous !== undefined && previous.buildId !== r.buildId)
        await this.#deployment.forget(r.name, previous);
      this.#builds.set(r.name, { version: r.version, buildId: r.buildId });
      this.#report({
        ok: true,
        name: r.name,
        version: r.version,
        buildId: r.buildId,
        action: r.action,
        ms: performance.now() - started,
      });
    } catch (err) {
      this.#report({
        ok: false,
        project,
        name: await projectName(project),
        code: isMoltError(err) ? err.code : 'PACK_FAILED',
        message: (err as Error).message,
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  #projectOf(path: string): string {
    // A save anywhere in a single project (src/index.ts) is that project's, not src/'s.
    if (this.#single) return this.dir;
    const rel = relative(this.dir, path);
    return rel.includes(sep) ? join(this.dir, rel.split(sep)[0]!) : this.dir;
  }

  /** A project's files stopped changing: rebuild it if it still is a project. */
  async #changed(project: string): Promise<void> {
    if ((await stat(join(project, 'package.json')).catch(() => undefined)) === undefined) return;
    await this.rebuild(project);
  }

  async #projects(): Promise<string[]> {
    if ((await stat(join(this.dir, 'package.json')).catch(() => undefined)) !== undefined)
      return [this.dir];
    const out: string[] = [];
    for (const e of await readdir(this.dir, { withFileTypes: true })) {
      if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') {
        const p = join(this.dir, e.name);
        if ((await stat(join(p, 'package.json')).catch(() => undefined)) !== undefined) out.push(p);
      }
    }
    return out.sort();
  }
}

async function projectName(project: string): Promise<string> {
  try {
    return String(
      (JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as { name?: unknown })
        .name,
    );
  } catch {
    return project;
  }
}
