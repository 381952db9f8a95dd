/** `molt pack`: a plugin project in, a verified `NAME-VERSION.molt` artifact out. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import {
  checkConfig,
  MANIFEST_FILE,
  type Manifest,
  validateManifest,
} from '../manifest/manifest.js';
import { bundleEntry } from './build.js';
import { MOLT_FIELDS, readProject } from './project.js';
import { zipEntries } from './zip.js';

/** The bundled entry's name inside every artifact molt packs. */
export const ENTRY_FILE = 'index.mjs';

export interface PackOptions {
  /** Folder the `.molt` file is written to; default: the project folder. */
  outDir?: string;
}

export interface PackResult {
  /** Absolute path of the written `NAME-VERSION.molt`. */
  file: string;
  manifest: Manifest;
  entryBytes: Buffer;
}

export interface BuiltPlugin {
  manifest: Manifest;
  entryBytes: Buffer;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The build step alone, reused by `molt dev` for incremental rebuilds: bundles the entry and
 * returns its bytes with the validated manifest; writes nothing.
 */
export async function buildPlugin(projectDir: string): Promise<BuiltPlugin> {
  const project = await readProject(projectDir);
  const entryBytes = await bundleEntry(project.dir, project.entry);
  const draft: Record<string, unknown> = {
    name: project.name,
    version: project.version,
    entry: ENTRY_FILE,
    buildId: sha256(entryBytes),
  };
  // A fixed key order keeps molt.json, and so the .molt bytes, independent of package.json's.
  for (const key of MOLT_FIELDS) {
    if (project.fields[key] !== undefined) draft[key] = project.fields[key];
  }
  try {
    const where = join(project.dir, 'package.json');
    const manifest = validateManifest(draft, where);
    // The author's own config and schema on the author's machine: safe to run here, and a
    // mistake is better found now than when a host refuses to load the artifact.
    const problems = checkConfig(manifest);
    if (problems.length > 0) {
      throw new MoltError(
        ErrorCodes.MANIFEST_INVALID,
        `${where}: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
        { details: { problems } },
      );
    }
    return { manifest, entryBytes };
  } catch (err) {
    // Reported as a packing failure, with the manifest's problems, so `molt pack` has one code.
    if (!isMoltError(err, ErrorCodes.MANIFEST_INVALID)) throw err;
    throw new MoltError(ErrorCodes.PACK_FAILED, `the manifest would be invalid: ${err.message}`, {
      cause: err,
      details: err.details,
    });
  }
}

function manifestBytes(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * Writes through a dot-named temp file in the same folder, then renames: a watcher never sees a
 * half-written file under the final name, and the temp name matches no artifact pattern.
 */
async function writeAtomic(file: string, data: Buffer): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

function checkBuilt(built: BuiltPlugin): void {
  if (sha256(built.entryBytes) !== built.manifest.buildId) {
    throw new MoltError(
      ErrorCodes.PACK_FAILED,
      `${built.manifest.name}: buildId does not match the entry bytes`,
      { details: { plugin: built.manifest.name } },
    );
  }
}

/**
 * Writes an artifact folder (molt.json and the entry) instead of a zip; used by `molt dev` and
 * tests. The entry goes first and molt.json last, each renamed into place, so a reader never
 * sees a manifest whose buildId names bytes not yet on disk.
 */
export async function writeArtifactDir(dir: string, built: BuiltPlugin): Promise<void> {
  checkBuilt(built);
  const abs = resolve(dir);
  await mkdir(abs, { recursive: true });
  await writeAtomic(join(abs, built.manifest.entry), built.entryBytes);
  await writeAtomic(join(abs, MANIFEST_FILE), manifestBytes(built.manifest));
}

/** Builds `projectDir` into `NAME-VERSION.molt`, byte-identical for identical sources. */
export async function pack(projectDir: string, options: PackOptions = {}): Promise<PackResult> {
  const built = await buildPlugin(projectDir);
  const { manifest, entryBytes } = built;
  const outDir = resolve(options.outDir ?? projectDir);
  const zip = await zipEntries([
    { name: MANIFEST_FILE, data: manifestBytes(manifest) },
    { name: manifest.entry, data: entryBytes },
  ]);
  const file = join(outDir, `${manifest.name}-${manifest.version}.molt`);
  try {
    await mkdir(outDir, { recursive: true });
    await writeAtomic(file, zip);
  } catch (err) {
    throw new MoltError(ErrorCodes.PACK_FAILED, `cannot write ${file}: ${(err as Error).message}`, {
      cause: err,
      details: { file },
    });
  }
  return { file, manifest, entryBytes };
}
