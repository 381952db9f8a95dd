import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import semver from 'semver';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import { checkSchema, compileSchema } from '../schema/json-schema.js';
import { manifestSchema } from './schema.js';

/** The host API this build of molt implements; manifests may pin a range with `hostApi`. */
export const HOST_API_VERSION = '1.0.0';
export const MANIFEST_FILE = 'molt.json';

export interface ManifestLimits {
  memoryMb?: number;
  youngGenerationMb?: number;
  stackMb?: number;
  callTimeoutMs?: number;
  initTimeoutMs?: number;
  drainTimeoutMs?: number;
  maxQueuedCalls?: number;
  /** Largest tool result carried to the host, in MB (default 16): over it, RESULT_TOO_LARGE. */
  maxResultMb?: number;
  /** How often a stateful plugin's state is checkpointed, in ms (0: never; default 5000). */
  checkpointMs?: number;
}

/** What a plugin in a process sandbox may touch beyond its artifact and data folders. */
export interface ManifestPermissions {
  fs?: { read?: string[]; write?: string[] };
  /** Names of the host's environment variables the plugin sees; no others reach it. */
  env?: string[];
  childProcess?: boolean;
  worker?: boolean;
  addons?: boolean;
  wasi?: boolean;
  /** Network access, where the running Node can restrict it (`--allow-net`); a host list allows all. */
  net?: boolean | string[];
}

export interface Manifest {
  name: string;
  version: string;
  description?: string;
  entry: string;
  buildId: string;
  hostApi?: string;
  /** Contracts this plugin serves other plugins: a version, and optionally which tools. */
  provides?: Record<string, string | { version: string; tools?: string[] }>;
  /** Contracts this plugin may call (`ctx.call`): a semver range, optional or not. */
  requires?: Record<string, string | { range: string; optional?: boolean }>;
  /** Reload this plugin (a fresh generation, state handed over) after a provider it uses reloads. */
  reloadWithDependencies?: boolean;
  /**
   * Regression rules of this version's trial; each only tightens the host's `probation`
   * (a lower ceiling, ratio or call count wins), so an artifact cannot loosen them.
   */
  probation?: {
    maxErrorRate?: number;
    maxErrorRateIncrease?: number;
    maxP99Ratio?: number;
    minCalls?: number;
  };
  limits?: ManifestLimits;
  permissions?: ManifestPermissions;
  isolation?: 'worker' | 'process';
  config?: unknown;
  configSchema?: Record<string, unknown>;
}

/** A manifest read from disk, with the absolute paths the host needs. */
export interface Artifact {
  dir: string;
  entryPath: string;
  manifest: Manifest;
  /** sha256 of the `molt.json` bytes `manifest` was parsed from (set by readArtifact). */
  manifestSha256?: string;
}

export interface ManifestProblem {
  path: string;
  message: string;
}

const ajv = new Ajv({ allErrors: true, strict: false });
// Strict: `semver.valid` also accepts ' 1.0.0' and 'v1.0.0', which would not round-trip.
// Length first: the strings are the plugin's, and semver's parsers should only see short ones.
const short = (v: string): boolean => v.length <= 256;
ajv.addFormat(
  'semver',
  (v: string) => short(v) && /^\d/.test(v) && v.trim() === v && semver.valid(v) !== null,
);
ajv.addFormat('semver-range', (v: string) => short(v) && semver.validRange(v) !== null);
ajv.addFormat('relative-path', (v: string) => {
  if (v.length === 0 || isAbsolute(v) || v.includes('\0')) return false;
  const n = normalize(v);
  return n !== '..' && !n.startsWith(`..${sep}`);
});
const validateSchema = ajv.compile(manifestSchema);

function describe(e: ErrorObject): ManifestProblem {
  const path = e.instancePath || '/';
  switch (e.keyword) {
    case 'required':
      return {
        path: `${e.instancePath}/${String(e.params.missingProperty)}`,
        message: 'is required',
      };
    case 'additionalProperties':
      return {
        path: `${e.instancePath}/${String(e.params.additionalProperty)}`,
        message: 'is not a known field',
      };
    case 'format':
      return { path, message: `must be a valid ${String(e.params.format)}` };
    default:
      return { path, message: e.message ?? e.keyword };
  }
}

/**
 * Validates a parsed manifest, reporting every problem with its field path in one error.
 * `where` names the file for the message. Only the manifest's own shape is checked here, which
 * is safe on hostile input: the plugin's `configSchema` runs inside its sandbox at load (or in
 * `checkConfig`, where a slow schema costs only the caller).
 */
export function validateManifest(value: unknown, where = MANIFEST_FILE): Manifest {
  const problems = validateSchema(value)
    ? []
    : (validateSchema.errors ?? []).filter((e) => e.keyword !== 'if').map(describe);
  const config = (value as { config?: unknown } | null)?.config;
  if (nestedDeeperThan(config, MAX_CONFIG_DEPTH)) {
    problems.push({ path: '/config', message: `nests deeper than ${MAX_CONFIG_DEPTH} levels` });
  }
  if (problems.length > 0) throw invalid(where, problems);
  return value as Manifest;
}

/**
 * How many objects and arrays deep a manifest's `config` may nest (`{"a":[1]}` is 2). It is
 * copied to the sandbox and walked by the plugin's `configSchema`; a config of 1 MiB could
 * otherwise nest half a million levels, past every recursive reader's stack.
 */
export const MAX_CONFIG_DEPTH = 32;

/** Whether `value` holds objects or arrays more than `max` levels deep; never recurses past `max`. */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const walk = (v: unknown, above: number): boolean => {
    if (typeof v !== 'object' || v === null) return false;
    if (above >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (walk(child, above + 1)) return true;
    }
    return false;
  };
  return walk(value, 0);
}

function invalid(where: string, problems: ManifestProblem[], cause?: unknown): MoltError {
  const list = problems.map((p) => `${p.path} ${p.message}`).join('; ');
  return new MoltError(ErrorCodes.MANIFEST_INVALID, `${where}: ${list}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { problems },
  });
}

/**
 * Runs the manifest's `configSchema` on its `config`: the problems, under `/config` (or
 * `/configSchema` when the schema itself cannot be used). It runs plugin-supplied patterns, so
 * call it where their cost is the caller's own (`molt pack`, a CI check), never on a host that
 * serves other plugins; the host runs the same check inside the plugin's sandbox.
 */
export function checkConfig(manifest: Manifest): ManifestProblem[] {
  if (manifest.configSchema === undefined) return [];
  const bad = checkSchema(manifest.configSchema);
  if (bad.length > 0)
    return bad.map((p) => ({
      path: `/configSchema${p.path === '/' ? '' : p.path}`,
      message: p.message,
    }));
  return compileSchema(manifest.configSchema)(manifest.config).map((p) => ({
    path: `/config${p.path === '(root)' ? '' : p.path}`,
    message: p.message,
  }));
}

export function checkHostApi(manifest: Manifest): void {
  if (manifest.hostApi === undefined) return;
  if (!semver.satisfies(HOST_API_VERSION, manifest.hostApi)) {
    throw new MoltError(
      ErrorCodes.HOST_API_MISMATCH,
      `${manifest.name}@${manifest.version} needs host API ${manifest.hostApi}; this host implements ${HOST_API_VERSION}`,
      { details: { plugin: manifest.name, hostApi: manifest.hostApi, host: HOST_API_VERSION } },
    );
  }
}

/** A manifest is a few hundred bytes; anything past this is refused before it is parsed. */
export const MAX_MANIFEST_BYTES = 1 << 20;

/**
 * The file's bytes, or undefined once there are more than `max`: a file that grows after its
 * size was checked is still never read past the cap.
 */
async function readAtMost(handle: FileHandle, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, max + 1 - total));
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) return Buffer.concat(chunks, total);
    chunks.push(chunk.subarray(0, bytesRead));
    total += bytesRead;
    if (total > max) return undefined;
  }
}

/**
 * Reads and validates `molt.json` in an artifact folder: the one manifest reader, for the
 * store, the loader and the CLI. Missing, too large, not JSON, or invalid (a `config` nested
 * too deep included): MANIFEST_INVALID.
 */
export async function readManifest(dir: string): Promise<Manifest> {
  return (await readManifestFile(dir)).manifest;
}

/** readManifest, with the sha256 of the very bytes the manifest was parsed from. */
export async function readManifestFile(
  dir: string,
): Promise<{ manifest: Manifest; sha256: string }> {
  const file = join(dir, MANIFEST_FILE);
  const cannot = (problem: string, err?: unknown): MoltError =>
    invalid(file, [{ path: '/', message: problem }], err);
  let bytes: Buffer | undefined;
  try {
    const handle = await open(file, 'r');
    try {
      const { size, isFile } = await handle
        .stat()
        .then((s) => ({ size: s.size, isFile: s.isFile() }));
      if (!isFile) throw cannot('is not a file');
      const tooLarge = `is larger than ${MAX_MANIFEST_BYTES} bytes`;
      if (size > MAX_MANIFEST_BYTES) throw cannot(tooLarge);
      bytes = await readAtMost(handle, MAX_MANIFEST_BYTES);
      if (bytes === undefined) throw cannot(tooLarge);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (isMoltError(err)) throw err;
    throw cannot(
      `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      err,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw cannot(`is not valid JSON (${(err as Error).message})`, err);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { manifest: validateManifest(parsed, file), sha256 };
}

/**
 * The artifact a caller means to run: the name, version and buildId recorded when the store
 * accepted it (a deployment's catalog), and the sha256 of its `molt.json` when it was recorded.
 * A folder can be rewritten after that, by anyone with write access to it; the buildId proves
 * which code runs only if it is checked against this record, not just against the manifest in
 * the same folder, and only the manifest's digest proves its config and limits are the same.
 */
export interface ExpectedArtifact {
  name: string;
  version: string;
  buildId: string;
  manifestSha256?: string | undefined;
}

/**
 * Refuses an artifact that is not the one expected: another name is NAME_MISMATCH; another
 * version, buildId or manifest is BUILD_MISMATCH (`details.expected`, `details.actual`: the
 * buildIds).
 */
export function checkExpected(artifact: Artifact, expected: ExpectedArtifact): void {
  const { name, version, buildId } = artifact.manifest;
  if (name !== expected.name) {
    throw new MoltError(
      ErrorCodes.NAME_MISMATCH,
      `${artifact.dir} holds plugin "${name}", not "${expected.name}"`,
      { details: { expected: expected.name, actual: name } },
    );
  }
  if (buildId !== expected.buildId || version !== expected.version) {
    throw new MoltError(
      ErrorCodes.BUILD_MISMATCH,
      `${name}: ${artifact.dir} now holds ${version} build ${buildId.slice(0, 12)}, not the ${expected.version} build ${expected.buildId.slice(0, 12)} that was accepted; not loaded`,
      {
        details: {
          plugin: name,
          expected: expected.buildId,
          actual: buildId,
          expectedVersion: expected.version,
          actualVersion: version,
        },
      },
    );
  }
  if (
    expected.manifestSha256 !== undefined &&
    artifact.manifestSha256 !== expected.manifestSha256
  ) {
    throw new MoltError(
      ErrorCodes.BUILD_MISMATCH,
      `${name}@${version}: the ${MANIFEST_FILE} in ${artifact.dir} is not the one that was accepted (same build, another manifest); not loaded`,
      {
        details: {
          plugin: name,
          expected: expected.buildId,
          actual: buildId,
          expectedManifest: expected.manifestSha256,
          actualManifest: artifact.manifestSha256,
        },
      },
    );
  }
}

/** Reads an artifact folder for loading: its manifest, checked against this host's API. */
export async function readArtifact(dir: string): Promise<Artifact> {
  const abs = resolve(dir);
  const { manifest, sha256 } = await readManifestFile(abs);
  checkHostApi(manifest);
  return { dir: abs, entryPath: join(abs, manifest.entry), manifest, manifestSha256: sha256 };
}
