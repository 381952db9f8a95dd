/** G5: old generations are really gone — threads, heap and RSS stay flat over 1,000 reloads. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createHost } from '../../src/index.js';
import { cleanArtifacts, versionPlugin, writeArtifact } from '../helpers/artifact.js';

after(cleanArtifacts);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function threads(): number {
  const m = /^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1]);
}

function settle(): { heap: number; rss: number } {
  gc();
  gc();
  return { heap: process.memoryUsage().heapUsed, rss: process.memoryUsage.rss() };
}

test('1,000 reloads leave no thread behind and the host heap and RSS flat', async () => {
  const host = await createHost({ probationMs: 0 });
  try {
    // A plugin with ~200 KB of code, so a leaked generation would show.
    const big = `const table = ${JSON.stringify(Array.from({ length: 8_000 }, (_, i) => `entry-${i}-${'x'.repeat(12)}`))};`;
    const dirs = await Promise.all(
      [0, 1].map((i) =>
        writeArtifact({
          name: 'm',
          version: `1.0.${i}`,
          source: `${big}\n${versionPlugin(`v${i}`)}`,
        }),
      ),
    );
    await host.load(dirs[0]!);
    const retired = (): Promise<void> =>
      new Promise((r) => host.once('generation.retired', () => r()));
    // Warm up allocator and JIT before the baseline.
    for (let i = 0; i < 50; i++) {
      const gone = retired();
      await host.reload('m', dirs[(i + 1) % 2]!);
      await gone;
    }
    const t0 = threads();
    const m0 = settle();
    const RELOADS = 1_000;
    for (let i = 0; i < RELOADS; i++) {
      const gone = retired();
      await host.reload('m', dirs[i % 2]!);
      await gone;
    }
    assert.equal(await host.call('m', 'version', {}), `v${(RELOADS - 1) % 2}`);
    const m1 = settle();
    const t1 = threads();
    const heapKbPerReload = (m1.heap - m0.heap) / 1024 / RELOADS;
    const rssKbPerReload = (m1.rss - m0.rss) / 1024 / RELOADS;
    process.stderr.write(
      `# memory: threads ${t0}→${t1}, heap ${heapKbPerReload.toFixed(2)} KB/reload, rss ${rssKbPerReload.toFixed(2)} KB/reload\n`,
    );
    assert.ok(t1 <= t0, `threads grew from ${t0} to ${t1}`);
    // Node's own per-Worker bookkeeping ramps the main heap by up to ~1 KB per worker over the
    // first few thousand (bare Workers show the same ramp, then both go flat: see npm run bench).
    // A leaked generation keeps its Worker, ports and streams: tens of KB each.
    assert.ok(heapKbPerReload < 2, `host heap grew ${heapKbPerReload.toFixed(2)} KB per reload`);
    // The naive re-import leaks ~900 KB per reload; this bound catches any leaked generation.
    assert.ok(rssKbPerReload < 64, `RSS grew ${rssKbPerReload.toFixed(2)} KB per reload`);
  } finally {
    await host.close();
  }
});
