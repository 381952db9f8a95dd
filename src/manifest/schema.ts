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
    version: { type: 'string', format: 'semver' },
    description: { type: 'string' },
    entry: { type: 'string', format: 'relative-path' },
    buildId: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    hostApi: { type: 'string', format: 'semver-range' },
    provides: {
      type: 'object',
      propertyNames: { pattern: '^[a-z0-9][a-z0-9._-]*$' },
      additionalProperties: { type: 'string', format: 'semver' },
    },
    requires: {
      type: 'object',
      propertyNames: { pattern: '^[a-z0-9][a-z0-9._-]*$' },
      additionalProperties: { type: 'string', format: 'semver-range' },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        memoryMb: { type: 'integer', minimum: 16, maximum: 65536 },
        youngGenerationMb: { type: 'integer', minimum: 1, maximum: 4096 },
        stackMb: { type: 'integer', minimum: 1, maximum: 256 },
        callTimeoutMs: { type: 'integer', minimum: 1 },
        initTimeoutMs: { type: 'integer', minimum: 1 },
        drainTimeoutMs: { type: 'integer', minimum: 0 },
        maxQueuedCalls: { type: 'integer', minimum: 0 },
      },
    },
    permissions: { type: 'object' },
    isolation: { enum: ['worker', 'process'] },
    config: {},
    configSchema: { type: 'object' },
  },
} as const;
