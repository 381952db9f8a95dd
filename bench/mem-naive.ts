/**
 * Child process (run with --max-old-space-size=256): the naive reload, re-importing one
 * ~200 KB ES module with a cache-busting query. Node's ESM cache never lets go, so this is
 * expected to die of OOM. Args: modulePath N every capMs.
 */
import { pathToFileURL } from 'node:url';
import { emit, emitSample } from './child.js';

const path = process.argv[2]!;
const [total = 5000, every = 10, capMs = 90_000] = process.argv.slice(3).map(Number);
const url = pathToFileURL(path).href;
const t0 = performance.now();
emitSample(0, t0);
const deadline = t0 + capMs;
let done = 0;
for (let i = 1; i <= total && performance.now() < deadline; i++) {
  await import(`${url}?v=${i}`);
  done = i;
  if (i % every === 0 || i === total) emitSample(i, t0);
}
emit({ kind: 'done', done });
