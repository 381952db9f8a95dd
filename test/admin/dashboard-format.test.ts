/** The dashboard's text for a version proving itself and for its timeline: hostile fields stay bounded text. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promotion } from '../../src/admin/dashboard/format.js';
import { timelineEntry } from '../../src/admin/dashboard/timeline-entry.js';
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

test('the timeline says what each promotion did: started, promoted, aborted, by mode', () => {
  const to = { version: '1.1.0', buildId: 'abcdef0123456789' };
  const from = { version: '1.0.0', buildId: '0123456789abcdef' };
  const trial = { calls: 120, errors: 1, errorRate: 1 / 120, p99Ms: 3 };
  assert.deepEqual(
    timelineEntry('promotion.started', {
      name: 'calc',
      from,
      to,
      mode: 'canary',
      weight: 0.1,
      probationMs: 600_000,
    }),
    {
      title: 'canary 10.0 % started',
      detail: '1.0.0 (01234567) → 1.1.0 (abcdef01), for up to 600 s',
      kind: 'info',
    },
  );
  assert.deepEqual(
    timelineEntry('promotion.promoted', {
      name: 'calc',
      to,
      mode: 'probation',
      trial,
      early: true,
    }),
    {
      title: 'trial promoted',
      detail: '1.1.0 (abcdef01): 120 calls, 1 errors, promoted early',
      kind: 'good',
    },
  );
  assert.deepEqual(
    timelineEntry('promotion.aborted', {
      name: 'calc',
      to,
      mode: 'shadow',
      reason: 'mismatch',
      why: 'the candidate answered otherwise',
      trial,
      differences: [{ tool: 'add', args: '{}', kind: 'result', current: '"3"', candidate: '"4"' }],
    }),
    {
      title: 'shadow aborted',
      detail:
        '1.1.0 (abcdef01): mismatch (the candidate answered otherwise), 120 calls, 1 errors; add result: "3" ≠ "4"',
      kind: 'warn',
    },
  );
  // A hostile payload stays bounded text; nothing throws.
  const huge = 'x'.repeat(1_000_000);
  const hostile = timelineEntry('promotion.aborted', {
    to: { version: huge },
    reason: { toJSON: () => huge },
    why: huge,
    trial: 'not figures',
    differences: [null, 5],
  });
  assert.ok(hostile.detail.length < 1_000, `${hostile.detail.length} characters`);
  assert.equal(timelineEntry('promotion.started', null).title, 'trial started');
  assert.equal(timelineEntry(huge, {}).title.length, 64);
});
