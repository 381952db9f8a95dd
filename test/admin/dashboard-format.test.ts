/** The dashboard's text for a version proving itself: hostile fields stay bounded text. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promotion } from '../../src/admin/dashboard/format.js';
import type { PluginStatus } from '../../src/admin/dashboard/wire.js';

const base: PluginStatus = {
  name: 'calc',
  version: '1.0.0',
  buildId: 'b',
  state: 'reloading',
  isolation: 'worker',
  generation: 3,
  inFlight: 0,
  stats: { calls: 0, errors: 0, reloads: 0, rollbacks: 0, crashes: 0 },
};

test('a canary, a shadow and a probation trial each read in one line; none reads empty', () => {
  assert.equal(promotion(base), '');
  assert.equal(promotion({ ...base, trial: null, canary: null, shadow: null }), '');
  assert.equal(
    promotion({
      ...base,
      canary: {
        weight: 0.1,
        version: '1.1.0',
        minCalls: 100,
        trial: { calls: 42 },
        decision: 'undecided',
      },
    }),
    'canary 10.0 % → 1.1.0: 42/100 calls',
  );
  assert.equal(
    promotion({
      ...base,
      shadow: { version: '1.1.0', shadow: { calls: 100, mirrored: 7, matched: 6, differing: 1 } },
    }),
    'shadow → 1.1.0: 7/100 mirrored, 1 differ',
  );
  assert.equal(
    promotion({
      ...base,
      state: 'probation',
      trial: { version: '1.1.0', trial: { calls: 60, errorRate: 0.05 }, decision: 'healthy' },
    }),
    'on trial: 60 calls, 5.0 % errors, healthy',
  );
});

test("a plugin's hostile version text is clipped, and non-numbers show as unknown", () => {
  const text = promotion({
    ...base,
    canary: { weight: 'x' as unknown as number, version: 'v'.repeat(10_000), minCalls: Number.NaN },
  });
  assert.ok(text.length < 120, text);
  assert.match(text, /^canary – → v+…: 0\/\? calls$/);
});
