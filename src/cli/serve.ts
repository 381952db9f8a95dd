/** `molt serve DIR`: load every artifact in DIR, watch it, and serve until a signal. */
import { dirname, join, resolve } from 'node:path';
import { type ControlServer, startControl } from '../control/server.js';
import { Deployment, type DeployStep } from '../deploy/deployment.js';
import { type FolderEvent, PluginFolder } from '../watch/plugin-folder.js';
import { line, ms } from './output.js';

export interface ServeOptions {
  data?: string;
  probation?: string;
  stable?: string;
}

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
  control: ControlServer;
  stop(): Promise<void>;
}

export async function openDeployment(dataDir: string, probation?: string): Promise<Deployment> {
  return Deployment.open({
    dataDir,
    ...(probation === undefined ? {} : { probationMs: Number(probation) }),
    ...(killAt === undefined ? {} : { onStep: killHook }),
  });
}

export async function serve(dir: string, options: ServeOptions): Promise<Running> {
  const dataDir = resolve(options.data ?? defaultDataDir(dir));
  const deployment = await openDeployment(dataDir, options.probation);
  const folder = new PluginFolder(dir, deployment, {
    ...(options.stable === undefined ? {} : { stableMs: Number(options.stable) }),
    onEvent: (e) => line(describe(e)),
  });
  await folder.start();
  killArmed = true;
  const control = await startControl(deployment, dataDir);
  const count = deployment.status().length;
  line(
    `ready: serving ${count} plugin(s) from ${resolve(dir)} (data ${dataDir}, control ${control.endpoint.url})`,
  );
  return {
    deployment,
    control,
    async stop() {
      await folder.close();
      await control.close();
      await deployment.close();
    },
  };
}

/** Runs until SIGINT/SIGTERM, then shuts down gracefully (a second signal forces the exit). */
export function untilSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    line('stopping: draining plugins…');
    void stop().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
