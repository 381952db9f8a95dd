/**
 * The front door's in-process event bus keeps the SDK's `InMemoryServerEventBus` contract: an
 * event reaches every listener in the same turn, a listener that throws is reported and keeps it
 * from nobody, and unsubscribing (twice, or during delivery) is safe.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inProcessBus, type ServerEvent } from '../../src/mcp/event-bus.js';

test('the in-process bus: same-turn delivery, a throwing listener isolated and reported, unsubscribe idempotent', () => {
  const errors: Error[] = [];
  const bus = inProcessBus((err) => errors.push(err));
  const seen: string[] = [];
  const offA = bus.subscribe((e) => seen.push(`a:${e.kind}`));
  bus.subscribe(() => {
    throw new Error('listener broke');
  });
  let offC = (): void => {};
  offC = bus.subscribe((e) => {
    seen.push(`c:${e.kind}`);
    offC();
  });

  const updated: ServerEvent = { kind: 'resource_updated', uri: 'notes://a' };
  bus.publish({ kind: 'tools_list_changed' });
  // Synchronous: everything is delivered before publish returns.
  assert.deepEqual(seen, ['a:tools_list_changed', 'c:tools_list_changed']);
  assert.deepEqual(
    errors.map((e) => e.message),
    ['listener broke'],
  );

  bus.publish(updated);
  assert.deepEqual(seen, ['a:tools_list_changed', 'c:tools_list_changed', 'a:resource_updated']);
  offA();
  offA();
  bus.publish({ kind: 'prompts_list_changed' });
  assert.equal(seen.length, 3);
  assert.equal(errors.length, 3);
});
