/**
 * Serves the operator dashboard's page and assets (built by scripts/bundle-dashboard.mjs into
 * `dashboard/` beside this module). The admin server calls it before authentication: the page
 * itself holds no data, it asks for the token and sends it on every API call.
 *
 * Three fixed paths map to three files, so no request path ever reaches the file system. The
 * Content-Security-Policy allows scripts and styles from this origin only and connections back
 * to it: even a plugin name that got past the page's escaping could not run or exfiltrate.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';

interface Asset {
  file: string;
  type: string;
}

const ASSETS: Readonly<Record<string, Asset>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

interface Loaded {
  body: Buffer;
  etag: string;
}

const dir = new URL('./dashboard/', import.meta.url);
/** Each file read once, on its first request; a failed read is retried on the next one. */
const cache = new Map<string, Promise<Loaded>>();

function load(asset: Asset): Promise<Loaded> {
  let loaded = cache.get(asset.file);
  if (loaded === undefined) {
    loaded = readFile(new URL(asset.file, dir)).then((body) => ({
      body,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    }));
    cache.set(asset.file, loaded);
    loaded.catch(() => cache.delete(asset.file));
  }
  return loaded;
}

function pathOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://x').pathname;
  } catch {
    return undefined;
  }
}

/**
 * Answers `GET`/`HEAD` of the dashboard's page (`/`) and assets; returns false, having written
 * nothing, for any other path. Other methods on those paths get 405.
 */
export function serveDashboard(req: IncomingMessage, res: ServerResponse): boolean {
  const path = pathOf(req.url);
  const asset = path === undefined ? undefined : ASSETS[path];
  if (asset === undefined) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', ...SECURITY_HEADERS }).end();
    return true;
  }
  load(asset).then(
    ({ body, etag }) => {
      const headers = {
        'content-type': asset.type,
        // Revalidate every time: a rebuilt dashboard is never served stale, an unchanged one is a 304.
        'cache-control': 'no-cache',
        etag,
        ...SECURITY_HEADERS,
      };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers).end();
        return;
      }
      res.writeHead(200, { ...headers, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
    () => {
      res.writeHead(500, { 'content-type': 'application/json', ...SECURITY_HEADERS });
      res.end(
        JSON.stringify({
          error: { code: 'INTERNAL', message: 'the dashboard is not built: run npm run build' },
        }),
      );
    },
  );
  return true;
}
