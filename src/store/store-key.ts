import semver from 'semver';
import { ErrorCodes, MoltError } from '../errors/errors.js';

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
// semver.valid() accepts surrounding whitespace and a leading "v"; a folder name must not carry
// whitespace, so the raw string is held to semver's own character set as well.
const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+-]*$/;
const BUILD_ID = /^[0-9a-f]{64}$/;

/** Length of the buildId prefix in a store folder's name. */
export const BUILD_ID_PREFIX = 12;

/**
 * The folder name of one artifact under `<root>/<name>/`. The three parts come from a manifest
 * (or a caller), so each is checked: nothing may turn the key into a path that leaves the store.
 */
export function storeFolderName(name: string, version: string, buildId: string): string {
  const problems: { path: string; message: string }[] = [];
  if (!NAME.test(name)) problems.push({ path: '/name', message: 'is not a valid plugin name' });
  if (!VERSION.test(version) || semver.valid(version) === null) {
    problems.push({ path: '/version', message: 'is not a plain semver version' });
  }
  if (!BUILD_ID.test(buildId)) {
    problems.push({ path: '/buildId', message: 'is not 64 lowercase hex digits' });
  }
  if (problems.length > 0) {
    const list = problems.map((p) => `${p.path} ${p.message}`).join('; ');
    throw new MoltError(
      ErrorCodes.MANIFEST_INVALID,
      `not a store key (${JSON.stringify(name)}, ${JSON.stringify(version)}, ${JSON.stringify(buildId)}): ${list}`,
      { details: { problems } },
    );
  }
  return `${version}-${buildId.slice(0, BUILD_ID_PREFIX)}`;
}
