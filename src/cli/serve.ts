/** `molt serve DIR`: load every artifact in DIR, watch it, and serve until a signal. */
import { dirname, join, resolve } from 'node:path';
import { EventStream, type EventStreamOptions, eventStreamOptions } from '../admin/event-stream.js';
import { createMetrics } from '../admin/metrics.js';
import { type AdminServer, startAdmin } from '../admin/server.js';
import { readTokenFile } from '../admin/token-file.js';
import { Deployment, type DeploymentOptions, type DeployStep } from '../deploy/deployment.js';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import { type FolderEvent, PluginFolder } from '../watch/plugin-folder.js';
import { announceMcp, type McpFlags, mcpPlan, startMcp } from './mcp-serve.js';
import { line, ms } from './output.js';

export interface ServeOptions extends McpFlags {
  data?: string;
  probation?: string;
  stable?: string;
  isolation?: string;
  /** The admin API's port (default: any free one). */
  admin?: string;
  adminHost?: string;
  adminTokenFile?: string;
  metricsPublic?: boolean;
  /** `--event-buffer` and `--event-overflow`: the event stream's per-subscriber bound and policy. */
  eventBuffer?: string;
  eventOverflow?: string;
}

/** How long a stop waits for MCP calls in flight: the host's own drain timeout. */
export const DRAIN_MS = 10_000;

export const defaultDataDir = (pluginsDir: string): string =>
  join(dirname(resolve(pluginsDir)), '.molt');

/**
 * Test hook: `MOLT_TEST_KILL_AT=<step>` SIGKILLs this process when a change made after start-up
 * reaches that step, so tests can prove a restart comes back consistent from every point of a
 * reload.
 */
const killAt = process.env.MOLT_TEST_KILL_AT;
let killArmed = false;
const killHook = (step: DeployStep): void => {
  if (killArmed && step === killAt) process.kill(process.pid, 'SIGKILL');
};

export function describe(e: FolderEvent): string {
  switch (e.type) {
    case 'accepted':
      return `+ ${e.candidate.name}@${e.candidate.version} (${e.candidate.buildId.slice(0, 12)}) from ${e.candidate.path}`;
    case 'rejected':
      return `✗ refused ${e.path}: ${e.code} ${e.message}`;
    case 'activated':
      return `✓ ${e.name}@${e.version} ${e.buildId.slice(0, 12)} ${e.action} in ${ms(e.ms)}`;
    case 'failed':
      return `✗ ${e.name}@${e.version}: ${e.code} ${e.message} (previous version keeps serving)`;
    case 'waiting':
      return `… ${e.name}@${e.version} waits for ${e.waitingFor.map((w) => `${w.contract}@${w.range}`).join(', ')} (loads when a provider does)`;
    case 'kept':
      return `! ${e.name}'s files left, but ${e.dependents.join(', ')} need it: it serves on until they go`;
    case 'removed':
      return `- ${e.name} unloaded (its files go on the next start)`;
    default: {
      const unreachable: never = e;
      return String(unreachable);
    }
  }
}

export interface Running {
  deployment: Deployment;
  admin: AdminServer;
  stop(): Promise<void>;
  /** With --stdio: resolves when the client closes stdin (the server then stops). */
  stdioClosed: Promise<void> | undefined;
  /** With --http: the URL it listens on (the real port when asked for port 0). */
  mcpUrl: string | undefined;
  /** Every host event as Server-Sent Events, for the admin API's `GET /v1/events`. */
  events: EventStream;
}

export async function openDeployment(
  dataDir: string,
  probation?: string,
  isolation?: string,
  more: Partial<DeploymentOptions> = {},
): Promise<Deployment> {
  return Deployment.open({
    ...more,
    dataDir,
    ...(probation === undefined ? {} : { probationMs: Number(probation) }),
    ...(isolation === undefined ? {} : { isolation: isolation as 'worker' | 'process' }),
    ...(killAt === undefined ? {} : { onStep: killHook }),
  });
}

/**
 * Serves `dir`. A caller that must prepare the folder first (npm start packs into it) opens the
 * deployment itself and passes it in: the data folder's lock is then held before anything is
 * touched, so a second host fails with DATA_LOCKED having changed nothing.
 */
export async function serve(
  dir: string,
  options: ServeOptions,
  opened?: Deployment,
): Promise<Running> {
  // Refused before anything opens: a server that would be unsafe does not start at all.
  const plan = await mcpPlan(options);
  const dataDir = resolve(options.data ?? defaultDataDir(dir));
  // Checked before the data folder is locked or anything loads: a bad flag changes nothing.
  const eventOptions = eventFlags(options);
  // A token file that is refused stops the start before the data folder is touched.
  const token =
    options.adminTokenFile === undefined ? undefined : await readTokenFile(options.adminTokenFile);
  const deployment =
    opened ?? (await openDeployment(dataDir, options.probation, options.isolation));
  const folder = new PluginFolder(dir, deployment, {
    ...(options.stable === undefined ? {} : { stableMs: Number(options.stable) }),
    onEvent: (e) => line(describe(e)),
  });
  // Listening before the first load, so a subscriber that replays from id 0 sees every event.
  const events = new EventStream(deployment.host, eventOptions);
  await folder.start();
  killArmed = true;
  // Read at scrape time: the MCP front door, made below, counts its sessions by then.
  let mcpSessions = (): number => 0;
  const metrics = createMetrics(deployment.host, {
    eventStream: events,
    mcpSessions: () => mcpSessions(),
    deployment,
  });
  const admin = await startAdmin(deployment, dataDir, {
    metrics,
    ...(options.admin === undefined ? {} : { port: portOption('--admin', options.admin) }),
    ...(options.adminHost === undefined ? {} : { host: options.adminHost }),
    ...(token === undefined ? {} : { token }),
    metricsPublic: options.metricsPublic === true,
    pluginsDir: resolve(dir),
    events,
  });
  const mcp = plan === undefined ? undefined : await startMcp(deployment.host, plan);
  if (mcp !== undefined) mcpSessions = () => mcp.door.sessions;
  const count = deployment.status().length;
  line(
    `ready: serving ${count} plugin(s) from ${resolve(dir)} (data ${dataDir}, admin ${admin.url})`,
  );
  if (options.adminHost !== undefined) {
    line(
      `admin: listening on ${options.adminHost} port ${new URL(admin.url).port} (plain HTTP: the token travels in clear)`,
    );
  }
  announceMcp(mcp);
  /**
   * A graceful stop: no new artifacts, no new MCP requests; the MCP calls in flight finish (up
   * to the drain timeout), then sessions close and every plugin drains.
   */
  const stop = async (): Promise<void> => {
    await folder.close();
    await mcp?.close({ drainMs: DRAIN_MS });
    events.close();
    metrics.close();
    await admin.close();
    await deployment.close();
  };
  return { deployment, admin, stop, stdioClosed: mcp?.stdioClosed, mcpUrl: mcp?.url, events };
}

function portOption(flag: string, text: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535) {
    throw new MoltError(
      ErrorCodes.OPTIONS_INVALID,
      `${flag} must be a port from 0 to 65535, got ${text}`,
    );
  }
  return port;
}

function eventFlags(options: ServeOptions): EventStreamOptions {
  try {
    return eventStreamOptions({
      ...(options.eventBuffer === undefined ? {} : { buffer: Number(options.eventBuffer) }),
      ...(options.eventOverflow === undefined
        ? {}
        : { policy: options.eventOverflow as EventStreamOptions['policy'] }),
    });
  } catch (err) {
    const flag = isMoltError(err) && err.details?.option === 'policy' ? 'overflow' : 'buffer';
    throw new MoltError(
      ErrorCodes.OPTIONS_INVALID,
      `--event-${flag}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** Runs until SIGINT/SIGTERM, then shuts down gracefully (a second signal forces the exit). */
export function untilSignal(stop: () => Promise<void>): void {
  let stoppingSince = 0;
  const onSignal = (): void => {
    // A terminal's Ctrl-C and npm's forwarded copy arrive together: only a later one forces.
    if (stoppingSince !== 0) {
      if (Date.now() - stoppingSince > 1_000) process.exit(1);
      return;
    }
    stoppingSince = Date.now();
    line('stopping: draining plugins…');
    void stop().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
