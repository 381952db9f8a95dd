/**
 * `npm start`: packs the example plugins (examples/plugins/*) and serves their tools over MCP
 * (Streamable HTTP), then prints how to connect a client and how to change a plugin live.
 *
 * Environment: `MOLT_PORT` (default 3333; 0 picks a free port), `MOLT_DEMO_DIR` (default
 * `<repo>/.molt-demo`: `plugins/` is the served folder, `data/` the host's data folder),
 * `MOLT_REPO_ROOT` (where examples/plugins/ is, if not found above this script).
 */
import { readdir, rm } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { fail } from '../src/cli/output.js';
import { openDeployment, type Running, serve } from '../src/cli/serve.js';
import { defaultNaming } from '../src/mcp/tool-table.js';
import { pack } from '../src/pack/index.js';
import { exampleProjects, findRepoRoot } from './example-plugins.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** A path as the user would type it from here: relative when inside the working directory. */
function show(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

function parsePort(value: string | undefined): string {
  const port = value === undefined || value === '' ? '3333' : value;
  if (!/^\d+$/.test(port) || Number(port) > 65535) {
    console.error(
      `molt start: MOLT_PORT must be a port number (0 picks a free one), not "${port}"`,
    );
    process.exit(2);
  }
  return port;
}

/**
 * Removes older (or newer) packed versions of a plugin, so the folder serves exactly what the
 * sources say, even after a live change was reverted.
 */
async function removeOtherVersions(dir: string, name: string, keep: string): Promise<void> {
  for (const file of await readdir(dir)) {
    if (file === basename(keep) || !file.startsWith(`${name}-`) || !file.endsWith('.molt')) {
      continue;
    }
    const version = file.slice(name.length + 1, -'.molt'.length);
    if (semver.valid(version) !== null) await rm(join(dir, file), { force: true });
  }
}

function instructions(running: Running, url: string, demoDir: string, root: string): string {
  const pluginsDir = join(demoDir, 'plugins');
  const stdioConfig = {
    mcpServers: {
      molt: {
        command: process.execPath,
        args: [
          CLI,
          'serve',
          pluginsDir,
          '--stdio',
          // Two hosts must not share a data folder: the stdio server gets its own.
          '--data',
          join(demoDir, 'data-stdio'),
        ],
      },
    },
  };
  const httpConfig = { mcpServers: { molt: { type: 'http', url } } };
  const tools = running.deployment.host
    .plugins()
    .flatMap((p) => p.tools.map((t) => defaultNaming(p.name, t.name)));
  const text = show(join(root, 'examples', 'plugins', 'text'));
  const projects = show(join(root, 'examples', 'plugins'));
  return `
molt is serving the example plugins over MCP (Streamable HTTP) at

    ${url}

Tools: ${tools.join(', ')}

Connect an MCP client
  Over HTTP, to this server (Claude Code, Cursor, VS Code, MCP Inspector, ...):
    claude mcp add --transport http molt ${url}
  or in the client's MCP config:
    ${JSON.stringify(httpConfig)}
  Over stdio, the client starts its own molt on the same plugins (Claude Desktop's
  claude_desktop_config.json, or any client that runs a command):
${JSON.stringify(stdioConfig, null, 2).replace(/^/gm, '    ')}

Change a plugin live (this server keeps running; calls in flight finish on the old version)
  1. edit ${show(join(root, 'examples', 'plugins', 'text', 'src', 'index.ts'))} and bump "version" in ${show(join(root, 'examples', 'plugins', 'text', 'package.json'))}
  2. npm run molt -- pack ${text} -o ${show(pluginsDir)}
  The new version is swapped in within a second with no call dropped; a stateful plugin (notes)
  keeps its state, and clients get notifications/tools/list_changed if the tool list changed.
  Or the save-to-reload dev loop (a separate host without MCP; call its tools with molt call):
    npm run molt -- dev ${projects} --data ${show(join(demoDir, 'dev'))}
    npm run molt -- call text slugify '{"text":"Hello World"}' --data ${show(join(demoDir, 'dev'))}

Watch this host: npm run molt -- status --data ${show(join(demoDir, 'data'))}   (also: logs, reload NAME, rollback NAME)
Press Ctrl-C to stop.
`;
}

const port = parsePort(process.env.MOLT_PORT);
const root = await findRepoRoot();
const demoDir = resolve(process.env.MOLT_DEMO_DIR || join(root, '.molt-demo'));
const pluginsDir = join(demoDir, 'plugins');
const dataDir = join(demoDir, 'data');

let running: Running;
let url: string | undefined;
try {
  // The data folder's lock first: a second `npm start` must fail before it packs anything into
  // the folder a running server serves.
  const deployment = await openDeployment(dataDir);
  const projects = await exampleProjects(root);
  console.log(`packing ${projects.length} example plugins into ${show(pluginsDir)}`);
  for (const project of projects) {
    const packed = await pack(project, { outDir: pluginsDir });
    await removeOtherVersions(pluginsDir, packed.manifest.name, packed.file);
    console.log(
      `  ${packed.manifest.name}@${packed.manifest.version} ${packed.manifest.buildId.slice(0, 12)} → ${show(packed.file)}`,
    );
  }
  running = await serve(pluginsDir, { http: port, data: dataDir }, deployment);
  url = running.mcpUrl;
} catch (err) {
  process.exit(fail(err));
}

console.log(instructions(running, url ?? `http://127.0.0.1:${port}/mcp`, demoDir, root));

/**
 * Ctrl-C under `npm start` arrives twice at once (from the terminal and forwarded by npm), so
 * only a second signal a moment later forces the exit while the plugins drain.
 */
let stoppingSince: number | undefined;
const onSignal = (): void => {
  if (stoppingSince !== undefined) {
    if (performance.now() - stoppingSince < 1_000) return;
    console.error('molt start: forced exit');
    process.exit(1);
  }
  stoppingSince = performance.now();
  console.error('stopping: draining plugins… (Ctrl-C again to force)');
  running.stop().then(
    () => process.exit(0),
    (err: unknown) => process.exit(fail(err)),
  );
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
