import { LIMIT_RANGES } from './limits.js';

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
      propertyNames: { pattern: '^[a-z0-9][a-z0-9._-]{0,127}$' },
      additionalProperties: { type: 'string', maxLength: 256, format: 'semver' },
    },
    requires: {
      type: 'object',
      maxProperties: 256,
      propertyNames: { pattern: '^[a-z0-9][a-z0-9._-]{0,127}$' },
      additionalProperties: { type: 'string', maxLength: 256, format: 'semver-range' },
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
    permissions: { type: 'object' },
    isolation: { enum: ['worker', 'process'] },
    config: {},
    configSchema: { type: 'object' },
  },
} as const;
