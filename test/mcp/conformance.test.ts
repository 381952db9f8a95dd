/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`, a devDependency)
 * against `molt serve --http 0 --tool-names bare` serving the plugin of examples/conformance/:
 * every server scenario it has must pass.
 *
 * The suite needs Node >= 22 (it imports `fs.globSync`) while molt's tests run on 20, 22 and 24,
 * so it runs under its own Node 22: `MOLT_CONFORMANCE_NODE` (the node binary; `.ci/run` exports
 * it), else the binary `.ci/run` caches under ~/.cache/molt-ci/node/22. Without one the test is
 * skipped with a message, except under CI=true, where that is a failure.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MoltProcess, molt } from '../helpers/cli.js';
import { tempDir } from '../helpers/project.js';

const run = promisify(execFile);

const PROJECT = fileURLToPath(new URL('../../../examples/conformance', import.meta.url));
const SUITE = join(
  dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json')),
  'dist',
  'index.js',
);
/** The whole run, bounded: the suite takes seconds; a hung scenario must not hang CI. */
const SUITE_TIMEOUT_MS = 180_000;

/** The Node 22 binary to run the suite with, the same place `.ci/run` installs it. */
function conformanceNode(): string | undefined {
  const fromEnv = process.env.MOLT_CONFORMANCE_NODE;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const cache =
    process.env.MOLT_CI_NODE_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'molt-ci', 'node');
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  const prefix = platform === 'darwin' && process.arch === 'arm64' ? 'node-bin' : 'node';
  const bin = join(cache, '22', 'node_modules', `${prefix}-${platform}-${process.arch}`, 'bin');
  const node = join(bin, process.platform === 'win32' ? 'node.exe' : 'node');
  return existsSync(node) ? node : undefined;
}

const NODE = conformanceNode();
const skip =
  NODE !== undefined || process.env.CI === 'true'
    ? false
    : 'no Node 22 for the conformance suite: set MOLT_CONFORMANCE_NODE to a node 22 binary, or ' +
      'run .ci/run once (it caches one under ~/.cache/molt-ci/node/22)';

interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | string;
  errorMessage?: string;
}

/**
 * Each scenario's checks, from the suite's output folder: one folder per scenario run, named
 * `server-<scenario>-<ISO time>`, holding `checks.json`.
 */
async function readResults(out: string): Promise<Map<string, Check[]>> {
  const results = new Map<string, Check[]>();
  for (const entry of await readdir(out)) {
    const scenario = entry.replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
    const checks = JSON.parse(await readFile(join(out, entry, 'checks.json'), 'utf8')) as Check[];
    results.set(scenario, checks);
  }
  return results;
}

/** The suite's own closing summary (one line per scenario), without its progress lines. */
const summary = (stdout: string): string =>
  stdout.slice(Math.max(0, stdout.indexOf('=== SUMMARY')));

/** The server scenario names the suite lists (`conformance list --server`). */
async function listScenarios(node: string): Promise<string[]> {
  const { stdout } = await run(node, [SUITE, 'list', '--server'], { timeout: 60_000 });
  return [...stdout.matchAll(/^\s+- (\S+)/gm)].map((m) => m[1]!);
}

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('the MCP conformance suite: every server scenario passes', {
  skip,
  timeout: 300_000,
}, async (t) => {
  assert.ok(
    NODE !== undefined,
    'CI=true and no Node 22 for the conformance suite: .ci/run exports MOLT_CONFORMANCE_NODE',
  );
  const { stdout: version } = await run(NODE, ['--version']);
  assert.match(version, /^v22\./, `MOLT_CONFORMANCE_NODE must be Node 22, it is ${version}`);

  const root = await tempDir('conformance');
  dirs.push(root);
  const plugins = join(root, 'plugins');
  const out = join(root, 'results');
  await mkdir(plugins);
  const packed = await molt(['pack', PROJECT, '-o', plugins]);
  assert.equal(packed.code, 0, packed.stderr);

  const host = new MoltProcess([
    'serve',
    plugins,
    '--data',
    join(root, 'data'),
    '--http',
    '0',
    '--tool-names',
    'bare',
  ]);
  try {
    // In the order molt prints them: the plugin loads before the front door opens.
    await host.waitFor(/✓ conformance@1\.0\.0 \w{12} loaded/);
    const url = (await host.waitFor(/^mcp: http:\/\/\S+\/mcp$/)).slice('mcp: '.length);

    const scenarios = await listScenarios(NODE);
    // 0.1.16 (pinned) has 32: fewer means the list was misread, and a scenario would go unchecked.
    assert.equal(scenarios.length, 32, `the suite lists ${scenarios.join(', ')}`);
    // `--suite all`: the default ("active") leaves out scenarios the suite marks pending.
    // Failing scenarios make it exit 1; what failed is read from its results, not its exit code.
    const suite = await run(NODE, [SUITE, 'server', '--url', url, '--suite', 'all', '-o', out], {
      timeout: SUITE_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: { killed?: boolean; signal?: string; stdout?: string; stderr?: string }) => {
      assert.ok(!err.killed && err.signal == null, `the suite ran past ${SUITE_TIMEOUT_MS} ms`);
      return { stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    });
    const results = await readResults(out);

    const failed: string[] = [];
    for (const scenario of scenarios) {
      const checks = results.get(scenario);
      const failures = checks?.filter((c) => c.status === 'FAILURE') ?? [];
      const warnings = checks?.filter((c) => c.status === 'WARNING') ?? [];
      const passed = checks !== undefined && failures.length === 0;
      t.diagnostic(
        `${passed ? 'passed' : 'FAILED'} ${scenario}` +
          (warnings.length > 0 ? ` (warnings: ${warnings.map((w) => w.id).join(', ')})` : ''),
      );
      if (passed) continue;
      const why =
        checks === undefined
          ? 'did not run'
          : failures.map((f) => `${f.id}: ${f.errorMessage ?? 'failed'}`).join('; ');
      failed.push(`${scenario} (${why})`);
    }
    assert.deepEqual(
      failed,
      [],
      `server scenarios failed:\n  ${failed.join('\n  ')}\n\nthe suite's summary:\n${summary(suite.stdout)}`,
    );
    t.diagnostic(`all ${scenarios.length} server scenarios pass`);
  } finally {
    await host.stop();
  }
});
