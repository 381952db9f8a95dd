/**
 * Bundles each sandbox entry (dist/src/sandbox/inside/*-main.js and everything it imports, the
 * JSON Schema validator included) into one file. Every reload boots a sandbox, and one file
 * evaluates in a fraction of the time a graph of a dozen modules takes to resolve; a process
 * sandbox's permission grant then names one file. Runs after `tsc` as part of `npm run build`.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const inside = new URL('../dist/src/sandbox/inside/', import.meta.url);
for (const entry of ['worker-main', 'process-main']) {
  await build({
    entryPoints: [fileURLToPath(new URL(`${entry}.js`, inside))],
    outfile: fileURLToPath(new URL(`${entry}.bundle.js`, inside)),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
}
