/**
 * The admin API as the page calls it: every request carries the bearer token in a header (never
 * in a URL), and every failure becomes an `ApiError` with the server's code and message.
 */
import type { AuditPage, PluginStatus } from './wire.js';

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status: number) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export class Api {
  readonly #token: string;

  constructor(token: string) {
    this.#token = token;
  }

  get token(): string {
    return this.#token;
  }

  async plugins(): Promise<PluginStatus[]> {
    const body = await this.#request<{ plugins?: unknown }>('GET', '/v1/plugins');
    return Array.isArray(body?.plugins) ? (body.plugins as PluginStatus[]) : [];
  }

  async plugin(name: string): Promise<PluginStatus | undefined> {
    const body = await this.#request<{ plugin?: PluginStatus }>('GET', pluginPath(name));
    return body?.plugin;
  }

  reload(name: string): Promise<unknown> {
    return this.#request('POST', `${pluginPath(name)}/reload`, '{}', 'application/json');
  }

  rollback(name: string): Promise<unknown> {
    return this.#request('POST', `${pluginPath(name)}/rollback`, '{}', 'application/json');
  }

  upload(file: Blob): Promise<unknown> {
    return this.#request('POST', '/v1/artifacts', file, 'application/octet-stream');
  }

  /** After `after`, oldest first; with no `after` yet, the newest `limit` (a long log's start is not read). */
  async audit(after: number | undefined, limit: number): Promise<AuditPage> {
    const q = new URLSearchParams(
      after === undefined
        ? { last: String(limit) }
        : { after: String(after), limit: String(limit) },
    );
    const body = await this.#request<Partial<AuditPage>>('GET', `/v1/audit?${q}`);
    return {
      entries: Array.isArray(body?.entries) ? body.entries : [],
      ...(typeof body?.next === 'number' ? { next: body.next } : {}),
    };
  }

  async #request<T>(
    method: string,
    path: string,
    body?: BodyInit,
    contentType?: string,
  ): Promise<T | undefined> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}` };
    if (contentType !== undefined) headers['content-type'] = contentType;
    let res: Response;
    try {
      res = await fetch(path, { method, headers, cache: 'no-store', ...(body ? { body } : {}) });
    } catch (err) {
      throw new ApiError('NETWORK', `the admin server cannot be reached: ${describe(err)}`, 0);
    }
    const raw = await res.text().catch(() => '');
    let json: unknown;
    try {
      json = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      json = undefined;
    }
    if (res.ok) return json as T | undefined;
    const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    throw new ApiError(
      typeof error?.code === 'string' ? error.code : `HTTP_${res.status}`,
      typeof error?.message === 'string' ? error.message : res.statusText || 'request failed',
      res.status,
    );
  }
}

function pluginPath(name: string): string {
  return `/v1/plugins/${encodeURIComponent(name)}`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
