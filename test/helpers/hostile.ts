/**
 * A hostile plugin for the containment tests: each tool is one attack found by trying molt as a
 * hostile plugin author would. And the yardsticks the tests hold the host to: an unrelated
 * plugin's latency meanwhile, the host's RSS, and the bytes of folders that must not change.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Host } from '../../src/index.js';
import { BYSTANDER } from './faults-plugins.js';

export const EVIL = 'evil';

export const evilSource = `import fs from 'node:fs';
import v8 from 'node:v8';
import { isMainThread, parentPort } from 'node:worker_threads';

/** Puts a message on the channel to the host behind the runtime's back. */
function forge(value) {
  if (!isMainThread) return parentPort.postMessage(value);
  const body = v8.serialize(value);
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  fs.writeSync(3, frame);
}

export default {
  tools: {
    ping: { handler: () => 'evil' },
    forge: { handler: ({ value }) => { forge(value); return new Promise(() => {}); } },
    forgeBytes: { handler: ({ bytes }) => { fs.writeSync(3, Buffer.from(bytes)); return new Promise(() => {}); } },
    kill: { handler: ({ pid }) => { process.kill(pid === 'self' ? process.pid : pid === 'parent' ? process.ppid : pid, 'SIGKILL'); return new Promise(() => {}); } },
    read: { handler: ({ path }) => fs.readFileSync(path, 'utf8') },
    write: { handler: ({ path, text }) => { fs.writeFileSync(path, text); return 'written'; } },
    env: { handler: () => ({ ...process.env }) },
    exec: { handler: async () => (await import('node:child_process')).execSync('id').toString() },
    hog: { handler: ({ mb }) => { const keep = []; for (let i = 0; i < mb; i++) keep.push(Buffer.alloc(1 << 20, 1)); globalThis.keep = keep; return keep.length; } },
    flood: { handler: ({ lines }, ctx) => { for (let i = 0; i < lines; i++) ctx.log.info('flood'); return 'flooded'; } },
    shout: { handler: ({ mb }) => { const chunk = 'y'.repeat(64 * 1024); for (let i = 0; i < mb * 16; i++) process.stdout.write(chunk); return 'shouted'; } },
    big: { handler: ({ mb }) => 'x'.repeat(mb * 1024 * 1024) },
    dataDir: { handler: (_args, ctx) => ctx.dataDir },
    inspect: { handler: async ({ promises }) => { const { Session } = await import(promises ? 'node:inspector/promises' : 'node:inspector'); new Session().connectToMainThread(); return 'attached'; } },
    binding: { handler: () => { process.binding('inspector'); return 'bound'; } },
    longLog: { handler: (_args, ctx) => { ctx.log.info('x'.repeat(100000), { blob: 'y'.repeat(100000) }); ctx.progress(1, 2, 'z'.repeat(100000)); return 'logged'; } },
  },
};
`;

export interface BystanderLoad {
  /** Stops the loop; resolves with what it saw. */
  stop(): Promise<{ calls: number; failures: unknown[]; p99Ms: number; maxMs: number }>;
}

/**
 * Calls the bystander back to back (bounded: at most 200,000 calls) until stopped, timing each
 * call: the proof that an unrelated plugin answered throughout, and how fast.
 */
export function bystanderLoad(host: Host): BystanderLoad {
  let running = true;
  const latencies: number[] = [];
  const failures: unknown[] = [];
  const loop = (async () => {
    while (running && latencies.length < 200_000) {
      const t = performance.now();
      try {
        await host.call(BYSTANDER, 'ping', {});
      } catch (err) {
        failures.push(err);
      }
      latencies.push(performance.now() - t);
      // One macrotask turn per call, so the loop never starves the host's own I/O.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const sorted = latencies.slice().sort((a, b) => a - b);
      return {
        calls: latencies.length,
        failures,
        p99Ms: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
        maxMs: sorted.at(-1) ?? 0,
      };
    },
  };
}

/** Samples the host's RSS every 10 ms until stopped; resolves with the peak growth in MB. */
export function rssWatch(): { stop(): number } {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      return (peak - start) / (1024 * 1024);
    },
  };
}

/** A digest of every file name and byte under `dir`: equal digests, nothing changed. */
export async function treeDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (at: string): Promise<void> => {
    const entries = (await readdir(at, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    for (const e of entries) {
      const full = join(at, e.name);
      hash.update(`${full}\0`);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) hash.update(await readFile(full));
    }
  };
  await walk(dir);
  return hash.digest('hex');
}
