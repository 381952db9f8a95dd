/**
 * Child process: reloads one plugin (probationMs: 0) up to N times, printing RSS and
 * main-thread heap (after gc) every `every` reloads. Args: N every capMs [standby].
 */
import { createHost } from '../src/index.js';
import { cleanup, pluginPair } from './artifacts.js';
import { emit, emitSample, WARMUP_OPS } from './child.js';
import { settleGc, sleep } from './stats.js';

const [total = 5000, every = 250, capMs = 180_000, standby = 1] = process.argv.slice(2).map(Number);
const host = await createHost({ probationMs: 0, standby });
let errors = 0;
let done = 0;
try {
  const [a, b] = await pluginPair('mem');
  await host.load(a);
  await settleGc();
  emitSample(0, performance.now(), 'start');
  // The first workers touch pages of the node binary and grow malloc arenas once: keep that
  // one-time ramp out of the per-reload figure (it is reported apart, from the 'start' sample).
  for (let i = 0; i < WARMUP_OPS; i++) await host.reload('mem', i % 2 === 0 ? b : a);
  const t0 = performance.now();
  const sample = async (n: number): Promise<void> => {
    await sleep(150); // the last retired generation's worker finishes ending
    await settleGc();
    emitSample(n, t0);
  };
  await sample(0);
  const deadline = t0 + capMs;
  while (done < total && performance.now() < deadline) {
    try {
      await host.reload('mem', done % 2 === 0 ? b : a);
    } catch {
      errors++;
    }
    done++;
    if (done % every === 0 || done === total) await sample(done);
  }
  if (done % every !== 0 && done !== total) await sample(done);
} finally {
  await host.close();
  await cleanup();
}
emit({ kind: 'done', done, errors });
