/**
 * The version promise a reload is held to: a new version in the old one's caret range
 * (`semver.satisfies(new, '^old')`: 1.2.0 → 1.9.0, 0.3.1 → 0.3.4, never across a major or a 0.y)
 * must keep every tool's schema compatible (src/schema/compat.ts); one outside it may break
 * them. Run by the reload before the new version's `init`, and by `molt validate --against`.
 */
import semver from 'semver';
import { ErrorCodes, MoltError } from '../errors/errors.js';
import type { ToolInfo } from '../sandbox/protocol.js';
import { formatChanges, type SchemaChange, schemaChanges } from '../schema/compat.js';

/** `refuse` (default) fails such a reload with SCHEMA_BREAKING; `off` lets it through (molt dev). */
export type SchemaCompat = 'refuse' | 'off';

export interface VersionedTools {
  version: string;
  tools: readonly ToolInfo[];
}

/**
 * Whether `to` promises to stay compatible with `from`. Prereleases count as in the range
 * (1.1.0-beta.1 after 1.0.0 is held to it), so a prerelease cannot slip a break into a major.
 */
export function mustStayCompatible(from: string, to: string): boolean {
  return semver.satisfies(to, `^${from}`, { includePrerelease: true });
}

/** How many changes the error's message lists; `details.changes` has every one found. */
const LISTED = 20;

/**
 * SCHEMA_BREAKING when `to` is in `from`'s caret range and breaks one of its tools (restricted
 * to `tools` when given, e.g. a contract's); undefined when the change is allowed.
 */
export function schemaBreak(
  name: string,
  from: VersionedTools,
  to: VersionedTools,
  tools?: Iterable<string>,
): MoltError | undefined {
  if (!mustStayCompatible(from.version, to.version)) return undefined;
  const changes: SchemaChange[] = schemaChanges(
    from.tools,
    to.tools,
    tools === undefined ? {} : { tools },
  );
  if (changes.length === 0) return undefined;
  const more = changes.length > LISTED ? `; and ${changes.length - LISTED} more` : '';
  return new MoltError(
    ErrorCodes.SCHEMA_BREAKING,
    `${name}@${to.version} breaks the tools of ${from.version} within the same major (bump the major to allow it): ${formatChanges(changes.slice(0, LISTED))}${more}`,
    { details: { plugin: name, from: from.version, to: to.version, changes } },
  );
}
