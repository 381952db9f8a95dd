/**
 * The admin API's route table: one row per route, with who may call it. The server checks the
 * token from the row's `access` before any handler runs, so a route added here cannot skip auth
 * by accident (the tests walk this table).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  ActivateOptions,
  Deployment,
  InstallResult,
  PluginStatus,
  WaitingPlugin,
} from '../deploy/deployment.js';
import type { LastReload } from '../deploy/reload-history.js';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';
import type { ArtifactRef } from '../events/events.js';
import { type CanaryOptions, canaryRules } from '../runtime/canary.js';
import { DEFAULT_PROBATION_RULES } from '../runtime/promotion.js';
import type { LoadResult } from '../runtime/reload.js';
import { resolveShadow, type ShadowOptions } from '../runtime/shadow.js';
import type { TrialStatus } from '../runtime/slot.js';
import { type AuditPage, auditPage, parseAuditQuery } from './audit-page.js';
import { serveDashboard } from './dashboard.js';
import type { UploadAnswer, Uploads } from './uploads.js';

/** The event stream, as its module delivers it: it writes the response itself. */
export interface EventsSource {
  serve(req: IncomingMessage, res: ServerResponse): void;
}

/** Prometheus metrics, as their module delivers them. */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

/**
 * `token`: the bearer token is required. `public`: never (a page that holds no data).
 * `metrics`: required unless the server was started with `metricsPublic`.
 */
export type Access = 'token' | 'public' | 'metrics';

export interface AdminDeps {
  deployment: Deployment;
  uploads: Uploads;
  events: EventsSource | undefined;
  metrics: MetricsSource | undefined;
}

export interface RouteContext extends AdminDeps {
  req: IncomingMessage;
  res: ServerResponse;
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  /** The request's JSON body (bounded; `undefined` when empty). */
  body(): Promise<unknown>;
}

export type Answer =
  | { json: unknown }
  | { text: string; contentType: string }
  /** The handler wrote the response itself (the event stream). */
  | { streamed: true };

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Segments; `:x` binds one segment to `params.x`, a last `*` the rest to `params['*']`. */
  path: string;
  access: Access;
  handle(ctx: RouteContext): Promise<Answer>;
}

export interface PluginDetail extends Omit<PluginStatus, 'installed' | 'knownGood'> {
  installed: { version: string; buildId: string; installedAt: string }[];
  knownGood: ArtifactRef | null;
  lastReload: LastReload | null;
}

/** The manifest's rule for names; anything else cannot be a plugin (nor reach the catalog). */
const PLUGIN_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

function unknownPlugin(name: string): MoltError {
  return new MoltError(ErrorCodes.UNKNOWN_PLUGIN, `no plugin named "${name}" is installed`, {
    details: { plugin: name },
  });
}

/** The `:name` of a route, refused as unknown unless it could be a plugin's name. */
function pluginName(ctx: RouteContext): string {
  const name = ctx.params.name ?? '';
  if (!PLUGIN_NAME.test(name)) throw unknownPlugin(name);
  return name;
}

function notFound(what: string): MoltError {
  return new MoltError(ErrorCodes.NOT_FOUND, what);
}

/** A body that must be a JSON object when given (the tool's arguments, rollback's options). */
async function objectBody(ctx: RouteContext): Promise<Record<string, unknown>> {
  const body = await ctx.body();
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MoltError(ErrorCodes.INVALID_REQUEST, 'the request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

function detail(deployment: Deployment, name: string): PluginDetail {
  const status = deployment.status().find((p) => p.name === name);
  if (status === undefined) throw unknownPlugin(name);
  const installed = deployment.catalog.plugin(name)?.installed ?? [];
  return {
    ...status,
    installed: installed.map(({ version, buildId, installedAt }) => ({
      version,
      buildId,
      installedAt,
    })),
    knownGood: status.knownGood ?? null,
    lastReload: deployment.reloads.last(name) ?? null,
  };
}

const json = <T>(value: T): { json: T } => ({ json: value });

/** Runs the host's own check of a gate's options: a refusal is the request's fault (400). */
function requestFault(check: () => unknown): void {
  try {
    check();
  } catch (err) {
    if (!isMoltError(err)) throw err;
    throw new MoltError(ErrorCodes.INVALID_REQUEST, err.message, { details: err.details });
  }
}

/**
 * A reload's `{ canary }` or `{ shadow }` (or neither), checked here so a bad one is the
 * request's fault (400), not the host's state (409).
 */
function gateOptions(body: Record<string, unknown>): ActivateOptions {
  const { canary, shadow } = body;
  if (canary === undefined && shadow === undefined) return {};
  if (canary !== undefined && shadow !== undefined) {
    throw new MoltError(
      ErrorCodes.INVALID_REQUEST,
      'a reload takes a canary or a shadow, not both',
    );
  }
  if (shadow !== undefined) {
    requestFault(() => resolveShadow(shadow, 1));
    return { shadow: shadow as ShadowOptions };
  }
  requestFault(() => canaryRules(canary, DEFAULT_PROBATION_RULES));
  return { canary: canary as CanaryOptions };
}

/** The upload's gate, in the `Molt-Reload-Options` header: the reload route's body, as JSON. */
function uploadGate(c: RouteContext): ActivateOptions {
  const header = c.req.headers['molt-reload-options'];
  if (header === undefined) return {};
  let body: unknown;
  try {
    body = JSON.parse(Array.isArray(header) ? (header[0] ?? '') : header);
  } catch {
    body = undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MoltError(
      ErrorCodes.INVALID_REQUEST,
      'Molt-Reload-Options must be a JSON object: {"canary":{…}} or {"shadow":{…}}',
    );
  }
  return gateOptions(body as Record<string, unknown>);
}

export const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: '/v1/plugins',
    access: 'token',
    handle: async (
      c,
    ): Promise<{
      json: {
        plugins: PluginStatus[];
        waiting: WaitingPlugin[];
        hostContracts: Record<string, string>;
      };
    }> =>
      json({
        plugins: c.deployment.status(),
        waiting: [...c.deployment.waiting.values()],
        hostContracts: c.deployment.host.hostContracts(),
      }),
  },
  {
    method: 'GET',
    path: '/v1/plugins/:name',
    access: 'token',
    handle: async (c): Promise<{ json: { plugin: PluginDetail } }> =>
      json({ plugin: detail(c.deployment, pluginName(c)) }),
  },
  {
    method: 'POST',
    path: '/v1/plugins/:name/reload',
    access: 'token',
    handle: async (c): Promise<{ json: InstallResult }> => {
      const name = pluginName(c);
      return json(await c.deployment.reload(name, gateOptions(await objectBody(c))));
    },
  },
  {
    method: 'POST',
    path: '/v1/plugins/:name/rollback',
    access: 'token',
    handle: async (c): Promise<{ json: LoadResult }> => {
      const name = pluginName(c);
      const { discardState } = await objectBody(c);
      if (discardState !== undefined && typeof discardState !== 'boolean') {
        throw new MoltError(ErrorCodes.INVALID_REQUEST, 'discardState must be true or false');
      }
      return json(await c.deployment.rollback(name, { discardState: discardState === true }));
    },
  },
  {
    method: 'POST',
    path: '/v1/plugins/:name/promote',
    access: 'token',
    handle: async (c): Promise<{ json: TrialStatus }> => {
      const name = pluginName(c);
      await objectBody(c);
      return json(await c.deployment.promote(name));
    },
  },
  {
    method: 'POST',
    path: '/v1/plugins/:name/abort',
    access: 'token',
    handle: async (c): Promise<{ json: LoadResult }> => {
      const name = pluginName(c);
      await objectBody(c);
      return json(await c.deployment.abort(name));
    },
  },
  {
    method: 'DELETE',
    path: '/v1/plugins/:name',
    access: 'token',
    handle: async (c): Promise<{ json: { unloaded: string } }> => {
      const name = pluginName(c);
      await objectBody(c);
      // A name the host and catalog never knew is not removed: that would invent a record.
      if (c.deployment.host.plugin(name) === undefined && !c.deployment.catalog.plugin(name))
        throw unknownPlugin(name);
      await c.deployment.remove(name);
      return json({ unloaded: name });
    },
  },
  {
    method: 'POST',
    path: '/v1/plugins/:name/tools/:tool',
    access: 'token',
    handle: async (c): Promise<{ json: { result: unknown } }> => {
      const name = pluginName(c);
      const args = await objectBody(c);
      // A client that hangs up cancels its call, down to the plugin's ctx.signal.
      const cancel = new AbortController();
      c.res.once('close', () => {
        if (!c.res.writableFinished) cancel.abort();
      });
      const result = await c.deployment.host.call(name, c.params.tool ?? '', args, {
        signal: cancel.signal,
      });
      return json({ result });
    },
  },
  {
    method: 'POST',
    path: '/v1/artifacts',
    access: 'token',
    handle: async (c): Promise<{ json: UploadAnswer }> => {
      const type = (c.req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/octet-stream' && type !== 'application/zip') {
        throw new MoltError(
          ErrorCodes.INVALID_REQUEST,
          'send the .molt file as the raw body, content-type application/octet-stream (curl --data-binary @FILE)',
        );
      }
      return json(await c.uploads.install(c.req, c.deployment, uploadGate(c)));
    },
  },
  {
    method: 'GET',
    path: '/v1/audit',
    access: 'token',
    handle: async (c): Promise<{ json: AuditPage }> =>
      json(await auditPage(c.deployment.audit.file, parseAuditQuery(c.query))),
  },
  {
    method: 'GET',
    path: '/v1/events',
    access: 'token',
    handle: async (c) => {
      if (c.events === undefined) throw notFound('this host serves no event stream');
      c.events.serve(c.req, c.res);
      return { streamed: true };
    },
  },
  {
    method: 'GET',
    path: '/metrics',
    access: 'metrics',
    handle: async (c) => {
      if (c.metrics === undefined) throw notFound('this host serves no metrics');
      return { text: await c.metrics.render(), contentType: c.metrics.contentType };
    },
  },
  // The dashboard's page and assets hold no data (the page asks for the token for every call).
  ...['/', '/dashboard/*'].map(
    (path): Route => ({
      method: 'GET',
      path,
      access: 'public',
      handle: async (c) => {
        if (!serveDashboard(c.req, c.res)) throw notFound('the dashboard has no such file');
        return { streamed: true };
      },
    }),
  ),
];

/** The route for a method and path segments, with the segments its pattern binds. */
export function findRoute(
  method: string | undefined,
  parts: readonly string[],
): { route: Route; params: Record<string, string> } | undefined {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const params = bind(route.path, parts);
    if (params !== undefined) return { route, params };
  }
  return undefined;
}

function bind(path: string, parts: readonly string[]): Record<string, string> | undefined {
  const pattern = path.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    if (p === '*' && i === pattern.length - 1) {
      params['*'] = parts.slice(i).join('/');
      return params;
    }
    const part = parts[i];
    if (part === undefined) return undefined;
    if (p.startsWith(':')) params[p.slice(1)] = part;
    else if (p !== part) return undefined;
  }
  return parts.length === pattern.length ? params : undefined;
}
