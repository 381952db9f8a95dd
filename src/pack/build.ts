/** Bundles a project's source entry and its npm dependencies into one ESM file with esbuild. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build, type Message, type Plugin } from 'esbuild';
import { ErrorCodes, MoltError } from '../errors/errors.js';

/** One esbuild error. `line` and `column` are 1-based (0 when esbuild gives no location). */
export interface BuildProblem {
  file: string;
  line: number;
  column: number;
  text: string;
}

/**
 * CommonJS dependencies bundled into ESM call `require` for node built-ins, which ESM lacks.
 * esbuild renames any `require` the sources declare themselves, so this cannot clash.
 */
const REQUIRE_BANNER =
  "import { createRequire as __moltCreateRequire } from 'node:module'; const require = __moltCreateRequire(import.meta.url);";

/** This package's own author SDK, compiled next to this module. */
const SDK_FILE = fileURLToPath(new URL('../plugin/index.js', import.meta.url));
const SDK_NAMESPACE = 'molt-sdk';

/**
 * Resolves `molt/plugin` to the SDK shipped with this molt, so a project builds without molt in
 * its node_modules. A namespace rather than the file's path keeps the SDK's location on this
 * machine out of the bundle, so the buildId does not depend on where molt is installed.
 */
const sdkAlias: Plugin = {
  name: 'molt-sdk',
  setup(b) {
    b.onResolve({ filter: /^molt\/plugin$/ }, () => ({
      path: 'molt/plugin',
      namespace: SDK_NAMESPACE,
    }));
    b.onLoad({ filter: /.*/, namespace: SDK_NAMESPACE }, async () => ({
      contents: await readFile(SDK_FILE, 'utf8'),
      loader: 'js',
    }));
  },
};

function toProblem(m: Message): BuildProblem {
  const loc = m.location;
  if (loc === null) return { file: '', line: 0, column: 0, text: m.text };
  // esbuild columns are 0-based; editors and terminals expect file:line:column 1-based.
  return { file: loc.file, line: loc.line, column: loc.column + 1, text: m.text };
}

function formatProblem(p: BuildProblem): string {
  return p.file === '' ? p.text : `${p.file}:${p.line}:${p.column}: ${p.text}`;
}

function isBuildFailure(err: unknown): err is Error & { errors: Message[] } {
  return err instanceof Error && Array.isArray((err as { errors?: unknown }).errors);
}

/** Bundles `entry` (relative to `projectDir`) and returns the ESM bytes. */
export async function bundleEntry(projectDir: string, entry: string): Promise<Buffer> {
  try {
    const result = await build({
      entryPoints: [entry],
      absWorkingDir: projectDir,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      metafile: false,
      sourcemap: false,
      legalComments: 'none',
      logLevel: 'silent',
      banner: { js: REQUIRE_BANNER },
      plugins: [sdkAlias],
    });
    const out = result.outputFiles[0];
    if (out === undefined) throw new Error('esbuild produced no output');
    return Buffer.from(out.contents);
  } catch (err) {
    const problems = isBuildFailure(err)
      ? err.errors.map(toProblem)
      : [{ file: '', line: 0, column: 0, text: (err as Error).message ?? String(err) }];
    // The first error stays on the first line: `molt dev` prints a one-line result.
    const list = problems.map(formatProblem).join('\n');
    throw new MoltError(ErrorCodes.PACK_FAILED, `build failed: ${list}`, {
      cause: err,
      details: { errors: problems },
    });
  }
}
