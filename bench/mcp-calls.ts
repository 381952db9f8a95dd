/**
 * (k) MCP `tools/call` throughput, molt's front door beside the raw SDK, in one run. Four
 * servers, each a child process of its own (mcp-server.ts): the SDK 1.x as its README shows it
 * (the baseline), a second one just like it (the A/A control: how far two identical servers
 * drift on this machine), `molt serve` with a worker-sandboxed plugin, and the SDK set to answer
 * in JSON rather than SSE (molt answers a plain call in JSON: this row says what that alone
 * buys). This process drives each with SDK 1.x `Client`s over loopback, SESSIONS sessions ×
 * IN_FLIGHT calls in flight (closed loop), in rounds that rotate the order (A/B/A'/…), so a slow
 * stretch of the shared machine falls on all alike. A server's CPU over its windows comes from
 * `process.cpuUsage()` read inside it at each window's edges: every thread of its process,
 * molt's worker included.
 *
 * `MOLT_BENCH_MCP_OTHER=PATH` adds a fifth server: the molt of another build (PATH is its
 * compiled `bench/mcp-server.js`), to compare two versions of molt in one run.
 * `MOLT_BENCH_MCP_PROF=DIR` writes a `--cpu-prof` profile of each server's main thread into DIR
 * (`CPU.<date>.<time>.<pid>…`; the pids are printed).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Mark } from './mcp-server.js';
import { check, heading, note, num, ratio, table } from './report.js';
import { Samples, type Summary, sleep } from './stats.js';

const env = process.env;
const ROUNDS = Number(env.MOLT_BENCH_MCP_ROUNDS ?? 10);
const WINDOW_MS = Number(env.MOLT_BENCH_MCP_WINDOW_MS ?? 1_500);
const WARMUP_MS = Number(env.MOLT_BENCH_MCP_WARMUP_MS ?? 2_000);
const IDLE_MS = 1_000;
const SESSIONS = 20;
const IN_FLIGHT = 4;
/** Calls one window may start, whatever its length: the load stays bounded in count too. */
const MAX_CALLS = 200_000;
const START_MS = 30_000;
const CPU_TARGET = 1.1;
const RATE_TARGET = 0.9;
const SERVER = fileURLToPath(new URL('./mcp-server.js', import.meta.url));

export interface McpCallsRow {
  label: string;
  calls: number;
  errors: number;
  callsPerSec: number;
  /** Server CPU per call, µs: all threads of its process. */
  cpuUs: number;
  /** Of which on its main thread, µs (Linux only: NaN elsewhere). */
  mainUs: number;
  latency: Summary;
  maxRssKb: number;
  /** CPU of this process (the clients) per call, µs: the load's own cost, same for all. */
  clientUs: number;
  /** Server CPU with its sessions open and no calls, ms per second. */
  idleMsPerSec: number;
}

export interface McpCallsResult {
  rows: McpCallsRow[];
  /** molt over the raw SDK: CPU per call, and calls/s. */
  cpuRatio: number;
  rateRatio: number;
  /** The A/A control over the raw SDK, the same two figures. */
  controlCpuRatio: number;
  controlRateRatio: number;
  /** Medians over rounds of each round's CPU-per-call ratio: windows of one round are adjacent. */
  cpuRatioMedian: number;
  controlCpuRatioMedian: number;
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Each round's `s` over `base` (CPU per call), then their median. */
const roundRatio = (s: Subject, base: Subject): number =>
  median(s.perRound.map((v, i) => v / base.perRound[i]!));

/** CPU with every session open and nothing called: timers and streams, not calls. */
async function idle(s: Subject): Promise<void> {
  const before = await mark(s);
  const t0 = performance.now();
  await sleep(IDLE_MS);
  const after = await mark(s);
  s.idleMsPerSec = (after.cpuUs - before.cpuUs) / (performance.now() - t0);
}

interface Subject {
  label: string;
  kind: 'raw' | 'raw-json' | 'molt';
  tool: string;
  child: ChildProcess;
  clients: Client[];
  samples: Samples;
  calls: number;
  errors: number;
  firstError: string | undefined;
  ms: number;
  cpuUs: number;
  mainUs: number;
  maxRssKb: number;
  clientUs: number;
  /** Each measured window's CPU µs per call, in round order. */
  perRound: number[];
  /** CPU while idle (sessions open, no calls), ms per second. */
  idleMsPerSec: number;
  /** Marks asked for and not yet answered, in order. */
  marks: { resolve: (m: Mark) => void; reject: (err: Error) => void }[];
  /** The end of its stderr (molt's start-up lines, a crash), shown if it fails. */
  stderr: string;
}

async function start(label: string, kind: Subject['kind'], script = SERVER): Promise<Subject> {
  const prof = env.MOLT_BENCH_MCP_PROF;
  const child = fork(script, [kind], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    execArgv: prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`],
  });
  const subject: Subject = {
    label,
    kind,
    tool: kind === 'molt' ? 'calc__add' : 'add',
    child,
    clients: [],
    samples: new Samples(200_000),
    calls: 0,
    errors: 0,
    firstError: undefined,
    ms: 0,
    cpuUs: 0,
    mainUs: 0,
    maxRssKb: 0,
    clientUs: 0,
    perRound: [],
    idleMsPerSec: Number.NaN,
    marks: [],
    stderr: '',
  };
  if (prof !== undefined) note(`${label}: pid ${child.pid}`);
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    subject.stderr = (subject.stderr + text).slice(-2_000);
  });
  // A server that dies fails the marks it owes rather than hanging the bench.
  child.once('exit', (code, signal) => {
    for (const m of subject.marks.splice(0))
      m.reject(new Error(`${label} exited (${code ?? signal}): ${subject.stderr}`));
  });
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start`)), START_MS);
    child.once('exit', (code) =>
      reject(new Error(`${label} exited ${code} before it was ready: ${subject.stderr}`)),
    );
    child.on('message', (m: { t: string; url?: string }) => {
      if (m.t === 'ready') {
        clearTimeout(timer);
        resolve(m.url!);
      } else if (m.t === 'mark') subject.marks.shift()?.resolve(m as Mark);
    });
  });
  try {
    const url = await ready;
    for (let i = 0; i < SESSIONS; i++) {
      const client = new Client({ name: `bench-k-${i}`, version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      subject.clients.push(client);
    }
    const answer = (await subject.clients[0]!.callTool({
      name: subject.tool,
      arguments: { a: 2, b: 3 },
    })) as CallToolResult;
    const first = answer.content[0];
    if (answer.isError === true || first?.type !== 'text' || first.text !== '5')
      throw new Error(`${label} answered ${JSON.stringify(answer)}`);
  } catch (err) {
    await Promise.allSettled(subject.clients.map((c) => c.close()));
    child.kill('SIGKILL');
    throw err;
  }
  return subject;
}

function mark(s: Subject): Promise<Mark> {
  return new Promise((resolve, reject) => {
    s.marks.push({ resolve, reject });
    s.child.send({ t: 'mark' });
  });
}

/** One closed-loop window on `s`: IN_FLIGHT lanes per session; counted only if `measured`. */
async function window(s: Subject, ms: number, measured: boolean): Promise<void> {
  let started = 0;
  const before = measured ? await mark(s) : undefined;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const deadline = t0 + ms;
  const lane = async (client: Client, i: number): Promise<void> => {
    while (started < MAX_CALLS) {
      const t = performance.now();
      if (t >= deadline) return;
      started++;
      try {
        const r = (await client.callTool({
          name: s.tool,
          arguments: { a: i, b: started },
        })) as CallToolResult;
        if (r.isError === true) throw new Error(JSON.stringify(r.content));
      } catch (err) {
        if (measured) s.errors++;
        s.firstError ??= err instanceof Error ? err.message : String(err);
      }
      if (measured) s.samples.add((performance.now() - t) * 1000);
    }
  };
  const lanes: Promise<void>[] = [];
  for (const client of s.clients) for (let i = 0; i < IN_FLIGHT; i++) lanes.push(lane(client, i));
  await Promise.all(lanes);
  if (before === undefined) return;
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = await mark(s);
  s.clientUs += cpu.user + cpu.system;
  s.calls += started;
  s.ms += elapsed;
  s.cpuUs += after.cpuUs - before.cpuUs;
  s.perRound.push((after.cpuUs - before.cpuUs) / Math.max(1, started));
  s.mainUs += after.mainCpuUs - before.mainCpuUs;
  s.maxRssKb = after.maxRssKb;
}

async function stop(s: Subject): Promise<void> {
  await Promise.allSettled(s.clients.map((c) => c.close()));
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  // A disconnect lets it exit on its own (and write its --cpu-prof profile); a kill if not.
  s.child.disconnect();
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function row(s: Subject): McpCallsRow {
  return {
    label: s.label,
    calls: s.calls,
    errors: s.errors,
    callsPerSec: (s.calls / s.ms) * 1000,
    cpuUs: s.cpuUs / Math.max(1, s.calls),
    mainUs: s.mainUs / Math.max(1, s.calls),
    latency: s.samples.summary(),
    maxRssKb: s.maxRssKb,
    clientUs: s.clientUs / Math.max(1, s.calls),
    idleMsPerSec: s.idleMsPerSec,
  };
}

export async function benchMcpCalls(): Promise<McpCallsResult> {
  heading(
    `(k) MCP tools/call: molt serve beside the raw SDK 1.x (${SESSIONS} sessions × ${IN_FLIGHT} in flight, ${ROUNDS} rotated rounds of ${WINDOW_MS} ms)`,
  );
  const subjects: Subject[] = [];
  try {
    subjects.push(await start('raw SDK (McpServer)', 'raw'));
    subjects.push(await start('molt serve (worker sandbox)', 'molt'));
    subjects.push(await start('raw SDK, 2nd server (A/A control)', 'raw'));
    subjects.push(await start('raw SDK, JSON answers', 'raw-json'));
    // Another build's molt beside this one (before/after a change): its compiled mcp-server.js.
    const other = env.MOLT_BENCH_MCP_OTHER;
    if (other !== undefined) subjects.push(await start(`molt, other build`, 'molt', other));
    for (const s of subjects) await window(s, WARMUP_MS, false);
    for (const s of subjects) await idle(s);
    const n = subjects.length;
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of [...subjects.slice(r % n), ...subjects.slice(0, r % n)])
        await window(s, WINDOW_MS, true);
    }
  } finally {
    await Promise.allSettled(subjects.map(stop));
  }
  const rows = subjects.map(row);
  const [raw, molt, control] = rows as [McpCallsRow, McpCallsRow, McpCallsRow];
  table(
    [
      'server',
      'calls/s',
      'CPU µs/call',
      'of which main thread',
      'p50 µs',
      'p99 µs',
      'errors',
      'idle CPU ms/s',
      'max RSS MB',
    ],
    rows.map((r) => [
      r.label,
      num(r.callsPerSec, 0),
      num(r.cpuUs, 0),
      num(r.mainUs, 0),
      num(r.latency.p50, 0),
      num(r.latency.p99, 0),
      String(r.errors),
      num(r.idleMsPerSec, 1),
      num(r.maxRssKb / 1024, 0),
    ]),
  );
  const [rawS, moltS, controlS] = subjects as [Subject, Subject, Subject];
  const result: McpCallsResult = {
    rows,
    cpuRatio: molt.cpuUs / raw.cpuUs,
    rateRatio: molt.callsPerSec / raw.callsPerSec,
    controlCpuRatio: control.cpuUs / raw.cpuUs,
    controlRateRatio: control.callsPerSec / raw.callsPerSec,
    cpuRatioMedian: roundRatio(moltS, rawS),
    controlCpuRatioMedian: roundRatio(controlS, rawS),
  };
  const x = (v: number): string => ratio(v, 1);
  table(
    ['over the raw SDK', 'CPU per call', 'median of rounds', 'calls/s', 'verdict'],
    [
      [
        'molt serve',
        x(result.cpuRatio),
        x(result.cpuRatioMedian),
        x(result.rateRatio),
        `${check(`k: molt CPU per MCP tools/call <= ${CPU_TARGET}x the raw SDK's`, x(result.cpuRatio), result.cpuRatio <= CPU_TARGET)} / ${check(`k: molt MCP calls/s >= ${RATE_TARGET}x the raw SDK's`, x(result.rateRatio), result.rateRatio >= RATE_TARGET)}`,
      ],
      [
        '2nd raw SDK (A/A control)',
        x(result.controlCpuRatio),
        x(result.controlCpuRatioMedian),
        x(result.controlRateRatio),
        '',
      ],
      ...rows
        .slice(3)
        .map((r, i) => [
          r.label,
          ratio(r.cpuUs, raw.cpuUs),
          x(roundRatio(subjects[3 + i]!, rawS)),
          ratio(r.callsPerSec, raw.callsPerSec),
          '',
        ]),
    ],
  );
  for (const s of subjects)
    if (s.firstError !== undefined) note(`${s.label}: first error: ${s.firstError}`);
  note(
    `the clients (this process) spent ${rows.map((r) => num(r.clientUs, 0)).join(' / ')} µs of CPU per call.`,
  );
  note(
    'CPU is the server process (all threads) over its measured windows; the clients run in this process and share the 2 cores. Read the A/A line before a ratio: it is the noise.',
  );
  return result;
}
