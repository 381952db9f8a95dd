/** The dashboard's calls/s and error rate, from successive readings of cumulative counters. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateMeter } from '../../src/admin/dashboard/rates.js';

const none = { callsPerSec: undefined, errorRate: undefined };

test('rates are computed over a window of at least the poll interval, not between close readings', () => {
  const m = new RateMeter(1000);
  assert.deepEqual(m.observe('p', { at: 0, calls: 100, errors: 0 }), none);
  // An event-driven refresh 20 ms after the poll: two calls must not read as 100 calls/s.
  assert.deepEqual(m.observe('p', { at: 20, calls: 102, errors: 0 }), none);
  assert.deepEqual(m.observe('p', { at: 1000, calls: 150, errors: 5 }), {
    callsPerSec: 50,
    errorRate: 0.1,
  });
  // Within the next window the last rates stand.
  assert.deepEqual(m.observe('p', { at: 1500, calls: 400, errors: 5 }), {
    callsPerSec: 50,
    errorRate: 0.1,
  });
  // A window without calls: 0 calls/s and no error rate (not 0 %, not NaN).
  const quiet = new RateMeter(1000);
  quiet.observe('q', { at: 0, calls: 7, errors: 1 });
  assert.deepEqual(quiet.observe('q', { at: 2000, calls: 7, errors: 1 }), {
    callsPerSec: 0,
    errorRate: undefined,
  });
});

test('counters that go back (the plugin was loaded again) start over instead of going negative', () => {
  const m = new RateMeter(1000);
  m.observe('p', { at: 0, calls: 500, errors: 50 });
  assert.deepEqual(m.observe('p', { at: 1000, calls: 3, errors: 0 }), none);
  assert.deepEqual(m.observe('p', { at: 2000, calls: 13, errors: 1 }), {
    callsPerSec: 10,
    errorRate: 0.1,
  });
  m.forget('p');
  assert.deepEqual(m.observe('p', { at: 3000, calls: 20, errors: 1 }), none);
});
