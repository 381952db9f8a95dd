#!/usr/bin/env node
/** The `molt` command line. Exit codes: 0 ok, 1 the operation failed, 2 usage, 3 no host. */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { StdioStreams } from '../mcp/stdio.js';
import type { CanaryFlags } from './canary-flags.js';
import type { DevOptions } from './dev.js';
import { EXIT, fail, line, out, UsageError } from './output.js';
import type { ServeOptions } from './serve.js';
import type { ShadowFlags } from './shadow-flags.js';
import type { SoakFlags } from './soak.js';
import { relayStdio, takeRelayChannel } from './stdio-relay.js';

// Each command imports what it runs when it runs: `molt serve --stdio` starts as a relay that
// needs none of the host (see stdio-relay.ts), and `molt status` none of the MCP server.

const program = new Command('molt')
  .description('Hot-swap live Node.js plugins: no restart, no dropped call, no lost state.')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage));

const dataOption = [
  '--data <dir>',
  'data folder of the host (store, catalog, audit log, admin endpoint)',
] as const;

/** Runs a command's body, mapping errors to their exit code. */
const run =
  <A extends unknown[]>(body: (...args: A) => Promise<void>) =>
  async (...args: A): Promise<void> => {
    try {
      await body(...args);
    } catch (err) {
      process.exit(fail(err));
    }
  };

/**
 * The MCP flags of `molt serve` and `molt dev`, registered once for both (see mcp-serve.ts).
 */
const mcpOptions = (command: Command): Command =>
  command
    .option(
      '--stdio',
      'speak MCP on stdin/stdout (logs, and anything a plugin writes to stdout, go to stderr)',
    )
    .option(
      '--http <port>',
      'serve MCP over Streamable HTTP at http://HOST:PORT/mcp (0: any free port)',
    )
    .option('--host <addr>', 'address for --http', '127.0.0.1')
    .option(
      '--meta-tools',
      'add molt__list_tools and molt__call_tool for clients that ignore list_changed',
    )
    .option('--session-ttl <ms>', 'close MCP HTTP sessions idle this long', '1800000')
    // MCP over HTTP, safe by default (see mcp-http-security.ts).
    .option(
      '--max-sessions <n>',
      'most MCP HTTP sessions at once (503 to an initialize over it), and as many 2026-07-28 listen streams',
      '1000',
    )
    .option(
      '--token-file <file>',
      'bearer token MCP HTTP clients must send (mode 600; or env MOLT_MCP_TOKEN)',
    )
    .option(
      '--allowed-hosts <list>',
      'more Host names served over MCP HTTP (name or name:port, comma-separated)',
    )
    .option(
      '--allowed-origins <list>',
      'more browser Origins allowed over MCP HTTP (comma-separated)',
    )
    .option('--insecure-no-auth', 'serve MCP HTTP on a non-loopback --host with no token')
    .addOption(
      new Option(
        '--tool-names <how>',
        'MCP names of tools and prompts: prefixed (<plugin>__<tool>) or bare (a collision is left out)',
      )
        .choices(['prefixed', 'bare'])
        .default('prefixed'),
    );

/**
 * Under --stdio the client's stdout stays with a relay and the host runs in its child (see
 * stdio-relay.ts): undefined means this process became the relay and the command has no more to
 * do; otherwise the streams the host speaks MCP on (none without --stdio).
 */
function stdioChannel(opts: { stdio?: boolean }): { stdioStreams?: StdioStreams } | undefined {
  if (!opts.stdio) return {};
  const stdioStreams = takeRelayChannel();
  if (stdioStreams === undefined) {
    relayStdio();
    return undefined;
  }
  return { stdioStreams };
}

/** Runs until a signal, or with --stdio until the client closes its input. */
async function serveUntilDone(running: {
  stop(): Promise<void>;
  stdioClosed: Promise<void> | undefined;
}): Promise<void> {
  const { untilSignal } = await import('./serve.js');
  untilSignal(running.stop);
  if (running.stdioClosed !== undefined) {
    await running.stdioClosed;
    await running.stop();
    process.exit(0);
  }
}

mcpOptions(
  program
    .command('serve')
    .description('load every artifact in DIR (.molt files and plugin folders), watch it and serve')
    .argument('<dir>', 'the plugins folder'),
)
  .option(
    '--data <dir>',
    'data folder: store, catalog, audit log, admin endpoint (default: .molt beside DIR)',
  )
  .option('--probation <ms>', 'how long a replaced version stays warm for rollback', '30000')
  .option('--stable <ms>', 'how long a file must stay unchanged before it is read', '200')
  .option('--admin <port>', 'port of the admin API (default: any free port)')
  .option(
    '--admin-host <addr>',
    'address of the admin API (default 127.0.0.1; every route but the dashboard wants the token)',
  )
  .option(
    '--admin-token-file <file>',
    "the admin API's bearer token (mode 600; default: a random token in DATA/control.json)",
  )
  .option('--metrics-public', 'serve GET /metrics of the admin API without the token')
  .option(
    '--isolation <kind>',
    'least isolation of every plugin: worker, or process (a child process with its permissions enforced)',
    'worker',
  )
  .option(
    '--event-buffer <n>',
    'events a subscriber of the event stream (GET /v1/events) may be behind before it overflows',
    '1000',
  )
  .option(
    '--event-overflow <policy>',
    "what an overflowing event-stream subscriber gets: drop-oldest (then a 'gap' event) or disconnect",
    'drop-oldest',
  )
  .action(
    run(async (dir: string, opts: ServeOptions) => {
      const channel = stdioChannel(opts);
      if (channel === undefined) return;
      const { serve } = await import('./serve.js');
      await serveUntilDone(await serve(dir, { ...opts, ...channel }));
    }),
  );

mcpOptions(
  program
    .command('dev')
    .description(
      'rebuild plugin source projects in DIR on save and reload them in place; serve them over MCP like serve',
    )
    .argument('<dir>', 'a plugin project, or a folder of plugin projects'),
)
  .option(
    '--data <dir>',
    'data folder: store, catalog, audit log, admin endpoint (default: .molt beside DIR)',
  )
  .action(
    run(async (dir: string, opts: DevOptions) => {
      const channel = stdioChannel(opts);
      if (channel === undefined) return;
      const { dev } = await import('./dev.js');
      await serveUntilDone(await dev(dir, { ...opts, ...channel }));
    }),
  );

program
  .command('pack')
  .description('build a plugin project into NAME-VERSION.molt')
  .argument('[dir]', 'the plugin project', '.')
  .option('-o, --out <dir>', 'where to write the .molt (default: the project)')
  .action(
    run(async (dir: string, opts: { out?: string }) => {
      const { pack } = await import('../pack/index.js');
      const r = await pack(dir, opts.out === undefined ? {} : { outDir: opts.out });
      out(r.file);
      line(`packed ${r.manifest.name}@${r.manifest.version} build ${r.manifest.buildId}`);
    }),
  );

program
  .command('validate')
  .description(
    'run the checks the loader runs on an artifact (a .molt file or a plugin folder); exit 0 when it would be accepted',
  )
  .argument('<path>', 'the .molt file or plugin folder')
  .option(
    '--against <data>',
    "also check it as a reload of the plugin a running host serves (that host's data folder)",
  )
  .option('--json', 'machine-readable output')
  .action(
    run(async (path: string, opts: { against?: string; json?: boolean }) => {
      const { printReport, validate } = await import('./validate.js');
      const report = await validate(
        path,
        opts.against === undefined ? undefined : resolve(opts.against),
      );
      process.exitCode = printReport(report, opts.json === true);
    }),
  );

program
  .command('soak')
  .description(
    'call each tool with its examples from N callers while the plugin reloads K times; exit 1 on a lost or failed call, a state drift or a p99 under churn over X× the steady one',
  )
  .argument('<artifact>', 'the .molt file or plugin folder')
  .option('--callers <n>', 'concurrent callers', '8')
  .option('--every <ms>', 'a reload every this many ms', '100')
  .option('--reloads <k>', 'how many reloads', '10')
  .option('--calls <n>', 'calls per caller in the state comparison runs', '50')
  .option('--max-p99-ratio <x>', 'most the churn p99 may be, times the steady p99', '10')
  .option('--p99-floor-ms <ms>', 'a churn p99 under this passes whatever its ratio', '10')
  .option('--max-ms <ms>', 'bound on the whole soak: calls unanswered by then are lost', '120000')
  .option('--json', 'machine-readable output')
  .action(
    run(async (path: string, opts: SoakFlags & { json?: boolean }) => {
      const { runSoak } = await import('./soak.js');
      process.exitCode = await runSoak(resolve(path), opts, opts.json === true);
    }),
  );

program
  .command('status')
  .description('the plugins of a running host')
  .option(...dataOption, '.molt')
  .option('--json', 'machine-readable output')
  .action(
    run(async (opts: { data: string; json?: boolean }) => {
      const { status } = await import('./remote.js');
      await status(resolve(opts.data), opts.json === true);
    }),
  );

/** A canary's flags, on `molt reload` and `molt install`. */
function canaryOptions(command: Command): void {
  command
    .option(
      '--canary <share>',
      'serve the new generation beside the running one on this share of new calls (10% or 0.1) and swap only once it passes its gate; waits for the outcome',
    )
    .option('--canary-min-calls <n>', 'calls the canary is judged on before it is decided (100)')
    .option('--canary-timeout <ms>', 'abort the canary if still undecided after this long (600000)')
    .option('--canary-max-error-rate <r>', "the candidate's error-rate ceiling (the host's)")
    .option('--canary-max-p99-ratio <x>', "the candidate's p99 over the current's (the host's)");
}

/** A shadow's flags, on `molt reload` and `molt install`. */
function shadowOptions(command: Command): void {
  command
    .option(
      '--shadow <share>',
      'first mirror this share of the calls to safe-to-repeat tools (20% or 0.2) to the new generation and compare its answers; waits for the outcome',
    )
    .option('--shadow-calls <n>', 'mirrored calls compared before deciding (100)')
    .option('--compare <what>', "'outcome' (ok or the error code, the default) or 'result' too")
    .option(
      '--shadow-timeout <ms>',
      'refuse the reload if the calls have not come by then (300000)',
    )
    .option('--shadow-max-in-flight <n>', 'mirrored calls in flight at once (more are skipped)')
    .option('--shadow-max-p99-ratio <x>', "the candidate's p99 over the current's (the host's)");
}

/** The canary or shadow the flags ask for (a usage error for both). */
async function gateFlags(opts: CanaryFlags & ShadowFlags) {
  const { canaryFromFlags } = await import('./canary-flags.js');
  const { shadowFromFlags } = await import('./shadow-flags.js');
  const canary = canaryFromFlags(opts);
  const shadow = shadowFromFlags(opts);
  if (canary !== undefined && shadow !== undefined) {
    throw new UsageError('--canary or --shadow, not both');
  }
  return {
    ...(canary === undefined ? {} : { canary }),
    ...(shadow === undefined ? {} : { shadow }),
  };
}

for (const action of ['reload', 'rollback'] as const) {
  const command = program
    .command(action)
    .description(
      action === 'reload'
        ? 'reload a plugin in a fresh generation'
        : 'go back to the previous version',
    )
    .argument('<name>', 'the plugin')
    .option(...dataOption, '.molt');
  if (action === 'rollback') {
    command.option(
      '--discard-state',
      'go back without the current state (when the newer version has no downgrade())',
    );
  } else {
    canaryOptions(command);
    shadowOptions(command);
  }
  command.action(
    run(
      async (
        name: string,
        opts: { data: string; discardState?: boolean } & CanaryFlags & ShadowFlags,
      ) => {
        const { act } = await import('./remote.js');
        await act(resolve(opts.data), action, name, {
          discardState: opts.discardState === true,
          ...(await gateFlags(opts)),
        });
      },
    ),
  );
}

{
  const command = program
    .command('install')
    .description(
      'send a .molt to the running host: checked, installed and swapped in (with --canary or --shadow, only once it passed); kept so a restart serves it',
    )
    .argument('<file>', 'the .molt artifact (molt pack makes one)')
    .option(...dataOption, '.molt');
  canaryOptions(command);
  shadowOptions(command);
  command.action(
    run(async (file: string, opts: { data: string } & CanaryFlags & ShadowFlags) => {
      const { install } = await import('./remote.js');
      await install(resolve(opts.data), resolve(file), await gateFlags(opts));
    }),
  );
}

for (const action of ['promote', 'abort'] as const) {
  program
    .command(action)
    .description(
      action === 'promote'
        ? 'end the trial of the version on probation: it becomes permanent'
        : 'end the trial of the version on probation with a rollback',
    )
    .argument('<name>', 'the plugin')
    .option(...dataOption, '.molt')
    .action(
      run(async (name: string, opts: { data: string }) => {
        const { trial } = await import('./remote.js');
        await trial(resolve(opts.data), action, name);
      }),
    );
}

program
  .command('call')
  .description('call a tool of a running host and print its result')
  .argument('<name>', 'the plugin')
  .argument('<tool>', 'the tool')
  .argument('[args]', 'the arguments, as JSON', '{}')
  .option(...dataOption, '.molt')
  .action(
    run(async (name: string, tool: string, args: string, opts: { data: string }) => {
      const { call } = await import('./remote.js');
      await call(resolve(opts.data), name, tool, args);
    }),
  );

program
  .command('logs')
  .description('the audit log: every load, reload, failure, rollback and removal')
  .option(...dataOption, '.molt')
  .option('-f, --follow', 'keep printing new entries')
  .option('-n, --lines <n>', 'only the last N entries')
  .option('--json', 'raw JSON lines')
  .action(
    run(async (opts: { data: string; follow?: boolean; lines?: string; json?: boolean }) => {
      const { logs } = await import('./logs.js');
      await logs(resolve(opts.data), opts);
    }),
  );

program
  .command('audit')
  .description('the audit log itself')
  .command('verify')
  .description(
    "check the audit log's hash chain: exit 0 if intact, else 1 naming the first bad line",
  )
  .option(...dataOption, '.molt')
  .option('--json', 'machine-readable output')
  .action(
    run(async (opts: { data: string; json?: boolean }) => {
      const { verify } = await import('./audit.js');
      process.exitCode = await verify(resolve(opts.data), opts.json === true);
    }),
  );

await program.parseAsync();
