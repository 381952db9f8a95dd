/**
 * Reads a plugin project: `package.json` for identity, its `molt` field for the rest of the
 * manifest, and the source entry esbuild starts from.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import type { Manifest } from '../manifest/manifest.js';

/** Manifest fields a project may set in its `package.json` `molt` field, in molt.json order. */
export const MOLT_FIELDS = [
  'description',
  'hostApi',
  'provides',
  'requires',
  'reloadWithDependencies',
  'limits',
  'permissions',
  'isolation',
  'config',
  'configSchema',
] as const;

type MoltField = (typeof MOLT_FIELDS)[number];

/** Tried in order when the `molt` field names no `entry`. */
export const DEFAULT_ENTRIES = [
  'src/index.ts',
  'src/index.mts',
  'src/index.js',
  'src/index.mjs',
  'index.ts',
  'index.mjs',
  'index.js',
] as const;

const NAME_RULE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export interface Project {
  /** Absolute project folder. */
  dir: string;
  name: string;
  version: string;
  /** Source entry, relative to `dir` as written (esbuild reports locations the same way). */
  entry: string;
  /** Manifest fields taken from the `molt` field (and `description`), without identity. */
  fields: Partial<Pick<Manifest, MoltField>>;
}

function fail(message: string, details?: Record<string, unknown>, cause?: unknown): never {
  throw new MoltError(ErrorCodes.PACK_FAILED, message, { details, cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** `@acme/geo` → `geo`: the scope is an npm concern, plugin names are flat. */
export function pluginName(packageName: string): string {
  const slash = packageName.startsWith('@') ? packageName.indexOf('/') : -1;
  return slash === -1 ? packageName : packageName.slice(slash + 1);
}

async function findEntry(dir: string, molt: Record<string, unknown>, pkgFile: string) {
  if (molt.entry !== undefined) {
    if (typeof molt.entry !== 'string' || molt.entry.length === 0) {
      fail(`${pkgFile}: "molt.entry" must be a non-empty string`);
    }
    if (!(await isFile(resolve(dir, molt.entry)))) {
      fail(`${pkgFile}: "molt.entry" names ${molt.entry}, which is not a file in ${dir}`, {
        entry: molt.entry,
      });
    }
    return molt.entry;
  }
  for (const candidate of DEFAULT_ENTRIES) {
    if (await isFile(join(dir, candidate))) return candidate;
  }
  return fail(
    `${dir}: no entry found; set "molt.entry" in package.json or create one of ${DEFAULT_ENTRIES.join(', ')}`,
    { tried: [...DEFAULT_ENTRIES] },
  );
}

export async function readProject(projectDir: string): Promise<Project> {
  const dir = resolve(projectDir);
  const pkgFile = join(dir, 'package.json');
  let text: string;
  try {
    text = await readFile(pkgFile, 'utf8');
  } catch (err) {
    return fail(`${pkgFile}: cannot be read (${(err as Error).message})`, undefined, err);
  }
  let pkg: unknown;
  try {
    pkg = JSON.parse(text);
  } catch (err) {
    return fail(`${pkgFile}: is not valid JSON (${(err as Error).message})`, undefined, err);
  }
  if (!isRecord(pkg)) return fail(`${pkgFile}: must hold a JSON object`);

  if (typeof pkg.name !== 'string' || pkg.name.length === 0) {
    fail(`${pkgFile}: "name" is required`);
  }
  const name = pluginName(pkg.name);
  if (!NAME_RULE.test(name)) {
    fail(
      `${pkgFile}: plugin name "${name}" (from "${pkg.name}") must be lowercase letters, digits, "-" and "_", at most 64 characters`,
      { name },
    );
  }
  if (typeof pkg.version !== 'string' || pkg.version.length === 0) {
    fail(`${pkgFile}: "version" is required`);
  }

  const molt = pkg.molt ?? {};
  if (!isRecord(molt)) return fail(`${pkgFile}: "molt" must be an object`);
  const allowed = new Set<string>([...MOLT_FIELDS, 'entry']);
  const unknown = Object.keys(molt).filter((k) => !allowed.has(k));
  if (unknown.length > 0) {
    // name, version and buildId are refused here too: they come from package.json and the build.
    fail(
      `${pkgFile}: "molt" has unknown field(s) ${unknown.join(', ')}; allowed: ${[...allowed].join(', ')}`,
      { unknown },
    );
  }

  const fields: Record<string, unknown> = {};
  if (typeof pkg.description === 'string') fields.description = pkg.description;
  for (const key of MOLT_FIELDS) {
    if (molt[key] !== undefined) fields[key] = molt[key];
  }

  const entry = await findEntry(dir, molt, pkgFile);
  return { dir, name, version: pkg.version, entry, fields: fields as Project['fields'] };
}
