/**
 * Where two snapshots of a plugin's state differ, as JSON-pointer paths a plugin author can read
 * (`/notes: 8 items, expected 16`). Instants (ISO-8601 date-times) are the one thing two runs
 * cannot repeat, so any instant matches any other: a plugin that stamps its records still
 * compares equal when nothing else drifted.
 */

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** How the value reads in a difference line: short, whatever its size. */
function brief(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `${value.length} items`;
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 80 ? `${json.slice(0, 77)}…` : json;
}

const pointer = (path: string, key: string | number): string =>
  `${path}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;

/**
 * The first `limit` differences between `actual` and `expected` (both JSON values), depth first
 * in key order; empty when they match.
 */
export function stateDiff(actual: unknown, expected: unknown, limit = 10): string[] {
  const found: string[] = [];
  const walk = (a: unknown, e: unknown, path: string): void => {
    if (found.length >= limit) return;
    if (typeof a === 'string' && typeof e === 'string' && INSTANT.test(a) && INSTANT.test(e))
      return;
    const at = path === '' ? '/' : path;
    if (Array.isArray(a) && Array.isArray(e)) {
      if (a.length !== e.length) found.push(`${at}: ${a.length} items, expected ${e.length}`);
      for (let i = 0; i < Math.min(a.length, e.length); i++) walk(a[i], e[i], pointer(path, i));
      return;
    }
    const isObject = (v: unknown): v is Record<string, unknown> =>
      typeof v === 'object' && v !== null && !Array.isArray(v);
    if (isObject(a) && isObject(e)) {
      const keys = [...new Set([...Object.keys(e), ...Object.keys(a)])].sort();
      for (const k of keys) walk(a[k], e[k], pointer(path, k));
      return;
    }
    if (!Object.is(a, e)) found.push(`${at}: ${brief(a)}, expected ${brief(e)}`);
  };
  walk(actual, expected, '');
  return found;
}
