/**
 * Which changes between two tool lists break a caller written against the first: the rules of
 * SCHEMA_BREAKING (README, "Tool schema compatibility").
 *
 * An input schema breaks callers when the new one refuses what the old one took (a tool or a
 * property gone, a new required property, a type, enum or bound narrowed, extra properties
 * closed); an output schema breaks consumers when the new one may emit what the old one did not
 * promise (a property or a required one gone, a type, enum or bound widened, extra properties
 * opened, the outputSchema dropped). A validation keyword this module does not model (`pattern`,
 * `anyOf`, `not`, …) that changed at all is reported too: where unsure it reports, never misses.
 *
 * Written here rather than taken from a schema-diff library: the schemas are plugin-supplied and
 * this runs on the host's thread, so every walk is bounded (depth, nodes visited, changes kept)
 * and a `$ref` is followed at most once per pair of nodes; the libraries looked at expand `$ref`s
 * without a bound.
 */
import type { ToolInfo } from '../sandbox/protocol.js';

export type SchemaChangeKind =
  | 'toolRemoved'
  | 'requiredAdded'
  | 'requiredRemoved'
  | 'propertyRemoved'
  | 'typeNarrowed'
  | 'typeWidened'
  | 'enumNarrowed'
  | 'enumWidened'
  | 'boundNarrowed'
  | 'boundWidened'
  | 'additionalPropertiesClosed'
  | 'additionalPropertiesOpened'
  | 'outputSchemaRemoved'
  | 'constraintChanged'
  | 'uncheckable';

export interface SchemaChange {
  tool: string;
  kind: SchemaChangeKind;
  /** JSON Pointer into the tool (`/inputSchema/properties/n`); '' for the tool itself. */
  path: string;
  message: string;
}

export interface SchemaChangesOptions {
  /** Compare only these tools (a contract's); every tool of `before` when absent. */
  tools?: Iterable<string>;
  /** Stop after this many changes (default 100): a hostile list cannot grow the report. */
  maxChanges?: number;
}

/** How deep a comparison descends, and how many node pairs one call compares, at most. */
export const MAX_COMPAT_DEPTH = 32;
export const MAX_COMPAT_NODES = 20_000;
const MAX_REF_HOPS = 32;

type Schema = Record<string, unknown>;
type Direction = 'input' | 'output';

const isObject = (v: unknown): v is Schema =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keywords that only describe: a change in them never breaks anyone. */
const ANNOTATIONS = new Set([
  'title',
  'description',
  'examples',
  'default',
  '$comment',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$id',
  '$schema',
  '$anchor',
  '$dynamicAnchor',
  '$vocabulary',
  '$defs',
  'definitions',
  'contentMediaType',
  'contentEncoding',
  'contentSchema',
]);

const UPPER = ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties'];
const LOWER = ['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties'];

/**
 * The changes from `before` to `after` that break a caller of `before`, tool by tool. Tools only
 * in `after` are additions and never break anyone.
 */
export function schemaChanges(
  before: readonly ToolInfo[],
  after: readonly ToolInfo[],
  options: SchemaChangesOptions = {},
): SchemaChange[] {
  const only = options.tools === undefined ? undefined : new Set(options.tools);
  const walk = new Walk(options.maxChanges ?? 100);
  const next = new Map(after.map((t) => [t.name, t]));
  for (const old of before) {
    if (walk.full) break;
    if (only !== undefined && !only.has(old.name)) continue;
    const now = next.get(old.name);
    if (now === undefined) {
      walk.report(old.name, 'toolRemoved', '', 'the tool was removed');
      continue;
    }
    walk.compareRoot(old.name, 'inputSchema', old.inputSchema, now.inputSchema, 'input');
    if (old.outputSchema === undefined) continue;
    if (now.outputSchema === undefined) {
      walk.report(
        old.name,
        'outputSchemaRemoved',
        '/outputSchema',
        'the outputSchema was removed: its structure is no longer promised',
      );
      continue;
    }
    walk.compareRoot(old.name, 'outputSchema', old.outputSchema, now.outputSchema, 'output');
  }
  return walk.changes;
}

/** One "tool: path: message" line per change. */
export function formatChanges(changes: readonly SchemaChange[]): string {
  return changes
    .map((c) => `${c.tool}${c.path === '' ? '' : ` ${c.path}`}: ${c.message}`)
    .join('; ');
}

class Walk {
  readonly changes: SchemaChange[] = [];
  readonly #max: number;
  #nodes = 0;
  #spent = false;
  #tool = '';
  #roots: [unknown, unknown] = [undefined, undefined];
  /** Pairs of nodes already compared: a cycle of `$ref`s is walked once. */
  #seen = new WeakMap<object, WeakSet<object>>();

  constructor(max: number) {
    this.#max = max;
  }

  /** No more changes are kept: the report is capped, or the node budget is spent. */
  get full(): boolean {
    return this.#spent || this.changes.length >= this.#max;
  }

  report(tool: string, kind: SchemaChangeKind, path: string, message: string): void {
    // Property names are the plugin's and unbounded: the report (and its message) is not.
    if (!this.full) this.changes.push({ tool, kind, path: cut(path), message: cut(message) });
  }

  compareRoot(tool: string, field: string, b: unknown, a: unknown, dir: Direction): void {
    // The common reload: the same schema again.
    if (sameJson(b, a)) return;
    this.#tool = tool;
    this.#roots = [b, a];
    this.#seen = new WeakMap();
    this.#compare(b, a, `/${field}`, dir, 0);
  }

  #add(kind: SchemaChangeKind, path: string, message: string): void {
    this.report(this.#tool, kind, path, message);
  }

  #compare(b: unknown, a: unknown, path: string, dir: Direction, depth: number): void {
    if (this.full) return;
    if (++this.#nodes > MAX_COMPAT_NODES) {
      // One report, then nothing more is walked: the rest of a hostile list costs nothing.
      this.#add('uncheckable', path, 'too large to compare: treated as breaking');
      this.#spent = true;
      return;
    }
    if (depth > MAX_COMPAT_DEPTH) {
      this.#add('uncheckable', path, 'nested too deep to compare: treated as breaking');
      return;
    }
    // Boolean schemas: `true` takes anything, `false` nothing.
    if (b === false || a === true) {
      if (dir === 'output' && a !== false && !(a === b || (a === true && isEmptySchema(b))))
        this.#add('typeWidened', path, 'may now emit values it did not before');
      return;
    }
    if (a === false) {
      if (dir === 'input') this.#add('typeNarrowed', path, 'now accepts no value');
      return;
    }
    const bs: Schema = b === true || !isObject(b) ? {} : b;
    const as: Schema = !isObject(a) ? {} : a;
    if (typeof bs.$ref === 'string' || typeof as.$ref === 'string') {
      this.#compareRefs(bs, as, path, dir, depth);
      return;
    }
    this.#types(bs, as, path, dir);
    this.#enums(bs, as, path, dir);
    this.#bounds(bs, as, path, dir);
    this.#required(bs, as, path, dir);
    this.#properties(bs, as, path, dir, depth);
    this.#additional(bs, as, path, dir, depth);
    this.#items(bs, as, path, dir, depth);
    this.#unmodelled(bs, as, path);
  }

  /**
   * A node with a `$ref` is its target and its sibling keywords both applying (2019-09 on; in
   * draft-07 the siblings are ignored, so comparing them too only reports more). Local refs are
   * resolved within the same schema; one that cannot be is compared as written.
   */
  #compareRefs(b: Schema, a: Schema, path: string, dir: Direction, depth: number): void {
    const bt = this.#resolve(b, 0);
    const at = this.#resolve(a, 1);
    if (bt === undefined || at === undefined) {
      if (!sameJson(b, a))
        this.#add(
          'constraintChanged',
          path,
          'a $ref that cannot be resolved here changed: treated as breaking',
        );
      return;
    }
    // Cycles only pass through refs: a pair of targets is compared once.
    if (isObject(bt) && isObject(at) && this.#visited(bt, at)) return;
    this.#compare(bt, at, path, dir, depth + 1);
    // A side without a $ref was compared whole just above: only a ref's siblings remain.
    const bRest = typeof b.$ref === 'string' ? withoutRef(b) : undefined;
    const aRest = typeof a.$ref === 'string' ? withoutRef(a) : undefined;
    if (bRest !== undefined || aRest !== undefined)
      this.#compare(bRest ?? true, aRest ?? true, path, dir, depth + 1);
  }

  /** The schema a node's `$ref` chain ends at; the node itself without one; undefined if lost. */
  #resolve(node: Schema, side: 0 | 1): unknown {
    let current: unknown = node;
    for (let hops = 0; hops < MAX_REF_HOPS; hops++) {
      if (!isObject(current) || typeof current.$ref !== 'string') return current;
      const target = pointer(this.#roots[side], current.$ref);
      if (target === undefined) return undefined;
      // Siblings of a ref in the chain's middle would be lost: compare it as written instead.
      if (hops > 0 && withoutRef(current) !== undefined) return undefined;
      current = target;
    }
    return undefined;
  }

  #visited(b: object, a: object): boolean {
    let set = this.#seen.get(b);
    if (set === undefined) {
      set = new WeakSet();
      this.#seen.set(b, set);
    }
    if (set.has(a)) return true;
    set.add(a);
    return false;
  }

  #types(b: Schema, a: Schema, path: string, dir: Direction): void {
    if (b.type === a.type) return;
    const bt = typeSet(b.type);
    const at = typeSet(a.type);
    const lost = (from: Set<string> | undefined, to: Set<string> | undefined): string[] => {
      if (to === undefined) return [];
      if (from === undefined) return ['any type'];
      return [...from].filter((t) => !to.has(t) && !(t === 'integer' && to.has('number')));
    };
    if (dir === 'input') {
      const gone = lost(bt, at);
      if (gone.length > 0)
        this.#add(
          'typeNarrowed',
          `${path}/type`,
          `type narrowed from ${show(b.type)} to ${show(a.type)}`,
        );
    } else {
      const added = lost(at, bt);
      if (added.length > 0)
        this.#add(
          'typeWidened',
          `${path}/type`,
          `type widened from ${show(b.type)} to ${show(a.type)}`,
        );
    }
  }

  #enums(b: Schema, a: Schema, path: string, dir: Direction): void {
    if (
      b.enum === undefined &&
      a.enum === undefined &&
      b.const === undefined &&
      a.const === undefined
    )
      return;
    const be = allowed(b);
    const ae = allowed(a);
    const [from, to] = dir === 'input' ? [be, ae] : [ae, be];
    if (to === undefined) return;
    const missing = from === undefined ? ['(any value)'] : [...from].filter((v) => !to.has(v));
    if (missing.length === 0) return;
    const kind = dir === 'input' ? 'enumNarrowed' : 'enumWidened';
    const verb = dir === 'input' ? 'no longer accepts' : 'may now emit';
    this.#add(
      kind,
      `${path}/enum`,
      `${verb} ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`,
    );
  }

  #bounds(b: Schema, a: Schema, path: string, dir: Direction): void {
    for (const [keys, upper] of [
      [UPPER, true],
      [LOWER, false],
    ] as const) {
      for (const key of keys) {
        const bv = b[key];
        const av = a[key];
        if (bv === av) continue;
        if (
          (bv !== undefined && typeof bv !== 'number') ||
          (av !== undefined && typeof av !== 'number')
        ) {
          // Draft-04's boolean exclusiveMaximum and the like: compared as a whole.
          this.#add('constraintChanged', `${path}/${key}`, `${key} changed`);
          continue;
        }
        // Tighter: a bound appears, or moves inward.
        const tighter = av !== undefined && (bv === undefined || (upper ? av < bv : av > bv));
        if (dir === 'input' && tighter)
          this.#add(
            'boundNarrowed',
            `${path}/${key}`,
            `${key} tightened from ${bv ?? 'none'} to ${av}`,
          );
        if (dir === 'output' && !tighter)
          this.#add(
            'boundWidened',
            `${path}/${key}`,
            `${key} loosened from ${bv} to ${av ?? 'none'}`,
          );
      }
    }
  }

  #required(b: Schema, a: Schema, path: string, dir: Direction): void {
    if (b.required === undefined && a.required === undefined) return;
    const br = stringList(b.required);
    const ar = stringList(a.required);
    if (dir === 'input') {
      for (const name of ar)
        if (!br.has(name))
          this.#add('requiredAdded', `${path}/required`, `property "${name}" is now required`);
    } else {
      for (const name of br)
        if (!ar.has(name))
          this.#add(
            'requiredRemoved',
            `${path}/required`,
            `property "${name}" is no longer always present`,
          );
    }
  }

  #properties(b: Schema, a: Schema, path: string, dir: Direction, depth: number): void {
    if (b.properties === undefined && a.properties === undefined) return;
    const bp = isObject(b.properties) ? b.properties : {};
    const ap = isObject(a.properties) ? a.properties : {};
    for (const name in bp) {
      if (this.full) return;
      const sub = bp[name];
      const at = `${path}/properties/${escapePointer(name)}`;
      if (!Object.hasOwn(ap, name)) {
        this.#add('propertyRemoved', at, `property "${name}" was removed`);
        continue;
      }
      this.#compare(sub, ap[name], at, dir, depth + 1);
    }
  }

  #additional(b: Schema, a: Schema, path: string, dir: Direction, depth: number): void {
    const bv = b.additionalProperties ?? true;
    const av = a.additionalProperties ?? true;
    const at = `${path}/additionalProperties`;
    if (bv !== false && av === false) {
      if (dir === 'input')
        this.#add('additionalPropertiesClosed', at, 'no longer accepts other properties');
      return;
    }
    if (bv === false && av !== false) {
      if (dir === 'output')
        this.#add('additionalPropertiesOpened', at, 'may now emit other properties');
      return;
    }
    if (bv !== av) this.#compare(bv, av, at, dir, depth + 1);
  }

  #items(b: Schema, a: Schema, path: string, dir: Direction, depth: number): void {
    const bi = b.items;
    const ai = a.items;
    if (bi === undefined && ai === undefined) return;
    if (Array.isArray(bi) || Array.isArray(ai)) {
      // Tuples (draft-07 `items: [...]`): compared as a whole.
      if (!sameJson(bi, ai)) this.#add('constraintChanged', `${path}/items`, 'items changed');
      return;
    }
    this.#compare(bi ?? true, ai ?? true, `${path}/items`, dir, depth + 1);
  }

  #unmodelled(b: Schema, a: Schema, path: string): void {
    for (const [node, other] of [
      [b, undefined],
      [a, b],
    ] as const) {
      for (const key in node) {
        // A key of both was seen with `b`'s.
        if (!VALIDATION.has(key) || (other !== undefined && Object.hasOwn(other, key))) continue;
        if (!sameJson(b[key], a[key]))
          this.#add('constraintChanged', `${path}/${escapePointer(key)}`, `${key} changed`);
      }
    }
  }
}

/** Validation keywords of drafts 4 to 2020-12 not modelled above: any change is reported. */
const VALIDATION = new Set([
  'pattern',
  'format',
  'multipleOf',
  'uniqueItems',
  'contains',
  'minContains',
  'maxContains',
  'propertyNames',
  'patternProperties',
  'dependentRequired',
  'dependentSchemas',
  'dependencies',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
  'prefixItems',
  'additionalItems',
  'unevaluatedProperties',
  'unevaluatedItems',
  '$dynamicRef',
  '$recursiveRef',
]);

function typeSet(type: unknown): Set<string> | undefined {
  if (typeof type === 'string') return new Set([type]);
  if (Array.isArray(type)) return new Set(type.filter((t): t is string => typeof t === 'string'));
  return undefined;
}

/** The values `enum`/`const` allow, as JSON text; undefined when neither limits them. */
function allowed(s: Schema): Set<string> | undefined {
  let values: Set<string> | undefined;
  if (Array.isArray(s.enum)) values = new Set(s.enum.map((v) => JSON.stringify(v)));
  if (Object.hasOwn(s, 'const')) {
    const c = JSON.stringify(s.const);
    values = values === undefined ? new Set([c]) : new Set([...values].filter((v) => v === c));
  }
  return values;
}

function stringList(v: unknown): Set<string> {
  return new Set(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
}

const show = (type: unknown): string =>
  type === undefined ? 'any' : Array.isArray(type) ? type.join('|') : String(type);

function isEmptySchema(s: unknown): boolean {
  return isObject(s) && Object.keys(s).every((k) => ANNOTATIONS.has(k));
}

function withoutRef(s: Schema): Schema | undefined {
  const rest: Schema = {};
  let any = false;
  for (const [k, v] of Object.entries(s)) {
    if (k === '$ref' || ANNOTATIONS.has(k)) continue;
    rest[k] = v;
    any = true;
  }
  return any ? rest : undefined;
}

const MAX_TEXT = 512;
const cut = (text: string): string =>
  text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;

const escapePointer = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** A local `#/...` JSON Pointer into `root`; undefined for any other reference or a miss. */
function pointer(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let path: string;
  try {
    path = decodeURIComponent(ref.slice(1));
  } catch {
    return undefined;
  }
  if (path === '') return root;
  if (!path.startsWith('/')) return undefined;
  let node: unknown = root;
  for (const raw of path.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) node = /^\d+$/.test(key) ? node[Number(key)] : undefined;
    else if (isObject(node) && Object.hasOwn(node, key)) node = node[key];
    else return undefined;
  }
  return node;
}

/** Equal as JSON (key order counts: a reordered schema is compared in full, not missed). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}
