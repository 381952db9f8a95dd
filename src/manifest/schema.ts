import { LIMIT_RANGES } from './limits.js';

/** Paths a manifest may grant: absolute, or relative to the plugin's data folder. */
const pathList = {
  type: 'array',
  maxItems: 64,
  items: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^[^\\u0000,]*$' },
} as const;

/** A contract's name: what `provides`, `requires` and `ctx.call` use. */
const CONTRACT_NAME = '^[a-z0-9][a-z0-9._-]{0,127}$';
const semverString = { type: 'string', maxLength: 256, format: 'semver' } as const;
const rangeString = { type: 'string', maxLength: 256, format: 'semver-range' } as const;

/** JSON Schema of `molt.json`. Everything but name, version, entry and buildId is optional. */
export const manifestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'entry', 'buildId'],
  properties: {
    $schema: { type: 'string' },
    name: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9_-]{0,63}$',
      description: 'lowercase letters, digits, "-" and "_", at most 64 characters',
    },
    version: { type: 'string', maxLength: 256, format: 'semver' },
    description: { type: 'string', maxLength: 4096 },
    entry: { type: 'string', maxLength: 1024, format: 'relative-path' },
    buildId: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    hostApi: { type: 'string', maxLength: 256, format: 'semver-range' },
    provides: {
      type: 'object',
      maxProperties: 256,
      propertyNames: { pattern: CONTRACT_NAME },
      // if/then/else rather than anyOf: a mistake is reported once, in the form it was written.
      additionalProperties: {
        if: { type: 'string' },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else, not a thenable
        then: semverString,
        else: {
          type: 'object',
          additionalProperties: false,
          required: ['version'],
          properties: {
            version: semverString,
            tools: {
              type: 'array',
              maxItems: 1024,
              uniqueItems: true,
              items: { type: 'string', minLength: 1, maxLength: 128 },
            },
          },
        },
      },
    },
    requires: {
      type: 'object',
      maxProperties: 256,
      propertyNames: { pattern: CONTRACT_NAME },
      additionalProperties: {
        if: { type: 'string' },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else, not a thenable
        then: rangeString,
        else: {
          type: 'object',
          additionalProperties: false,
          required: ['range'],
          properties: { range: rangeString, optional: { type: 'boolean' } },
        },
      },
    },
    reloadWithDependencies: { type: 'boolean' },
    // A version's own regression rules: they only tighten the host's (runtime/promotion.ts).
    probation: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxErrorRate: { type: 'number', minimum: 0, maximum: 1 },
        maxErrorRateIncrease: { type: 'number', minimum: 0, maximum: 1 },
        maxP99Ratio: { type: 'number', minimum: 1, maximum: 1000 },
        minCalls: { type: 'integer', minimum: 1, maximum: 1000000 },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        Object.entries(LIMIT_RANGES).map(([key, [minimum, maximum]]) => [
          key,
          { type: 'integer', minimum, maximum },
        ]),
      ),
    },
    permissions: {
      type: 'object',
      additionalProperties: false,
      properties: {
        fs: {
          type: 'object',
          additionalProperties: false,
          properties: { read: pathList, write: pathList },
        },
        env: {
          type: 'array',
          maxItems: 256,
          uniqueItems: true,
          items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' },
        },
        childProcess: { type: 'boolean' },
        worker: { type: 'boolean' },
        addons: { type: 'boolean' },
        wasi: { type: 'boolean' },
        net: {
          anyOf: [
            { type: 'boolean' },
            { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 256 } },
          ],
        },
      },
    },
    isolation: { enum: ['worker', 'process'] },
    config: {},
    configSchema: { type: 'object' },
  },
} as const;
