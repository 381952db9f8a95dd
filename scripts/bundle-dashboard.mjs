/**
 * Builds the operator dashboard into dist/src/admin/dashboard/: app.ts and what it imports (the
 * `eventsource` client included) bundled into one browser module, beside the page and its
 * stylesheet. The page loads one script from its own origin, which is what lets the admin server
 * send a Content-Security-Policy without 'unsafe-inline'. Type-checking is `tsc -p
 * src/admin/dashboard` (DOM types), run before this by `npm run build`.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const src = new URL('../src/admin/dashboard/', import.meta.url);
const out = new URL('../dist/src/admin/dashboard/', import.meta.url);
await mkdir(out, { recursive: true });
await build({
  entryPoints: [fileURLToPath(new URL('app.ts', src))],
  outfile: fileURLToPath(new URL('app.js', out)),
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css'])
  await copyFile(new URL(file, src), new URL(file, out));
