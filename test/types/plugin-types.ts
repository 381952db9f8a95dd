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
