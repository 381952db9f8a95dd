/**
 * `molt dev DIR`: rebuild plugin source projects on save and reload them in place, with the same
 * MCP front door as `molt serve` (`--stdio`, `--http`), so a connected client sees each save
 * without reconnecting (and `list_changed` when the tool list changed).
 */
import { resolve } from 'node:path';
import { type AdminServer, startAdmin } from '../admin/server.js';
import type { Deployment } from '../deploy/deployment.js';
import { DevSession } from '../dev/dev.js';
import { announceMcp, type McpFlags, type McpServing, mcpPlan, startMcp } from './mcp-serve.js';
import { line, ms } from './output.js';
import { DRAIN_MS, defaultDataDir, openDeployment } from './serve.js';

export interface DevOptions extends McpFlags {
  data?: string;
}

export interface DevRunning {
  deployment: Deployment;
  admin: AdminServer;
  /** With --http: the URL it listens on (the real port when asked for port 0). */
  mcpUrl: string | undefined;
  /** With --stdio: resolves when the client closes its input (the caller then stops). */
  stdioClosed: Promise<void> | undefined;
  stop(): Promise<void>;
}

export async function dev(dir: string, options: DevOptions): Promise<DevRunning> {
  // Refused before the data folder is locked or anything builds, as for serve.
  const plan = await mcpPlan(options);
  const dataDir = resolve(options.data ?? defaultDataDir(dir));
  // Tools come and go while a plugin is written: no reload is refused for a schema break.
  const deployment = await openDeployment(dataDir, '0', undefined, { schemaCompat: 'off' });
  const session = new DevSession(dir, deployment, (r) =>
    line(
      r.ok
        ? `✓ ${r.name}@${r.version} ${r.buildId.slice(0, 12)} ${r.action} in ${ms(r.ms)}`
        : `✗ ${r.name}: ${r.message} (the running version keeps serving)`,
    ),
  );
  let admin: AdminServer | undefined;
  let mcp: McpServing | undefined;
  try {
    await session.start();
    admin = await startAdmin(deployment, dataDir);
    mcp = plan === undefined ? undefined : await startMcp(deployment.host, plan);
  } catch (err) {
    // A port in use, say: the data folder's lock is let go so the next try can take it.
    await session.close();
    await admin?.close();
    await deployment.close();
    throw err;
  }
  line(`ready: watching ${resolve(dir)} (data ${dataDir}, admin ${admin.url})`);
  announceMcp(mcp);
  return {
    deployment,
    admin,
    mcpUrl: mcp?.url,
    stdioClosed: mcp?.stdioClosed,
    stop: async () => {
      await session.close();
      await mcp?.close({ drainMs: DRAIN_MS });
      await admin.close();
      await deployment.close();
    },
  };
}
