/** OptionsReader: every refusal is OPTIONS_INVALID naming the option, with a bounded value. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMoltError } from '../../src/errors/errors.js';
import { OptionsReader } from '../../src/util/options.js';

const KEYS = ['weight', 'tries', 'mode'];
const read = (value: unknown) => new OptionsReader('demo', value, KEYS, '{ "weight": 0.5 }');

/** The refusal `run` throws: its message and details. */
function refusal(run: () => unknown): { message: string; details: Record<string, unknown> } {
  try {
    run();
  } catch (err) {
    assert.ok(isMoltError(err, 'OPTIONS_INVALID'), String(err));
    return { message: err.message, details: err.details as Record<string, unknown> };
  }
  assert.fail('nothing was refused');
}

test('the object and its keys: anything but an object, or an unknown key, is refused by name', () => {
  for (const value of [null, 3, 'x', [1], undefined])
    assert.deepEqual(refusal(() => read(value)).details.option, 'demo');
  assert.equal(
    refusal(() => read([1])).message,
    'demo must be an object such as { "weight": 0.5 }',
  );
  const unknown = refusal(() => read({ weight: 0.5, nope: 1 }));
  assert.equal(unknown.message, 'demo.nope is not an option; there are weight, tries, mode');
  assert.deepEqual(unknown.details, { option: 'demo.nope', value: 1 });
});

test('numbers, whole numbers and choices: absent is undefined, wrong is refused with its rule', () => {
  const o = read({ weight: 0.25, tries: 3, mode: 'fast' });
  assert.equal(
    o.number('weight', (n) => n > 0 && n < 1, 'over 0 and under 1'),
    0.25,
  );
  assert.equal(o.integer('tries', 1, 10), 3);
  assert.equal(o.oneOf('mode', ['fast', 'slow']), 'fast');
  const empty = read({});
  assert.equal(
    empty.number('weight', () => true, 'any'),
    undefined,
  );
  assert.equal(empty.integer('tries', 1, 10), undefined);
  assert.equal(empty.oneOf('mode', ['fast']), undefined);
  assert.throws(() => empty.missing('weight', 'a number, e.g. 0.5'), {
    code: 'OPTIONS_INVALID',
    message: 'demo.weight is required: a number, e.g. 0.5',
  });

  for (const weight of [0, 1, Number.NaN, Number.POSITIVE_INFINITY, '0.5', true])
    assert.equal(
      refusal(() => read({ weight }).number('weight', (n) => n > 0 && n < 1, 'over 0 and under 1'))
        .message,
      'demo.weight must be over 0 and under 1',
    );
  for (const tries of [0, 11, 2.5, 2 ** 60, '3'])
    assert.equal(
      refusal(() => read({ tries }).integer('tries', 1, 10)).message,
      'demo.tries must be a whole number from 1 to 10',
    );
  assert.equal(
    refusal(() => read({ mode: 'FAST' }).oneOf('mode', ['fast', 'slow'])).message,
    "demo.mode must be one of 'fast', 'slow'",
  );
});

test('a hostile value is never echoed whole: long strings are cut, objects named by type', () => {
  const long = refusal(() => read({ mode: 'x'.repeat(1_000_000) }).oneOf('mode', ['fast']));
  assert.ok(String(long.details.value).length <= 100);
  assert.ok(long.message.length < 200);
  assert.equal(
    refusal(() => read({ mode: { deep: 'x' } }).oneOf('mode', ['fast'])).details.value,
    'object',
  );
  const key = refusal(() => read({ ['k'.repeat(100_000)]: 1 }));
  assert.ok(key.message.length < 200, `${key.message.length} characters`);
});
