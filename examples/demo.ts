/**
 * `npm start`: a short live demo of the library. One plugin serves calls in a loop while it is
 * replaced twice — a code change, then a state-shape change with a migration — and nothing is
 * dropped or forgotten.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHost } from '../src/index.js';

const sources = new URL('../../examples/greeter/', import.meta.url);

/** What `molt pack` will do for a built entry: copy it and write molt.json with its buildId. */
async function artifact(root: string, file: string, version: string): Promise<string> {
  const code = await readFile(new URL(file, sources));
  const dir = join(root, `greeter-${version}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'index.mjs'), code);
  const buildId = createHash('sha256').update(code).digest('hex');
  await writeFile(
    join(dir, 'molt.json'),
    JSON.stringify({ name: 'greeter', version, entry: 'index.mjs', buildId }),
  );
  return dir;
}

const root = await mkdtemp(join(tmpdir(), 'molt-demo-'));
const host = await createHost({ probationMs: 2_000 });
host.on('reload.succeeded', (e) =>
  console.log(
    `  ↻ ${e.name} ${e.from?.version} → ${e.to.version} in ${e.timings.total.toFixed(1)} ms` +
      (e.stateTransferred
        ? ` (state handed over${e.timings.migrate === undefined ? '' : ', migrated'})`
        : ''),
  ),
);
host.on('generation.retired', (e) =>
  console.log(
    `  ✝ generation ${e.from.generation} (${e.from.version}) retired after ${e.drainMs.toFixed(1)} ms drain`,
  ),
);

try {
  const v1 = await artifact(root, 'v1.mjs', '1.0.0');
  const v2 = await artifact(root, 'v2.mjs', '1.1.0');
  const v3 = await artifact(root, 'v3.mjs', '2.0.0');
  const loaded = await host.load(v1);
  console.log(
    `molt demo: loaded ${loaded.name}@${loaded.version} (build ${loaded.buildId.slice(0, 12)})`,
  );

  let calls = 0;
  let errors = 0;
  let last = '';
  let running = true;
  const names = ['Ada', 'Grace', 'Linus'];
  const caller = async (): Promise<void> => {
    for (let i = 0; running && i < 100_000; i++) {
      try {
        last = String(await host.call('greeter', 'greet', { name: names[i % names.length] }));
        calls++;
      } catch {
        errors++;
      }
    }
  };
  const callers = Array.from({ length: 8 }, caller);
  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  await pause(300);
  console.log(`  … ${calls} calls so far, last answer: ${last}`);
  console.log('reloading to 1.1.0 (new greeting) while 8 callers keep calling:');
  await host.reload('greeter', v2);
  await pause(300);
  console.log(`  … ${calls} calls so far, last answer: ${last}`);
  console.log('reloading to 2.0.0 (new state shape, migrate 1 → 2):');
  await host.reload('greeter', v3);
  await pause(300);
  running = false;
  await Promise.all(callers);
  console.log(`  … last answer: ${last}`);
  const [info] = host.plugins();
  console.log(
    `done: ${calls} calls, ${errors} errors, ${info?.stats.reloads} reloads; now serving ${info?.name}@${info?.version}.`,
  );
  console.log(
    'Every greeting was counted exactly once across both reloads: the count above is the total.',
  );
  if (errors > 0) process.exitCode = 1;
} finally {
  await host.close();
  await rm(root, { recursive: true, force: true });
}
