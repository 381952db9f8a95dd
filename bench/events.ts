/**
 * (g) The event stream's cost, and G8: 64 callers on a no-op tool while the plugin reloads
 * every 100 ms and a second plugin logs 500 lines a second, with no stream, with the stream
 * and 0 / 10 / 100 subscribers that keep up, and with one subscriber that never reads plus one
 * that reads 1 KB every 100 ms. Rows alternate in rounds, so a drift in the machine's load lands
 * on every row alike. The subscribers are real SSE clients over loopback HTTP, in a child
 * process (event-clients.ts): on this machine they share its cores with the host, not its
 * event loop.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { EventStream } from '../src/admin/event-stream.js';
import { createHost, type Host } from '../src/index.js';
import { pluginPair, writeArtifact } from './artifacts.js';
import { reloadEvery } from './churn.js';
import { type DriveResult, drive, Tally } from './drive.js';
import type { ClientCommand, ClientReport } from './event-clients.js';
import { check, heading, note, num, ratio, table } from './report.js';
import { settleGc, sleep } from './stats.js';

const env = process.env;
const ROUNDS = Number(env.MOLT_BENCH_EVENTS_ROUNDS ?? 8);
/** Each row's window per round: 8 rounds × 625 ms = 5 s a row. */
const WINDOW_MS = Number(env.MOLT_BENCH_EVENTS_WINDOW_MS ?? 625);
const WINDOW = { concurrency: 64, maxCalls: 5_000_000, maxMs: WINDOW_MS };
const RELOAD_EVERY_MS = 100;
/** The chatter plugin's log lines: LINES every TICK_MS, each with DATA characters of data. */
const TICK_MS = 10;
const LINES = 5;
const DATA = 200;

const CHATTER = `export default { tools: {
  say: { handler: ({ lines, bytes }, ctx) => {
    const pad = 'x'.repeat(bytes);
    for (let i = 0; i < lines; i++) ctx.log.info('tick', { i, pad });
    return lines;
  } },
} };`;

interface Row {
  label: string;
  stream: boolean;
  readers: number;
  stall: boolean;
  tally: Tally;
  rssMaxKB: number;
  events: number;
  dropped: number;
  /** The verifying subscriber's view (summed over rounds). */
  verified: { events: number; gaps: number; inOrder: boolean; complete: boolean };
  /** The slow subscriber's, after it read the rest at full speed. */
  slow: { gaps: number; dropped: number; complete: boolean };
  heldCharsMax: number;
  /** CPU ms of the host process, and of the clients' process, over the windows. */
  hostCpuMs: number;
  clientsCpuMs: number;
}

export interface EventsRow {
  label: string;
  callsPerSec: number;
  p50Us: number;
  p99Us: number;
  rssMaxMB: number;
  hostCpuMsPerSec: number;
  clientsCpuMsPerSec: number;
  events: number;
  dropped: number;
  verifiedInOrder: boolean;
  slowGaps: number;
}

export interface EventsResult {
  rows: EventsRow[];
  reloads: number;
  reloadErrors: number;
}

const newRow = (label: string, stream: boolean, readers: number, stall: boolean): Row => ({
  label,
  stream,
  readers,
  stall,
  tally: new Tally(),
  rssMaxKB: 0,
  events: 0,
  dropped: 0,
  verified: { events: 0, gaps: 0, inOrder: true, complete: true },
  slow: { gaps: 0, dropped: 0, complete: true },
  heldCharsMax: 0,
  hostCpuMs: 0,
  clientsCpuMs: 0,
});

/** Calls `say` every TICK_MS (one call at a time) until stopped. */
function chatter(host: Host): () => Promise<void> {
  let running = true;
  const done = (async () => {
    for (let next = performance.now(); running; ) {
      next += TICK_MS;
      await host.call('chatter', 'say', { lines: LINES, bytes: DATA }).catch(() => {});
      await sleep(Math.max(0, next - performance.now()));
    }
  })();
  return async () => {
    running = false;
    await done;
  };
}

/** The highest RSS seen every 50 ms until stopped. */
function rssSampler(): () => number {
  let max = process.memoryUsage.rss();
  const timer = setInterval(() => {
    max = Math.max(max, process.memoryUsage.rss());
  }, 50);
  return () => {
    clearInterval(timer);
    return Math.max(max, process.memoryUsage.rss());
  };
}

/**
 * Fills the stalled and slow subscribers' socket buffers and half their queues before the
 * window, so every event in it meets a full buffer: the worst case, not the first seconds.
 */
async function prefill(host: Host, stream: EventStream): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const queues = stream.queues();
    const behind = queues.filter((q) => q.waiting && q.queued >= 500);
    if (behind.length >= 2) return;
    await host.call('chatter', 'say', { lines: 100, bytes: 8_000 });
    await sleep(20);
  }
}

/** The subscribers' process: one command at a time, answered in order. */
class Clients {
  readonly #child: ChildProcess;
  #pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];

  constructor() {
    this.#child = fork(fileURLToPath(new URL('./event-clients.js', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (m: { ok: boolean; answer?: unknown; error?: string }) => {
      const p = this.#pending.shift();
      if (m.ok) p?.resolve(m.answer);
      else p?.reject(new Error(m.error));
    });
    this.#child.on('exit', () => {
      for (const p of this.#pending.splice(0)) p.reject(new Error('the clients process exited'));
    });
  }

  send<T>(command: ClientCommand): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ resolve: resolve as (v: unknown) => void, reject });
      this.#child.send(command);
    });
  }

  close(): void {
    this.#child.disconnect();
  }
}

async function window(
  host: Host,
  row: Row,
  port: number,
  clients: Clients,
  setStream: (s: EventStream | undefined) => void,
  count: { reloads: number; errors: number },
  dirs: [string, string],
): Promise<void> {
  await settleGc();
  const stream = row.stream ? new EventStream(host) : undefined;
  setStream(stream);
  const subscribed = row.readers > 0 || row.stall;
  try {
    if (stream !== undefined && subscribed) {
      await clients.send({ cmd: 'connect', port, readers: row.readers, stall: row.stall });
      if (row.stall) await prefill(host, stream);
      // The window starts with the verifier caught up (the prefill is not its to pay for).
      await clients.send({ cmd: 'catchUp', lastId: stream.lastId });
      // …nor the garbage of the prefill's burst to collect.
      if (row.stall) await settleGc();
    }
    const droppedBefore = stream?.dropped ?? 0;
    const firstId = stream?.lastId ?? 0;
    const rss = rssSampler();
    const cpu = process.cpuUsage();
    let held = 0;
    const heldTimer = setInterval(() => {
      held = Math.max(held, stream?.heldChars ?? 0);
    }, 50);
    const reloader = reloadEvery(host, 'evbench', dirs, RELOAD_EVERY_MS, count, WINDOW_MS + 1_000);
    await drive(() => host.call('evbench', 'noop'), WINDOW, row.tally);
    const used = process.cpuUsage(cpu);
    row.hostCpuMs += (used.user + used.system) / 1000;
    await reloader.stop();
    clearInterval(heldTimer);
    row.rssMaxKB = Math.max(row.rssMaxKB, Math.round(rss() / 1024));
    row.heldCharsMax = Math.max(row.heldCharsMax, held);
    if (stream === undefined) return;
    const last = stream.lastId;
    row.events += last - firstId;
    row.dropped += stream.dropped - droppedBefore;
    if (!subscribed) return;
    const { verifier, slow, cpuMs } = await clients.send<ClientReport>({
      cmd: 'finish',
      lastId: last,
    });
    row.clientsCpuMs += cpuMs;
    if (verifier !== undefined) {
      row.verified.events += verifier.events;
      row.verified.gaps += verifier.gaps;
      row.verified.inOrder &&= verifier.inOrder && verifier.gaps === 0;
      row.verified.complete &&= verifier.lastId >= last;
    }
    if (slow !== undefined) {
      row.slow.gaps += slow.gaps;
      row.slow.dropped += slow.dropped;
      row.slow.complete &&= slow.lastId >= last && slow.inOrder;
    }
  } finally {
    stream?.close();
    setStream(undefined);
  }
}

export async function benchEvents(): Promise<EventsResult> {
  heading(
    `(g) event stream: 64 in flight, reload every ${RELOAD_EVERY_MS} ms, ${(LINES * 1000) / TICK_MS} log lines/s; ${ROUNDS} rounds of ${WINDOW_MS} ms per row, interleaved (subscribers: loopback SSE clients in a child process)`,
  );
  const host = await createHost();
  const dirs = await pluginPair('evbench');
  const chatterDir = await writeArtifact('chatter', '1.0.0', CHATTER);
  let current: EventStream | undefined;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (current === undefined) {
      res.writeHead(404).end();
      return;
    }
    current.serve(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const rows = [
    newRow('no stream', false, 0, false),
    newRow('0 subscribers', true, 0, false),
    newRow('10 subscribers', true, 10, false),
    newRow('100 subscribers', true, 100, false),
    newRow('1 stalled + 1 slow (+1 verifier)', true, 1, true),
  ];
  const count = { reloads: 0, errors: 0 };
  const clients = new Clients();
  const stopChatter = chatter(host);
  try {
    await host.load(dirs[0]);
    await host.load(chatterDir);
    await drive(() => host.call('evbench', 'noop'), {
      concurrency: 64,
      maxCalls: 200_000,
      maxMs: 1_500,
    });
    for (let round = 0; round < ROUNDS; round++) {
      // Rotated each round, so no row always follows the heaviest one.
      const order = rows.map((_, i) => rows[(i + round) % rows.length] as Row);
      for (const row of order) {
        await window(host, row, port, clients, (s) => (current = s), count, dirs);
      }
    }
  } finally {
    await stopChatter();
    clients.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await host.close();
  }
  return report(rows, count);
}

function report(rows: Row[], count: { reloads: number; errors: number }): EventsResult {
  const results = rows.map((r) => ({ row: r, result: r.tally.result() }));
  const base = results[1] as { row: Row; result: DriveResult };
  table(
    [
      'subscribers',
      'calls/s',
      'vs 0 subs',
      'p50 (µs)',
      'p99 (µs)',
      'vs 0 subs',
      'host CPU (ms/s)',
      'clients CPU (ms/s)',
      'RSS max (MB)',
      'log max (MB)',
      'events',
      'dropped',
      'verifier',
    ],
    results.map(({ row, result }) => [
      row.label,
      num(result.callsPerSec, 0),
      ratio(result.callsPerSec, base.result.callsPerSec),
      num(result.latency.p50, 0),
      num(result.latency.p99, 0),
      ratio(result.latency.p99, base.result.latency.p99),
      num((row.hostCpuMs * 1000) / result.elapsedMs, 0),
      row.readers === 0 ? '-' : num((row.clientsCpuMs * 1000) / result.elapsedMs, 0),
      num(row.rssMaxKB / 1024, 1),
      row.stream ? num(row.heldCharsMax / (1024 * 1024), 1) : '-',
      row.stream ? String(row.events) : '-',
      row.stream ? String(row.dropped) : '-',
      row.readers === 0
        ? '-'
        : `${row.verified.events}${row.verified.inOrder && row.verified.complete ? ' in order' : ' NOT IN ORDER'}`,
    ]),
  );
  const stall = rows[4] as Row;
  const stallResult = results[4]?.result as DriveResult;
  const errors = results.reduce((n, { result }) => n + result.errors, 0);
  note(
    `reloads: ${count.reloads}, reload errors: ${count.errors}, call errors: ${errors}; the slow subscriber read ${stall.slow.gaps} gap event(s) naming ${stall.slow.dropped} dropped event(s)${stall.slow.complete ? '' : ' (it did not catch up)'}`,
  );
  note(
    "the stall row starts with both clients' socket buffers full (a burst of 8 KB log lines before the window): every event in it meets a full buffer",
  );
  console.log();
  const cps = stallResult.callsPerSec / base.result.callsPerSec;
  const p99 = stallResult.latency.p99 / base.result.latency.p99;
  table(
    ['target', 'value', 'goal', 'verdict'],
    [
      [
        'G8 calls/s, 1 stalled + 1 slow / 0 subscribers',
        `${num(cps, 2)}x`,
        '>= 0.9x',
        check(
          'G8: calls/s with a stalled and a slow subscriber >= 0.9x',
          `${num(cps, 2)}x`,
          cps >= 0.9,
        ),
      ],
      [
        'G8 p99, 1 stalled + 1 slow / 0 subscribers',
        `${num(p99, 2)}x`,
        '<= 1.1x',
        check(
          'G8: p99 with a stalled and a slow subscriber <= 1.1x',
          `${num(p99, 2)}x`,
          p99 <= 1.1,
        ),
      ],
      [
        'G8 slow subscriber told of its drops',
        `${stall.slow.gaps} gap(s)`,
        '>= 1',
        check(
          'G8: the slow subscriber gets gap events',
          String(stall.slow.gaps),
          stall.slow.gaps >= 1,
        ),
      ],
      [
        'G8 healthy subscriber: every event in order',
        stall.verified.inOrder && stall.verified.complete ? 'yes' : 'no',
        'yes',
        check(
          'G8: the healthy subscriber gets every event in order',
          String(stall.verified.inOrder && stall.verified.complete),
          stall.verified.inOrder && stall.verified.complete,
        ),
      ],
    ],
  );
  return {
    rows: results.map(({ row, result }) => ({
      label: row.label,
      callsPerSec: result.callsPerSec,
      p50Us: result.latency.p50,
      p99Us: result.latency.p99,
      rssMaxMB: row.rssMaxKB / 1024,
      hostCpuMsPerSec: (row.hostCpuMs * 1000) / result.elapsedMs,
      clientsCpuMsPerSec: (row.clientsCpuMs * 1000) / result.elapsedMs,
      events: row.events,
      dropped: row.dropped,
      verifiedInOrder: row.verified.inOrder && row.verified.complete,
      slowGaps: row.slow.gaps,
    })),
    reloads: count.reloads,
    reloadErrors: count.errors,
  };
}
