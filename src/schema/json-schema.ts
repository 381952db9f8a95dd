/**
 * JSON Schemas that plugins supply (tool input schemas, a manifest's configSchema) are hostile
 * input: a `pattern` can backtrack for minutes, `uniqueItems` is quadratic. They are checked and
 * run only inside the plugin's own sandbox, where its timeouts bound them and only that plugin
 * pays. Validation interprets the schema (@cfworker/json-schema): no code generation, no
 * compile step to warm up in each sandbox, and every draft from 4 to 2020-12.
 */
import { type OutputUnit, type SchemaDraft, Validator } from '@cfworker/json-schema';

export interface SchemaProblem {
  /** JSON Pointer into the checked value (or into the schema, for a schema problem). */
  path: string;
  message: string;
}

/** Returns the problems of `value`, none when it matches. */
export type ValidateFn = (value: unknown) => readonly SchemaProblem[];

/** What a validator returns for a value that matches: one shared empty list, no allocation. */
export const NO_PROBLEMS: readonly SchemaProblem[] = Object.freeze([]);

/** Bounds on a schema's shape, so checking one is cheap whatever it holds. */
const MAX_DEPTH = 64;
const MAX_NODES = 20_000;

const TYPES = new Set(['array', 'boolean', 'integer', 'null', 'number', 'object', 'string']);
const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];
const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SCHEMA_ONE = [
  'additionalProperties',
  'additionalItems',
  'unevaluatedProperties',
  'unevaluatedItems',
  'contains',
  'propertyNames',
  'not',
  'if',
  'then',
  'else',
];

function draftOf(schema: Record<string, unknown>): SchemaDraft {
  const uri = typeof schema.$schema === 'string' ? schema.$schema : '';
  if (uri.includes('draft-04')) return '4';
  if (uri.includes('draft-06') || uri.includes('draft-07')) return '7';
  if (uri.includes('2019-09')) return '2019-09';
  // MCP's default dialect since 2025-11-25.
  return '2020-12';
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks that `schema` is a schema this validator can run: subschemas are objects or booleans,
 * `type` names real types, `required` lists strings, every `pattern` compiles. Not a full
 * meta-schema check; enough that a broken schema fails when the plugin loads, not on a call.
 */
export function checkSchema(schema: unknown): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  let nodes = 0;
  const walk = (node: unknown, path: string, depth: number): void => {
    if (problems.length >= 20) return;
    if (typeof node === 'boolean') return;
    if (!isObject(node)) {
      problems.push({ path: path || '/', message: 'must be a schema (an object or a boolean)' });
      return;
    }
    if (++nodes > MAX_NODES || depth > MAX_DEPTH) {
      if (problems.every((p) => p.message !== 'is too large')) {
        problems.push({ path: path || '/', message: 'is too large' });
      }
      return;
    }
    const type = node.type;
    if (type !== undefined) {
      const list = Array.isArray(type) ? type : [type];
      if (list.length === 0 || list.some((t) => typeof t !== 'string' || !TYPES.has(t)))
        problems.push({ path: `${path}/type`, message: 'must name JSON Schema types' });
    }
    const required = node.required;
    if (
      required !== undefined &&
      (!Array.isArray(required) || required.some((r) => typeof r !== 'string'))
    )
      problems.push({ path: `${path}/required`, message: 'must be a list of strings' });
    if (node.pattern !== undefined) checkPattern(node.pattern, `${path}/pattern`, problems);
    for (const key of SCHEMA_MAPS) {
      const map = node[key];
      if (map === undefined) continue;
      if (!isObject(map)) {
        problems.push({ path: `${path}/${key}`, message: 'must be an object of schemas' });
        continue;
      }
      for (const [name, sub] of Object.entries(map)) {
        if (key === 'patternProperties') checkPattern(name, `${path}/${key}/${name}`, problems);
        walk(sub, `${path}/${key}/${escapePointer(name)}`, depth + 1);
      }
    }
    for (const key of SCHEMA_LISTS) {
      const list = node[key];
      if (list === undefined) continue;
      if (!Array.isArray(list)) {
        problems.push({ path: `${path}/${key}`, message: 'must be a list of schemas' });
        continue;
      }
      for (const [i, sub] of list.entries()) walk(sub, `${path}/${key}/${i}`, depth + 1);
    }
    for (const key of SCHEMA_ONE) {
      if (node[key] !== undefined) walk(node[key], `${path}/${key}`, depth + 1);
    }
    const items = node.items;
    if (Array.isArray(items)) {
      for (const [i, sub] of items.entries()) walk(sub, `${path}/items/${i}`, depth + 1);
    } else if (items !== undefined) walk(items, `${path}/items`, depth + 1);
  };
  walk(schema, '', 0);
  return problems;
}

function checkPattern(pattern: unknown, path: string, problems: SchemaProblem[]): void {
  if (typeof pattern !== 'string') {
    problems.push({ path, message: 'must be a string' });
    return;
  }
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    problems.push({
      path,
      message: `is not a valid regular expression: ${(err as Error).message}`,
    });
  }
}

const escapePointer = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Compiles a checked schema. The validator works on a copy, because the library annotates the
 * schema objects it dereferences and the original is what the host lists.
 */
export function compileSchema(schema: Record<string, unknown> | boolean): ValidateFn {
  if (typeof schema === 'boolean') {
    return (value) =>
      schema ? NO_PROBLEMS : [{ path: '(root)', message: `${typeof value} is not allowed` }];
  }
  const validator = new Validator(structuredClone(schema), draftOf(schema), false);
  return (value) => {
    const result = validator.validate(value);
    return result.valid ? NO_PROBLEMS : describe(result.errors);
  };
}

/**
 * Keeps the most specific errors: a container's "does not match" repeats its children's, and a
 * `false` schema's "False boolean schema" repeats the keyword that pointed at it.
 */
function describe(errors: OutputUnit[]): SchemaProblem[] {
  const leaves = errors.filter(
    (e) =>
      !(e.keyword === 'false' && errors.length > 1) &&
      !errors.some((o) => o !== e && o.keywordLocation.startsWith(`${e.keywordLocation}/`)),
  );
  return leaves.map((e) => ({
    path: e.instanceLocation === '#' ? '(root)' : e.instanceLocation.replace(/^#/, ''),
    message: phrase(e.error),
  }));
}

/** The validator's most common messages, said the way a model corrects its call from. */
const PHRASES: [RegExp, string][] = [
  [/^Instance does not have required property "(.*)"\.$/, "must have required property '$1'"],
  [/^Instance type "(.*)" is invalid\. Expected "(.*)"\.$/, 'must be $2'],
  [
    /^Property "(.*)" does not match additional properties schema\.$/,
    "must not have additional property '$1'",
  ],
];

function phrase(error: string): string {
  for (const [pattern, text] of PHRASES)
    if (pattern.test(error)) return error.replace(pattern, text);
  return error.replace(/\.$/, '');
}

/** "path message; path message" for an error message a person or a model can act on. */
export function formatProblems(problems: readonly SchemaProblem[]): string {
  return problems.map((p) => `${p.path} ${p.message}`).join('; ');
}
