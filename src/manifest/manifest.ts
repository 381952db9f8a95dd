import { readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import semver from 'semver';
import { ErrorCodes, MoltError } from '../errors/errors.js';
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
}

export interface Manifest {
  name: string;
  version: string;
  description?: string;
  entry: string;
  buildId: string;
  hostApi?: string;
  provides?: Record<string, string>;
  requires?: Record<string, string>;
  limits?: ManifestLimits;
  permissions?: Record<string, unknown>;
  isolation?: 'worker' | 'process';
  config?: unknown;
  configSchema?: Record<string, unknown>;
}

/** A manifest read from disk, with the absolute paths the host needs. */
export interface Artifact {
  dir: string;
  entryPath: string;
  manifest: Manifest;
}

export interface ManifestProblem {
  path: string;
  message: string;
}

const ajv = new Ajv({ allErrors: true, strict: false });
// Strict: `semver.valid` also accepts ' 1.0.0' and 'v1.0.0', which would not round-trip.
ajv.addFormat('semver', (v: string) => /^\d/.test(v) && v.trim() === v && semver.valid(v) !== null);
ajv.addFormat('semver-range', (v: string) => semver.validRange(v) !== null);
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
 * `where` names the file for the message.
 */
export function validateManifest(value: unknown, where = MANIFEST_FILE): Manifest {
  const problems: ManifestProblem[] = [];
  if (!validateSchema(value)) {
    for (const e of validateSchema.errors ?? []) problems.push(describe(e));
  } else {
    const m = value as Manifest;
    if (m.configSchema !== undefined) {
      try {
        const validateConfig = ajv.compile(m.configSchema);
        if (m.config !== undefined && !validateConfig(m.config)) {
          for (const e of validateConfig.errors ?? []) {
            const p = describe(e);
            problems.push({ path: `/config${p.path === '/' ? '' : p.path}`, message: p.message });
          }
        }
      } catch (err) {
        problems.push({
          path: '/configSchema',
          message: `is not a valid JSON Schema: ${(err as Error).message}`,
        });
      }
    }
  }
  if (problems.length > 0) {
    const list = problems.map((p) => `${p.path} ${p.message}`).join('; ');
    throw new MoltError(ErrorCodes.MANIFEST_INVALID, `${where}: ${list}`, {
      details: { problems },
    });
  }
  return value as Manifest;
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

/** Reads and validates `molt.json` in an artifact folder. */
export async function readArtifact(dir: string): Promise<Artifact> {
  const abs = resolve(dir);
  const file = join(abs, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new MoltError(
      ErrorCodes.MANIFEST_INVALID,
      `${file}: cannot be read (${(err as Error).message})`,
      {
        cause: err,
        details: { problems: [{ path: '/', message: 'cannot be read' }] },
      },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new MoltError(
      ErrorCodes.MANIFEST_INVALID,
      `${file}: is not valid JSON (${(err as Error).message})`,
      {
        cause: err,
        details: { problems: [{ path: '/', message: 'is not valid JSON' }] },
      },
    );
  }
  const manifest = validateManifest(parsed, file);
  checkHostApi(manifest);
  return { dir: abs, entryPath: join(abs, manifest.entry), manifest };
}
