import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { MANIFEST_FILE, type Manifest, readManifestFile } from '../manifest/manifest.js';
import { errno } from './store-fs.js';

function invalid(message: string, path: string, problem: string): MoltError {
  return new MoltError(ErrorCodes.MANIFEST_INVALID, `${MANIFEST_FILE}: ${message}`, {
    details: { problems: [{ path, message: problem }] },
  });
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/**
 * Proves the extracted artifact is what its manifest says: a valid manifest, an entry file that
 * is really in the folder, and entry bytes whose sha256 is the buildId. Returns the manifest and
 * the sha256 of the bytes it was parsed from.
 */
export async function verifyArtifact(
  dir: string,
): Promise<{ manifest: Manifest; manifestSha256: string }> {
  const { manifest, sha256: manifestSha256 } = await readManifestFile(dir);
  const entryPath = resolve(dir, manifest.entry);
  const rel = relative(dir, entryPath);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`)) {
    throw invalid(
      `entry ${manifest.entry} is outside the artifact`,
      '/entry',
      'is outside the artifact',
    );
  }
  const stats = await lstat(entryPath).catch((err: unknown) => {
    if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
    throw err;
  });
  if (stats === undefined || !stats.isFile()) {
    throw invalid(
      `entry ${manifest.entry} is not a file in the artifact`,
      '/entry',
      'names no file in the artifact',
    );
  }
  const actual = await sha256File(entryPath);
  if (actual !== manifest.buildId) {
    throw new MoltError(
      ErrorCodes.BUILD_MISMATCH,
      `${manifest.name}@${manifest.version}: the entry's sha256 is ${actual}, the manifest's buildId is ${manifest.buildId}`,
      { details: { plugin: manifest.name, expected: manifest.buildId, actual } },
    );
  }
  return { manifest, manifestSha256 };
}

/**
 * A digest of every file's path and bytes, so that two artifacts that share a store key can be
 * told apart (same entry, different manifest or assets).
 */
export async function treeDigest(dir: string): Promise<string> {
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(join(dir, rel), { withFileTypes: true })) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) await walk(child);
      else files.push(child);
    }
  };
  await walk('');
  files.sort();
  const digest = createHash('sha256');
  for (const file of files) digest.update(`${file}\0${await sha256File(join(dir, file))}\n`);
  return digest.digest('hex');
}
