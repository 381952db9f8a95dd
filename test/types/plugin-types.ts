/**
 * Compile-time tests of the author SDK: `npm test` builds this file, so each
 * `@ts-expect-error` whose line stops being an error fails the build.
 */
import { definePlugin } from '../../src/plugin/index.js';

export const good = definePlugin({
  tools: {
    add: {
      description: 'adds',
      inputSchema: { type: 'object' },
      handler: (args: { a: number; b: number }, ctx) => {
        ctx.progress(1, 1);
        ctx.signal.throwIfAborted();
        return args.a + args.b;
      },
    },
  },
});

export const stateful = definePlugin({
  tools: {},
  snapshot: () => ({ n: 1 }),
  restore: (s: { n: number }) => {
    void s.n;
  },
  stateVersion: 2,
  migrate: (_from: number, s: unknown) => s as { n: number },
});

// @ts-expect-error a plugin needs a tools object
export const noTools = definePlugin({});

// @ts-expect-error a tool needs a handler
export const noHandler = definePlugin({ tools: { x: { description: 'no handler' } } });

// @ts-expect-error the handler's ctx has no such member
export const badCtx = definePlugin({ tools: { x: { handler: (_a: unknown, ctx) => ctx.nope } } });

const wrongVersion = { tools: {}, snapshot: () => 1, restore: () => {}, stateVersion: '2' };
// @ts-expect-error stateVersion must be a number
export const badVersion = definePlugin(wrongVersion);

// @ts-expect-error migrate without snapshot/restore is not a stateful plugin
export const migrateOnly = definePlugin({ tools: {}, migrate: (_f: number, s: unknown) => s });

// The state's type comes from its stateSchema: restore and snapshot are checked against it.
export const typed = definePlugin({
  tools: {},
  stateVersion: 2,
  stateSchema: {
    type: 'object',
    properties: {
      notes: { type: 'array', items: { type: 'string' } },
      next: { type: 'integer' },
      mode: { enum: ['a', 'b'] },
    },
    required: ['notes', 'next'],
    additionalProperties: false,
  },
  snapshot: () => ({ notes: ['x'], next: 1 }),
  restore: (s) => {
    const notes: string[] = s.notes;
    const next: number = s.next;
    const mode: 'a' | 'b' | undefined = s.mode;
    void [notes, next, mode];
    // @ts-expect-error notes holds strings, not numbers
    const wrong: number[] = s.notes;
    void wrong;
  },
  downgrade: (_to, s) => ({ count: s.next }),
});

const badSnapshot = {
  tools: {},
  stateSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
  snapshot: () => ({ n: 'one' }),
  restore: () => {},
} as const;
// @ts-expect-error the snapshot must match the stateSchema
export const typedBadSnapshot = definePlugin(badSnapshot);

// A type parameter works as before, without a schema.
export const byParameter = definePlugin<{ n: number }>({
  tools: {},
  snapshot: () => ({ n: 1 }),
  restore: (s) => void s.n,
});

export const serving = definePlugin({
  tools: {},
  resources: {
    'notes://all': {
      read: (_uri, ctx) => {
        ctx.resourceUpdated('notes://all');
        return 'text';
      },
    },
    'notes://note/{id}': {
      mimeType: 'application/json',
      read: (uri, _ctx, vars) => ({ contents: [{ uri, text: vars.id ?? '' }] }),
      complete: { id: (value) => [value] },
    },
    'notes://logo': { read: async () => ({ blob: 'AA==', mimeType: 'image/png' }) },
    // @ts-expect-error read must return text, a blob or contents
    'notes://bad': { read: () => 42 },
  },
  prompts: {
    summarize: {
      arguments: [{ name: 'tag', required: false }],
      get: ({ tag }) => `summarize ${tag}`,
      complete: { tag: async () => ['todo'] },
    },
    // @ts-expect-error a message's role is user or assistant
    bad: { get: () => ({ messages: [{ role: 'system', content: { type: 'text', text: '' } }] }) },
  },
});
