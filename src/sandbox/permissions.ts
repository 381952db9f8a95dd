/**
 * A manifest's `permissions`, resolved to what a process sandbox is started with: Node's
 * permission-model flags and the environment the plugin sees. Nothing is granted by default:
 * file reads only in the artifact (through the sandbox's own folder) and the plugin's data
 * folder, writes only in the data folder, no child processes, workers, addons or WASI, and no
 * environment variable the manifest does not name.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import type { ManifestPermissions } from '../manifest/manifest.js';

export type Isolation = 'worker' | 'process';

/** The grants of one plugin, resolved to absolute paths. Part of a standby's key. */
export interface Grants {
  read: string[];
  write: string[];
  childProcess: boolean;
  worker: boolean;
  addons: boolean;
  wasi: boolean;
  net: boolean;
}

/** Nothing beyond the sandbox's own folders: what a plugin with no `permissions` gets. */
export const NO_GRANTS: Grants = Object.freeze({
  read: [],
  write: [],
  childProcess: false,
  worker: false,
  addons: false,
  wasi: false,
  net: false,
}) as Grants;

/**
 * Resolves declared paths: absolute ones as they are, relative ones inside `dataDir` (and never
 * out of it: `../x` is refused, MANIFEST_INVALID).
 */
export function resolveGrants(
  name: string,
  p: ManifestPermissions | undefined,
  dataDir: string,
): Grants {
  if (p === undefined) return NO_GRANTS;
  const paths = (list: string[] | undefined, field: string): string[] =>
    (list ?? []).map((raw) => {
      if (isAbsolute(raw)) return resolve(raw);
      const full = resolve(dataDir, raw);
      const rel = relative(dataDir, full);
      if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
        throw new MoltError(
          ErrorCodes.MANIFEST_INVALID,
          `${name}: permissions.fs.${field} "${raw}" leaves the plugin's data folder; give an absolute path to grant a folder outside it`,
          {
            details: {
              problems: [{ path: `/permissions/fs/${field}`, message: 'outside the data folder' }],
            },
          },
        );
      }
      return full;
    });
  return {
    read: paths(p.fs?.read, 'read'),
    write: paths(p.fs?.write, 'write'),
    childProcess: p.childProcess === true,
    worker: p.worker === true,
    addons: p.addons === true,
    wasi: p.wasi === true,
    net: p.net === true || (Array.isArray(p.net) && p.net.length > 0),
  };
}

/** Only the variables the manifest names, taken from the host's environment. */
export function pickEnv(
  names: readonly string[] | undefined,
  from: NodeJS.ProcessEnv,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of names ?? []) {
    const value = from[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);

/** `--permission` from Node 22.13 (and 23.5); before it, `--experimental-permission`. */
export const PERMISSION_FLAG =
  major > 23 || (major === 23 && minor >= 5) || (major === 22 && minor >= 13)
    ? '--permission'
    : '--experimental-permission';

/** Whether this Node can deny the network (`--allow-net`, Node 25 and later). */
export const CAN_RESTRICT_NET = process.allowedNodeEnvironmentFlags.has('--allow-net');

/**
 * Node flags for a sandbox whose own folder is `sandboxDir` (holding the link to the artifact),
 * whose runtime is `entry` and whose data folder is `dataDir`. Folders are granted with a
 * trailing separator, which every Node from 20 reads as "this folder and everything in it".
 */
export function permissionFlags(
  grants: Grants,
  paths: { entry: string; sandboxDir: string; dataDir: string },
): string[] {
  const folder = (p: string): string => (p.endsWith(sep) ? p : `${p}${sep}`);
  const flags = [
    PERMISSION_FLAG,
    `--allow-fs-read=${paths.entry}`,
    `--allow-fs-read=${folder(paths.sandboxDir)}`,
    `--allow-fs-read=${folder(paths.dataDir)}`,
    `--allow-fs-write=${folder(paths.dataDir)}`,
  ];
  for (const p of grants.read) flags.push(`--allow-fs-read=${p}`);
  for (const p of grants.write) flags.push(`--allow-fs-write=${p}`);
  if (grants.childProcess) flags.push('--allow-child-process');
  if (grants.worker) flags.push('--allow-worker');
  if (grants.addons) flags.push('--allow-addons');
  if (grants.wasi) flags.push('--allow-wasi');
  if (grants.net && CAN_RESTRICT_NET) flags.push('--allow-net');
  return flags;
}
