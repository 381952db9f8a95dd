/**
 * `npm run bench`: every figure next to its baseline in one run, PASS/MISS against the targets,
 * then one machine-readable JSON line. `--only=a,b,c,d,e,f,g,h,i,j,k,l,s` runs a subset (e: the
 * process sandbox beside the worker; f: state checkpoints; g: the event stream; h: Prometheus
 * metrics; i: the dev loop into an MCP client; j: plugin-to-plugin calls; k: MCP tools/call
 * beside the raw SDK; l: a call during a canary; s: a shadow reload's cost to callers);
 * `--drift` runs the worker RSS-drift experiments instead (see drift.ts).
 */
import { cpus, loadavg } from 'node:os';
import { cleanup } from './artifacts.js';
import { benchCalls } from './calls.js';
import { benchCanary } from './canary.js';
import { benchCheckpoints } from './checkpoints.js';
import { benchChurn } from './churn.js';
import { benchContracts } from './contracts.js';
import { benchDevLoop } from './dev-loop.js';
import { benchDrift } from './drift.js';
import { benchEvents } from './events.js';
import { benchMcpCalls } from './mcp-calls.js';
import { benchMemory } from './memory.js';
import { benchMetrics } from './metrics.js';
import { benchProcess } from './process.js';
import { benchReload } from './reload.js';
import { heading, table, verdicts } from './report.js';
import { benchShadow } from './shadow.js';

const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}`))?.split('=')[1] ?? undefined;
const only = new Set((arg('only') ?? 'a,b,c,d,e,f,g,h,i,j,k,l,s').split(','));
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const t0 = performance.now();
console.log(
  `molt bench: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${load()}`,
);
if (typeof (globalThis as { gc?: unknown }).gc !== 'function')
  console.log('warning: run with --expose-gc for stable heap figures');

const summary: Record<string, unknown> = { node: process.version, cpus: cpus().length };
try {
  if (process.argv.includes('--drift')) {
    summary.drift = await benchDrift();
  } else {
    if (only.has('a')) summary.calls = await benchCalls();
    if (only.has('b')) summary.reload = await benchReload();
    if (only.has('c')) summary.churn = await benchChurn();
    if (only.has('d')) summary.memory = await benchMemory();
    if (only.has('e')) summary.process = await benchProcess();
    if (only.has('f')) summary.checkpoints = await benchCheckpoints();
    if (only.has('g')) summary.events = await benchEvents();
    if (only.has('h')) summary.metrics = await benchMetrics();
    if (only.has('i')) summary.devLoop = await benchDevLoop();
    if (only.has('j')) summary.contracts = await benchContracts();
    if (only.has('k')) summary.mcpCalls = await benchMcpCalls();
    if (only.has('l')) summary.canary = await benchCanary();
    if (only.has('s')) summary.shadow = await benchShadow();
    heading('targets');
    table(
      ['target', 'value', 'verdict'],
      verdicts.map((v) => [v.target, v.value, v.pass ? 'PASS' : 'MISS']),
    );
  }
} finally {
  await cleanup();
}
const seconds = (performance.now() - t0) / 1000;
console.log(`\ntotal ${seconds.toFixed(1)} s, load average now ${load()}`);
summary.verdicts = verdicts;
summary.seconds = Math.round(seconds);
summary.loadavg = loadavg();
const round = (_key: string, v: unknown): unknown =>
  typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 100) / 100 : v;
console.log(`BENCH_JSON ${JSON.stringify(summary, round)}`);
