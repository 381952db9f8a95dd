/**
 * (i) The dev loop into an MCP client: save a source file → the new tool callable by a client
 * that stays connected. A `molt dev` host in this process (DevSession + the MCP front door over
 * HTTP, as `molt dev --http 0` wires them), an SDK `Client` connected over HTTP; each edit
 * renames a tool (`t<i>`, answering `i`), so the tool list changes: the time is from the file
 * write to the first successful call of the new tool, the client having waited for
 * `list_changed`. Beside it, today's closest path as the baseline: the same edit, `molt pack`
 * (the CLI, a fresh process) into a folder `molt serve --http` watches (stable time 200 ms, its
 * default), the same client wait.
 *
 * Edits are GAP_MS apart, as saves are (the retiring build finishes in between); each is bounded
 * by EDIT_MAX_MS and counted as failed past it.
 */
import { spawn } from 'node:child_process';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type CallToolResult,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { mcpPlan, startMcp } from '../src/cli/mcp-serve.js';
import { serve } from '../src/cli/serve.js';
import { Deployment } from '../src/deploy/deployment.js';
import { type DevReport, DevSession } from '../src/dev/dev.js';
import { buildPlugin } from '../src/pack/index.js';
import { scratchDir } from './artifacts.js';
import { check, heading, note, num, ratio, table } from './report.js';
import { percentile, sleep } from './stats.js';

const env = process.env;
const EDITS = Number(env.MOLT_BENCH_DEV_EDITS ?? 20);
const PACK_ROUNDS = Number(env.MOLT_BENCH_DEV_PACK_ROUNDS ?? 5);
const GAP_MS = 500;
const EDIT_MAX_MS = 10_000;
/** Calls of the new tool tried after list_changed before the edit counts as failed. */
const MAX_TRIES = 50;
const TARGET_MS = 300;
const debug = env.MOLT_BENCH_DEBUG ? (m: string) => console.error(`[i] ${m}`) : () => {};
const MOLT_BIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface LoopFigures {
  n: number;
  failed: number;
  p50: number;
  p95: number;
  max: number;
}

export interface DevLoopResult {
  dev: LoopFigures & {
    /**
     * The mean of each part (means add up to the mean total, p50s do not): the write until the build starts (the watcher, its debounce), the
     * build's start until list_changed reaches the client (esbuild, install, reload), then the
     * call that answers.
     */
    parts: { meanMs: number; watchMs: number; buildSwapMs: number; callMs: number };
    /** p50 of esbuild alone on the same project (buildPlugin, no reload). */
    esbuildMs: number;
  };
  packBaseline: LoopFigures;
  ratioToTarget: number;
}

/** Source of the bench project: one tool, named and answering after the edit. */
const source = (i: number): string => `import { definePlugin } from 'molt/plugin';

export default definePlugin({
  tools: {
    t${i}: { description: 'edit ${i}', handler: () => ${JSON.stringify(String(i))} },
  },
});
`;

async function writeProject(dir: string, version: string, i: number): Promise<void> {
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'edited', version, type: 'module' }),
  );
  await writeFile(join(dir, 'src', 'index.ts'), source(i));
}

/** From the edit's start: the new tool answering, and list_changed reaching the client. */
interface Timed {
  ms: number;
  announcedMs: number;
}

interface Connected {
  client: Client;
  /** Resolves at the next list_changed after this call. */
  nextListChanged(): Promise<void>;
}

async function connect(url: string): Promise<Connected> {
  const client = new Client({ name: 'molt-bench-dev', version: '1.0.0' });
  let waiters: (() => void)[] = [];
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    const now = waiters;
    waiters = [];
    for (const w of now) w();
  });
  let opened!: () => void;
  const streamOpen = new Promise<void>((r) => {
    opened = r;
  });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      if (init?.method === 'GET' && res.ok) opened();
      return res;
    },
  });
  await client.connect(transport);
  // list_changed travels on the session's GET stream: open before the first edit.
  await streamOpen;
  return { client, nextListChanged: () => new Promise((r) => waiters.push(r)) };
}

/**
 * Times one edit: `edit()` writes (and for the baseline packs and places), then the client waits
 * for list_changed and calls `edited__t<i>` until it answers `i`. Undefined past the bounds.
 */
async function timeEdit(
  c: Connected,
  i: number,
  edit: () => Promise<void>,
): Promise<Timed | undefined> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), EDIT_MAX_MS);
  });
  const attempt = async (): Promise<Timed | undefined> => {
    const announced = c.nextListChanged();
    await edit();
    await announced;
    const announcedMs = performance.now() - t0;
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const r = (await c.client.callTool({
        name: `edited__t${i}`,
        arguments: {},
      })) as CallToolResult;
      const [first] = r.content;
      if (r.isError !== true && first?.type === 'text' && first.text === String(i))
        return { ms: performance.now() - t0, announcedMs };
      // An announcement of an earlier change: wait for the next one.
      await Promise.race([c.nextListChanged(), overdue]);
    }
    return undefined;
  };
  try {
    return await Promise.race([attempt(), overdue]);
  } finally {
    clearTimeout(timer);
  }
}

function figures(times: (Timed | undefined)[]): LoopFigures {
  const ok = Float64Array.from(
    times.filter((t): t is Timed => t !== undefined).map((t) => t.ms),
  ).sort();
  return {
    n: times.length,
    failed: times.length - ok.length,
    p50: ok.length === 0 ? Number.NaN : percentile(ok, 0.5),
    p95: ok.length === 0 ? Number.NaN : percentile(ok, 0.95),
    max: ok.length === 0 ? Number.NaN : ok[ok.length - 1]!,
  };
}

const p50 = (xs: number[]): number => percentile(Float64Array.from(xs).sort(), 0.5);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function benchDev(): Promise<DevLoopResult['dev']> {
  const root = await scratchDir('dev-loop');
  const project = join(root, 'edited');
  await writeProject(project, '1.0.0', 0);
  const deployment = await Deployment.open({
    dataDir: join(root, 'data'),
    probationMs: 0,
    schemaCompat: 'off',
  });
  let reported: ((r: DevReport, at: number) => void) | undefined;
  const session = new DevSession(project, deployment, (r) => reported?.(r, performance.now()));
  const plan = await mcpPlan({ http: '0' });
  if (plan === undefined) throw new Error('no MCP plan');
  const times: (Timed | undefined)[] = [];
  const watchMs: number[] = [];
  const swapMs: number[] = [];
  const callMs: number[] = [];
  await session.start();
  debug('dev started');
  const mcp = await startMcp(deployment.host, plan);
  debug(`mcp ${mcp.url}`);
  const c = await connect(mcp.url!);
  debug('connected');
  try {
    for (let i = 1; i <= EDITS; i++) {
      await sleep(GAP_MS);
      let written = 0;
      const report = new Promise<{ r: DevReport; at: number }>((resolve) => {
        reported = (r, at) => resolve({ r, at });
      });
      const t = await timeEdit(c, i, async () => {
        written = performance.now();
        await writeFile(join(project, 'src', 'index.ts'), source(i));
      });
      times.push(t);
      debug(`edit ${i}: ${JSON.stringify(t)}`);
      const done = await Promise.race([report, sleep(EDIT_MAX_MS).then(() => undefined)]);
      if (t !== undefined && done?.r.ok) {
        // The report comes after the build is made active (and the one before it forgotten):
        // its start is when the watcher's debounce fired.
        const buildStart = done.at - done.r.ms - written;
        watchMs.push(buildStart);
        swapMs.push(t.announcedMs - buildStart);
        callMs.push(t.ms - t.announcedMs);
      }
    }
    const esbuild: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      await buildPlugin(project);
      esbuild.push(performance.now() - t0);
    }
    return {
      ...figures(times),
      parts: {
        meanMs: mean(watchMs) + mean(swapMs) + mean(callMs),
        watchMs: mean(watchMs),
        buildSwapMs: mean(swapMs),
        callMs: mean(callMs),
      },
      esbuildMs: p50(esbuild),
    };
  } finally {
    await c.client.close();
    await session.close();
    await mcp.close({ drainMs: 1_000 });
    await deployment.close();
  }
}

/** `molt pack` as a user runs it: a fresh CLI process. */
function packCli(project: string, out: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MOLT_BIN, 'pack', project, '-o', out], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(stdout.trim()) : reject(new Error(`molt pack exited ${code}`)),
    );
  });
}

async function benchPack(): Promise<LoopFigures> {
  const root = await scratchDir('pack-loop');
  const project = join(root, 'edited');
  const plugins = join(root, 'plugins');
  const out = join(root, 'out');
  await mkdir(plugins, { recursive: true });
  await mkdir(out, { recursive: true });
  await writeProject(project, '1.0.0', 0);
  await rename(await packCli(project, out), join(plugins, 'edited.molt'));
  const running = await serve(plugins, { data: join(root, 'data'), http: '0', probation: '0' });
  const c = await connect(running.mcpUrl!);
  const times: (Timed | undefined)[] = [];
  try {
    for (let i = 1; i <= PACK_ROUNDS; i++) {
      await sleep(GAP_MS);
      // A new major each round: the tool list changes, which a served host allows across a major.
      times.push(
        await timeEdit(c, i, async () => {
          await writeProject(project, `${i + 1}.0.0`, i);
          const file = await packCli(project, out);
          await rename(file, join(plugins, 'edited.molt'));
        }),
      );
    }
    return figures(times);
  } finally {
    await c.client.close();
    await running.stop();
  }
}

export async function benchDevLoop(): Promise<DevLoopResult> {
  heading(`(i) dev loop into an MCP client: save → new tool callable (${EDITS} edits)`);
  const dev = await benchDev();
  const packBaseline = await benchPack();
  const ratioToTarget = dev.p50 / TARGET_MS;
  table(
    ['path', 'edits', 'failed', 'p50 ms', 'p95 ms', 'max ms', 'vs dev p50'],
    [
      [
        'molt dev --http (in process)',
        String(dev.n),
        String(dev.failed),
        num(dev.p50),
        num(dev.p95),
        num(dev.max),
        '1.00x',
      ],
      [
        'baseline: molt pack CLI → molt serve folder',
        String(packBaseline.n),
        String(packBaseline.failed),
        num(packBaseline.p50),
        num(packBaseline.p95),
        num(packBaseline.max),
        ratio(packBaseline.p50, dev.p50),
      ],
    ],
  );
  note(
    `dev mean ${num(dev.parts.meanMs)} ms by part: write → build starts (watcher, debounce) ${num(dev.parts.watchMs)} ms; → list_changed at the client (esbuild, install, reload) ${num(dev.parts.buildSwapMs)} ms; → the call answers ${num(dev.parts.callMs)} ms; esbuild alone ${num(dev.esbuildMs)} ms`,
  );
  note(`p50 / 300 ms target: ${num(ratioToTarget, 2)}`);
  check(
    'dev: save → new tool callable by a connected MCP client, p50 <= 300 ms',
    `${num(dev.p50)} ms`,
    dev.failed === 0 && dev.p50 <= TARGET_MS,
  );
  return { dev, packBaseline, ratioToTarget };
}
