/**
 * `POST /v1/artifacts`: an uploaded `.molt` goes to a private temp file in the data folder, then
 * through the same `Deployment.install` as a file dropped into the watched folder. One upload at
 * a time: each may hold a file as large as the store accepts and then a store extraction, so a
 * second one is refused with BUSY rather than queued behind it.
 *
 * Under `molt serve DIR` the folder is what a start comes back to: a plugin with no file in it is
 * unloaded then. So an installed upload is also kept in the folder, as `NAME-VERSION.molt`
 * (written aside, then renamed, as a deploy tool should); the folder then finds it already live.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { ActivateOptions, Deployment, InstallResult } from '../deploy/deployment.js';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { receiveFile } from './body.js';

/** Where uploads wait for the store, inside the data folder (which only the host's user reads). */
export const uploadsDir = (dataDir: string): string => join(dataDir, 'uploads');

export interface UploadAnswer {
  name: string;
  version: string;
  buildId: string;
  action: InstallResult['action'];
  /** Where the watched folder keeps it, when there is one. */
  keptAs?: string;
}

export class Uploads {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #keepIn: string | undefined;
  #current: Promise<unknown> | undefined;

  constructor(dataDir: string, maxBytes: number, keepIn?: string) {
    this.#dir = uploadsDir(dataDir);
    this.#maxBytes = maxBytes;
    this.#keepIn = keepIn;
  }

  /** Clears what a host killed mid-upload left; the data folder's lock says no one else uses it. */
  async sweep(): Promise<void> {
    await rm(this.#dir, { recursive: true, force: true });
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
  }

  /** Receives one artifact and installs it; its temp file is gone whatever the outcome. */
  install(
    req: IncomingMessage,
    deployment: Deployment,
    options: ActivateOptions = {},
  ): Promise<UploadAnswer> {
    if (this.#current !== undefined) {
      throw new MoltError(ErrorCodes.BUSY, 'another artifact is being uploaded; try again', {
        details: { retryAfterS: 1 },
      });
    }
    const run = this.#install(req, deployment, options);
    this.#current = run;
    void run
      .catch(() => {})
      .finally(() => {
        this.#current = undefined;
      });
    return run;
  }

  /** Waits for the upload under way, so a stop never leaves its temp file behind. */
  async settled(): Promise<void> {
    await this.#current?.catch(() => {});
  }

  async #install(
    req: IncomingMessage,
    deployment: Deployment,
    options: ActivateOptions,
  ): Promise<UploadAnswer> {
    const file = join(this.#dir, `${randomUUID()}.molt`);
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await receiveFile(req, file, this.#maxBytes);
      // With a canary or a shadow, this waits for its decision: only a version that passed is kept.
      const r = await deployment.install(file, options);
      const answer = { name: r.name, version: r.version, buildId: r.buildId, action: r.action };
      if (this.#keepIn === undefined) return answer;
      return { ...answer, keptAs: await this.#keep(file, answer) };
    } finally {
      await rm(file, { force: true });
    }
  }

  /** The name and version come from a manifest the store has checked: safe in a file name. */
  async #keep(file: string, r: UploadAnswer): Promise<string> {
    const folder = this.#keepIn as string;
    const target = join(folder, `${r.name}-${r.version}.molt`);
    // A dot-name: the watched folder ignores it until the rename.
    const aside = join(folder, `.${r.name}-${r.version}.molt.${randomUUID()}.part`);
    try {
      await copyFile(file, aside);
      await rename(aside, target);
      return target;
    } catch (err) {
      await rm(aside, { force: true });
      throw new MoltError(
        ErrorCodes.INTERNAL,
        `${r.name}@${r.version} is live, but could not be kept in ${folder}, so a restart will not serve it: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}
