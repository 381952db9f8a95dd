/**
 * G8, bounded broadcast: the event stream (`GET /v1/events`) over a real HTTP server. A
 * subscriber that never reads, or is gone, costs the host a bounded amount and never slows it;
 * a healthy one gets every event in order; a reconnecting one gets back what the log holds.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, type TestContext, test } from 'node:test';
import type { EventSourceMessage } from 'eventsource-parser';
import { EventLog } from '../../src/admin/event-log.js';
import { EventStream, type EventStreamOptions } from '../../src/admin/event-stream.js';
import { serve } from '../../src/cli/serve.js';
import { EventBus } from '../../src/events/bus.js';
import { createHost, type Host, type HostEvents } from '../../src/index.js';
import { cleanArtifacts, sha256, versionPlugin, writeArtifact } from '../helpers/artifact.js';
import { molt } from '../helpers/cli.js';
import { ManualClock } from '../helpers/clock.js';
import { withCode } from '../helpers/faults-plugins.js';
import { gatedVersions } from '../helpers/gate.js';
import { tempDir } from '../helpers/project.js';
import { type SseClient, sseConnect, stalledConnect } from '../helpers/sse.js';

after(cleanArtifacts);

interface Served {
  url: string;
  port: number;
  /** One entry per request served: its response and when it closed. */
  responses: { res: ServerResponse; closed: Promise<void> }[];
  /** Resolves once `n` requests have been handed to the stream. */
  served(n: number): Promise<void>;
}

/** A real HTTP server whose every request is the stream's, closed after the test. */
async function serveStream(t: TestContext, stream: EventStream): Promise<Served> {
  const responses: Served['responses'] = [];
  let waiters: { n: number; resolve: () => void }[] = [];
  const server = createServer((req, res) => {
    const closed = new Promise<void>((resolve) => res.on('close', resolve));
    responses.push({ res, closed });
    stream.serve(req, res);
    const ready = waiters.filter((w) => responses.length >= w.n);
    waiters = waiters.filter((w) => responses.length < w.n);
    for (const w of ready) w.resolve();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    stream.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/events`,
    port,
    responses,
    served: (n) =>
      responses.length >= n
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ n, resolve })),
  };
}

function bus(): EventBus<HostEvents> {
  return new EventBus<HostEvents>((err) => {
    throw err;
  });
}

/** Emits `plugin.unloaded` for each name: an event the tests can tell apart. */
function emitUnloaded(b: EventBus<HostEvents>, ...names: string[]): void {
  for (const name of names) b.emit('plugin.unloaded', { name });
}

const ids = (events: EventSourceMessage[]): number[] => events.map((e) => Number(e.id));
const named = (events: EventSourceMessage[]): string[] =>
  events.map((e) => (e.event === 'gap' ? `gap ${e.data}` : (JSON.parse(e.data).name as string)));
const upTo =
  (id: number) =>
  (events: EventSourceMessage[]): boolean =>
    events.some((e) => Number(e.id) >= id);

/** A plugin whose `spam` tool logs `n` lines of `size` characters: events in bulk. */
const chattySource = `export default { tools: {
  noop: { handler: () => 1 },
  spam: { handler: ({ n, size }, ctx) => {
    for (let i = 0; i < n; i++) ctx.log.info('line ' + i, { pad: 'x'.repeat(size) });
    return n;
  } },
} };`;

test('a healthy subscriber gets every event, in order, with increasing ids, while 5 reloads swap with 64 callers and held calls in flight', async (t) => {
  const host = await createHost({ probationMs: 0 });
  t.after(() => host.close());
  const RELOADS = 5;
  const { gates, dirs } = await gatedVersions('p', RELOADS + 1, 'events');
  t.after(() => {
    for (const g of gates) g.close();
  });
  // Default options: the flush runs on the system clock's timer, 20 ms after an event.
  const stream = new EventStream(host);
  const { url } = await serveStream(t, stream);
  const emitted: { event: string; data: string }[] = [];
  host.onAny((event, payload) => emitted.push({ event, data: JSON.stringify(payload) }));
  const client = await sseConnect(url);
  assert.equal(client.status, 200);
  assert.equal(client.headers['content-type'], 'text/event-stream');
  assert.equal(client.headers['cache-control'], 'no-cache');

  await host.load(dirs[0]!);
  let done = false;
  let calls = 0;
  const callers = Array.from({ length: 64 }, async () => {
    while (!done) {
      await host.call('p', 'version', {});
      calls++;
    }
  });
  const atSwap: number[] = [];
  host.on('reload.succeeded', (e) => atSwap.push(e.atSwap.inFlight));
  // An old generation retires once its held calls end, after its reload returned: the last
  // event of a reload, waited for so nothing is emitted after the stream's last id is read.
  let retired = 0;
  let allRetired!: () => void;
  const retirements = new Promise<void>((resolve) => {
    allRetired = resolve;
  });
  host.on('generation.retired', () => {
    if (++retired === RELOADS) allRetired();
  });
  for (let i = 1; i <= RELOADS; i++) {
    const held = Array.from({ length: 2 }, () => host.call('p', 'hold', {}));
    await gates[i - 1]!.entered(2);
    await host.reload('p', dirs[i]!);
    gates[i - 1]!.open();
    await Promise.all(held);
  }
  done = true;
  await Promise.all(callers);
  assert.ok(calls > 0);
  assert.ok(
    atSwap.every((n) => n >= 2),
    `calls in flight at each swap: ${atSwap.join(', ')}`,
  );
  await retirements;
  await client.until(upTo(stream.lastId));

  assert.equal(stream.lastId, emitted.length);
  assert.deepEqual(
    ids(client.events),
    emitted.map((_, i) => i + 1),
  );
  assert.deepEqual(
    client.events.map((e) => ({ event: e.event, data: e.data })),
    emitted,
  );
  const succeeded = client.events.filter((e) => e.event === 'reload.succeeded');
  assert.equal(succeeded.length, RELOADS + 1, 'the load and every reload');
  assert.equal(stream.dropped, 0);
  client.close();
});

/**
 * Calls `spam` until `stop()` holds (bounded in rounds), with 64 other calls each round: each
 * round waits for the healthy client to have every event, so only the stalled one falls behind.
 */
async function pumpUntil(
  host: Host,
  stream: EventStream,
  healthy: SseClient,
  stop: () => boolean,
): Promise<number> {
  for (let round = 1; round <= 60; round++) {
    const [spammed, ...others] = await Promise.all([
      host.call('chatty', 'spam', { n: 40, size: 15_000 }),
      ...Array.from({ length: 64 }, () => host.call('chatty', 'noop', {})),
    ]);
    assert.equal(spammed, 40);
    assert.deepEqual(others, Array(64).fill(1));
    await healthy.until(upTo(stream.lastId));
    // One more turn: the flush that found the overflow has run.
    await new Promise((resolve) => setImmediate(resolve));
    if (stop()) return round;
  }
  throw new Error('the stalled subscriber never overflowed in 60 rounds');
}

test('drop-oldest: a subscriber that never reads stays within its buffer, the host keeps serving, and it reads a gap for what it missed', async (t) => {
  const host = await createHost({ probationMs: 0 });
  t.after(() => host.close());
  await host.load(await writeArtifact({ name: 'chatty', source: chattySource }));
  const BUFFER = 60;
  const stream = new EventStream(host, { buffer: BUFFER, flushMs: 0 });
  const { url, port, served } = await serveStream(t, stream);
  const emitted: string[] = [];
  host.onAny((event) => emitted.push(event));
  const healthy = await sseConnect(url);
  const stalled = await stalledConnect(port, '/v1/events');
  await served(2);
  assert.equal(stream.subscribers, 2);

  // The stalled one's socket buffers take a few MB; then it waits, then it overflows.
  await pumpUntil(host, stream, healthy, () => stream.dropped > BUFFER);
  const [fast, slow] = stream.queues();
  assert.ok(fast && slow);
  assert.equal(fast.dropped, 0);
  assert.equal(fast.queued, 0);
  assert.equal(slow.waiting, true);
  assert.ok(slow.queued <= BUFFER, `the stalled queue holds ${slow.queued} > ${BUFFER}`);
  assert.ok(slow.chars <= stream.heldChars);
  assert.equal(slow.dropped, stream.dropped);
  // The log every queue lives in is bounded by count and characters.
  assert.ok(stream.heldChars <= 16 * 1024 * 1024);
  // Emits returned all along: the stream saw every event the host emitted.
  assert.equal(stream.lastId, emitted.length);

  const last = stream.lastId;
  stalled.resume();
  await stalled.until(upTo(last));
  const gaps = stalled.events.filter((e) => e.event === 'gap');
  assert.ok(gaps.length >= 1, 'the stalled subscriber is told what it missed');
  // What it got and what the gaps name cover every id once, in order.
  const covered: number[] = [];
  for (const e of stalled.events) {
    if (e.event === 'gap') {
      const gap = JSON.parse(e.data) as { dropped: number; from: number; to: number };
      assert.equal(gap.dropped, gap.to - gap.from + 1);
      assert.equal(Number(e.id), gap.to);
      for (let id = gap.from; id <= gap.to; id++) covered.push(id);
    } else covered.push(Number(e.id));
  }
  assert.deepEqual(
    covered.slice(0, last),
    Array.from({ length: last }, (_, i) => i + 1),
  );
  const missed = gaps.reduce((n, e) => n + (JSON.parse(e.data) as { dropped: number }).dropped, 0);
  assert.equal(missed, stream.dropped);
  // The healthy one got everything, no gap.
  assert.deepEqual(
    ids(healthy.events),
    Array.from({ length: last }, (_, i) => i + 1),
  );
  assert.deepEqual(
    healthy.events.map((e) => e.event),
    emitted.slice(0, last),
  );
});

test('disconnect: a subscriber that never reads is cut off when it overflows; the others keep theirs', async (t) => {
  const host = await createHost({ probationMs: 0 });
  t.after(() => host.close());
  await host.load(await writeArtifact({ name: 'chatty', source: chattySource }));
  const stream = new EventStream(host, { buffer: 60, policy: 'disconnect', flushMs: 0 });
  const { url, port, served, responses } = await serveStream(t, stream);
  const healthy = await sseConnect(url);
  const stalled = await stalledConnect(port, '/v1/events');
  await served(2);
  await pumpUntil(host, stream, healthy, () => stream.subscribers === 1);
  // Its response was destroyed on the server side…
  await responses[1]!.closed;
  assert.equal(responses[1]!.res.destroyed, true);
  assert.ok(stream.dropped > 0);
  // …and once it reads, it finds the connection closed.
  stalled.resume();
  await stalled.closed;
  assert.equal(stream.queues().length, 1);
  assert.equal(stream.queues()[0]?.dropped, 0);
  await healthy.until(upTo(stream.lastId));
  assert.deepEqual(
    ids(healthy.events),
    Array.from({ length: stream.lastId }, (_, i) => i + 1),
  );
});

test('Last-Event-ID (header or ?lastEventId=) replays what the log holds; past it, a gap comes first', async (t) => {
  const b = bus();
  const stream = new EventStream(b, { replay: 5, buffer: 10, flushMs: 0 });
  const { url } = await serveStream(t, stream);
  emitUnloaded(b, 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8');

  const fromHeader = await sseConnect(url, { 'last-event-id': '5' });
  await fromHeader.until(upTo(8));
  assert.deepEqual(ids(fromHeader.events), [6, 7, 8]);
  emitUnloaded(b, 'e9');
  await fromHeader.until(upTo(9));
  assert.deepEqual(named(fromHeader.events), ['e6', 'e7', 'e8', 'e9']);

  const fromQuery = await sseConnect(`${url}?lastEventId=6`);
  await fromQuery.until(upTo(9));
  assert.deepEqual(ids(fromQuery.events), [7, 8, 9]);

  // The header wins over the query (a browser's reconnect sends it with the first URL).
  const both = await sseConnect(`${url}?lastEventId=2`, { 'last-event-id': '7' });
  await both.until(upTo(9));
  assert.deepEqual(ids(both.events), [8, 9]);

  // Replay holds the newest 5 (5…9): 2, 3 and 4 are gone, and the gap says so first.
  const tooOld = await sseConnect(url, { 'last-event-id': '1' });
  await tooOld.until(upTo(9));
  assert.equal(tooOld.events[0]?.event, 'gap');
  assert.deepEqual(JSON.parse(tooOld.events[0]!.data), { dropped: 3, from: 2, to: 4 });
  assert.equal(tooOld.events[0]?.id, '4');
  assert.deepEqual(ids(tooOld.events.slice(1)), [5, 6, 7, 8, 9]);

  // An id past the newest is from an earlier run of the host: everything of this one is news.
  const earlierRun = await sseConnect(url, { 'last-event-id': '12345' });
  await earlierRun.until(upTo(9));
  assert.deepEqual(named(earlierRun.events), [
    'gap {"dropped":4,"from":1,"to":4}',
    'e5',
    'e6',
    'e7',
    'e8',
    'e9',
  ]);

  // Without an id, only what comes next.
  const live = await sseConnect(url);
  emitUnloaded(b, 'e10');
  await live.until(upTo(10));
  assert.deepEqual(named(live.events), ['e10']);
  // Being missed while away is not being dropped.
  assert.equal(stream.dropped, 0);

  for (const bad of ['abc', '-1', '1e3', '12345678901234567']) {
    const refused = await sseConnect(url, { 'last-event-id': bad });
    await refused.ended;
    assert.equal(refused.status, 400);
    assert.equal(JSON.parse(refused.body()).error.code, 'INVALID_REQUEST');
  }
  for (const c of [fromHeader, fromQuery, both, tooOld, earlierRun, live]) c.close();
});

test('TOO_MANY_SUBSCRIBERS: past maxSubscribers a subscriber gets 503; a client that leaves frees its place at once', async (t) => {
  const b = bus();
  const stream = new EventStream(b, { maxSubscribers: 2, flushMs: 0 });
  const { url, responses } = await serveStream(t, stream);
  const one = await sseConnect(url);
  const two = await sseConnect(url);
  assert.equal(stream.subscribers, 2);
  const three = await sseConnect(url);
  await three.ended;
  assert.equal(three.status, 503);
  assert.equal(three.headers['content-type'], 'application/json');
  const { error } = JSON.parse(three.body()) as { error: { code: string; message: string } };
  assert.equal(error.code, 'TOO_MANY_SUBSCRIBERS');
  assert.match(error.message, /2 subscribers/);

  one.close();
  await responses[0]!.closed;
  assert.equal(stream.subscribers, 1);
  const four = await sseConnect(url);
  assert.equal(four.status, 200);
  emitUnloaded(b, 'after');
  await four.until(upTo(1));
  await two.until(upTo(1));
  two.close();
  four.close();
});

test('in-process listeners still get every event synchronously, inside emit, with a stalled subscriber attached', async (t) => {
  const b = bus();
  const stream = new EventStream(b, { buffer: 10, flushMs: 0 });
  const { port, served } = await serveStream(t, stream);
  await stalledConnect(port, '/v1/events');
  await served(1);
  const seen: string[] = [];
  b.on('plugin.unloaded', (e) => seen.push(`on ${e.name}`));
  b.onAny((event) => seen.push(`any ${event}`));
  for (let i = 0; i < 5_000; i++) {
    emitUnloaded(b, `n${i}`);
    // Before emit returned, both listeners ran.
    assert.equal(seen.length, 2 * (i + 1));
  }
  assert.deepEqual(seen.slice(0, 2), ['any plugin.unloaded', 'on n0']);
  assert.equal(stream.lastId, 5_000);

  // The host's own listeners too: a reload.succeeded listener runs before reload() resolves.
  const host = await createHost({ probationMs: 0 });
  t.after(() => host.close());
  const hostStream = new EventStream(host, { flushMs: 0 });
  t.after(() => hostStream.close());
  const order: string[] = [];
  host.onAny((event) => {
    if (event === 'reload.succeeded') order.push('any');
  });
  host.on('reload.succeeded', () => order.push('on'));
  await host.load(await writeArtifact({ name: 'q', source: chattySource }));
  order.push('resolved');
  assert.deepEqual(order, ['any', 'on', 'resolved']);
  assert.ok(hostStream.lastId > 0);
});

test('a throwing every-event listener stops neither the others nor the stream', async (t) => {
  const errors: unknown[] = [];
  const b = new EventBus<HostEvents>((err) => errors.push(err));
  b.onAny(() => {
    throw new Error('broken');
  });
  const stream = new EventStream(b, { flushMs: 0 });
  const { url } = await serveStream(t, stream);
  const client = await sseConnect(url);
  const off = b.onAny(() => {
    throw new Error('broken too');
  });
  emitUnloaded(b, 'a');
  off();
  emitUnloaded(b, 'b');
  await client.until(upTo(2));
  assert.deepEqual(named(client.events), ['a', 'b']);
  assert.equal(errors.length, 3);
  client.close();
});

test('a flush to many subscribers yields to the host after every 256 KB it writes', async (t) => {
  const b = bus();
  const stream = new EventStream(b, { flushMs: 0 });
  const { url } = await serveStream(t, stream);
  const clients: SseClient[] = [];
  for (let i = 0; i < 8; i++) clients.push(await sseConnect(url));
  for (let i = 0; i < 3; i++) {
    b.emit('plugin.log', {
      name: 'p',
      generation: 1,
      level: 'info',
      msg: 'm',
      data: 'x'.repeat(30_000),
    });
  }
  // The stream's flush was queued by the first emit; this turn is queued right after it.
  await new Promise((resolve) => setImmediate(resolve));
  // 90 KB each: three subscribers fill the turn; the other five wait for the next one.
  assert.deepEqual(
    stream.queues().map((q) => q.queued),
    [0, 0, 0, 3, 3, 3, 3, 3],
  );
  await Promise.all(clients.map((c) => c.until(upTo(3))));
  for (const c of clients) c.close();
});

test('a heartbeat comment every 15 s keeps an idle stream alive (manual clock)', async (t) => {
  const clock = new ManualClock();
  const b = bus();
  const stream = new EventStream(b, { clock, flushMs: 0 });
  const { url } = await serveStream(t, stream);
  const client = await sseConnect(url);
  await clock.whenArmed(15_000);
  clock.advance(14_999);
  emitUnloaded(b, 'x');
  await client.until(upTo(1));
  assert.deepEqual(client.comments, []);
  clock.advance(1);
  await client.until(() => client.comments.length === 1);
  assert.deepEqual(client.comments, ['ping']);
  // Re-armed for the next one.
  await clock.fire(15_000);
  await client.until(() => client.comments.length === 2);
  client.close();
});

test('an event too large, or not JSON, is replaced by a marker; emit never throws', async (t) => {
  const b = bus();
  const stream = new EventStream(b, { flushMs: 0, maxEventChars: 4_096 });
  const { url } = await serveStream(t, stream);
  const client = await sseConnect(url);
  const log = (data: unknown): void =>
    b.emit('plugin.log', { name: 'p', generation: 3, level: 'info', msg: 'hello', data });
  log({ blob: 'y'.repeat(1_000_000) });
  // Short to estimate, long once escaped: the JSON's own length is checked too.
  log({ controls: '\u0001'.repeat(3_000) });
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  log(cycle);
  log({ big: 12345678901234567890n });
  await client.until(upTo(4));
  const data = client.events.map((e) => JSON.parse(e.data) as Record<string, unknown>);
  const kept = { name: 'p', generation: 3, level: 'info', msg: 'hello' };
  assert.deepEqual(data[0], { ...kept, truncated: 'too large' });
  const { size, ...rest } = data[1] as { size: number };
  assert.deepEqual(rest, { ...kept, truncated: 'too large' });
  assert.ok(size > 18_000, `size ${size}`);
  assert.deepEqual(data[2], { ...kept, truncated: 'unserializable' });
  assert.deepEqual(data[3], { ...kept, data: { big: '12345678901234567890' } });
  assert.ok(client.events.every((e) => e.event === 'plugin.log'));
  client.close();
});

test('close() ends every stream, cuts a stalled one, stops listening, and refuses new subscribers', async (t) => {
  const b = bus();
  const stream = new EventStream(b, { flushMs: 0 });
  const { url, port, served, responses } = await serveStream(t, stream);
  const client = await sseConnect(url);
  await stalledConnect(port, '/v1/events');
  await served(2);
  emitUnloaded(b, 'before');
  await client.until(upTo(1));
  stream.close();
  await client.ended;
  await Promise.all(responses.map((r) => r.closed));
  assert.equal(stream.subscribers, 0);
  emitUnloaded(b, 'after');
  assert.equal(stream.lastId, 1);
  const late = await sseConnect(url);
  await late.ended;
  assert.equal(late.status, 503);
  assert.equal(JSON.parse(late.body()).error.code, 'HOST_CLOSED');
  stream.close();
});

test('options out of range are OPTIONS_INVALID', () => {
  const b = bus();
  for (const options of [
    { buffer: 0 },
    { buffer: 1.5 },
    { replay: -1 },
    { maxSubscribers: 0 },
    { policy: 'slow-down' },
    { maxEventChars: 10 },
    { maxEventChars: 1_000_000, maxChars: 100_000 },
    { heartbeatMs: -5 },
  ] as EventStreamOptions[]) {
    assert.throws(() => new EventStream(b, options), withCode('OPTIONS_INVALID'));
  }
});

test('the log evicts its oldest frames past its count or its characters, and sizes any tail', () => {
  const log = new EventLog(3, 25);
  for (const frame of ['aaaaa', 'bbbbb', 'ccccc', 'ddddd']) log.append(frame);
  assert.deepEqual([log.first, log.last, log.chars], [2, 4, 15]);
  assert.equal(log.frame(2), 'bbbbb');
  assert.equal(log.charsFrom(3), 10);
  assert.equal(log.charsFrom(5), 0);
  log.append('e'.repeat(20));
  // 5 + 5 + 20 > 25: the oldest go until it fits; the newest always stays.
  assert.deepEqual([log.first, log.last, log.chars], [4, 5, 25]);
  log.append('f'.repeat(30));
  assert.deepEqual([log.first, log.last, log.chars], [6, 6, 30]);
});

test('molt serve: GET /v1/events on the admin API, behind its token, is the stream --event-buffer and --event-overflow shape; a bad flag is refused before anything starts', async (t) => {
  const root = await tempDir('events-serve');
  t.after(() => rm(root, { recursive: true, force: true }));
  const plugins = join(root, 'plugins');
  await mkdir(join(plugins, 'p'), { recursive: true });
  const source = versionPlugin('v1');
  await writeFile(join(plugins, 'p', 'index.mjs'), source);
  await writeFile(
    join(plugins, 'p', 'molt.json'),
    JSON.stringify({ name: 'p', version: '1.0.0', entry: 'index.mjs', buildId: sha256(source) }),
  );

  for (const [flag, value, message] of [
    ['--event-buffer', '0', /--event-buffer: buffer must be an integer/],
    ['--event-overflow', 'slow-down', /--event-overflow: policy must be/],
  ] as const) {
    const data = join(root, `bad${flag}`);
    const refused = await molt(['serve', plugins, '--data', data, flag, value]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /OPTIONS_INVALID/);
    assert.match(refused.stderr, message);
    // Refused before the data folder was made, locked or loaded into.
    await assert.rejects(readdir(data), { code: 'ENOENT' });
  }

  const running = await serve(plugins, {
    data: join(root, 'data'),
    stable: '0',
    eventBuffer: '2',
    eventOverflow: 'disconnect',
  });
  t.after(() => running.stop());
  // The stream listened from before the first load: replaying from 0 gets the load's events.
  assert.ok(running.events.lastId > 0);
  // Through the admin API, behind its token.
  const url = `${running.admin.url}/v1/events`;
  const anonymous = await sseConnect(url);
  await anonymous.ended;
  assert.equal(anonymous.status, 401);
  const client = await sseConnect(url, {
    'last-event-id': '0',
    authorization: `Bearer ${running.admin.endpoint.token}`,
  });
  assert.equal(client.status, 200);
  await client.until(upTo(running.events.lastId));
  // The buffer of 2 bounds what a subscriber can get back too: a gap names the rest.
  assert.equal(client.events[0]?.event, 'gap');
  assert.deepEqual(ids(client.events.slice(1)), [running.events.lastId - 1, running.events.lastId]);
  client.close();
});
