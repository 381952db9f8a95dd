/**
 * The hash chain of the audit log. A line's `hash` is the sha256 (lowercase hex) of the UTF-8
 * bytes of the line's JSON Canonicalization Scheme form (RFC 8785: keys sorted by UTF-16 code
 * units at every depth, no whitespace, numbers and strings as ECMAScript writes them) with the
 * `hash` field left out; its `prev` is the previous line's `hash`. A standard scheme, so a third
 * party verifies a log with any JCS library and sha256.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/** The `prev` of a chain's first line. */
export const ZERO_HASH = '0'.repeat(64);

const HEX64 = /^[0-9a-f]{64}$/;

/** The fields every chained line has. */
export interface ChainLink {
  seq: number;
  prev: string;
  hash: string;
}

export function isChained(value: unknown): value is ChainLink & Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return (
    Number.isSafeInteger(v.seq) &&
    typeof v.prev === 'string' &&
    HEX64.test(v.prev) &&
    typeof v.hash === 'string' &&
    HEX64.test(v.hash)
  );
}

/** The hash a line should carry: over its canonical form without `hash`. */
export function hashOf(line: Record<string, unknown>): string {
  const { hash: _, ...rest } = line;
  return sha256(canonicalize(rest) ?? '');
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const wellFormed = (s: string): string => s.replace(LONE_SURROGATE, '\uFFFD');

/**
 * What a reader of the written line gets back: JSON's view of `value` (toJSON applied,
 * undefined dropped, NaN as null) with lone surrogates replaced, which JCS cannot encode. Facts
 * carry plugin text, so the entry hashed must be exactly the one parsed back from the line.
 */
export function plain(value: unknown): unknown {
  const json = JSON.stringify(value);
  if (json === undefined) return null;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return wellFormed(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      // No prototype: a key `__proto__` in plugin text stays a key.
      const out = Object.create(null) as Record<string, unknown>;
      for (const [k, x] of Object.entries(v)) out[wellFormed(k)] = walk(x);
      return out;
    }
    return v;
  };
  return walk(JSON.parse(json));
}
