/**
 * Which `Host` and `Origin` headers the MCP HTTP server answers: the defence against DNS
 * rebinding. A page on `http://evil.example` whose name the attacker re-points at 127.0.0.1 reaches
 * a loopback server with `Host: evil.example:PORT` and `Origin: http://evil.example:PORT`; a server
 * that answers only the names it is really reached by, and only pages of its own origin, never
 * serves that page. Requests without `Origin` (every non-browser client) are allowed.
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface AccessOptions {
  /** The address the server is bound to (`127.0.0.1`, `::1`, `0.0.0.0`, a host name). */
  bind: string;
  /** The port it listens on (the real one when asked for port 0). */
  port: number;
  /** More `Host` values: `name` (any port) or `name:port`. IPv6 in brackets or bare. */
  allowedHosts?: readonly string[];
  /** More `Origin` values: `scheme://name[:port]`. */
  allowedOrigins?: readonly string[];
}

export type AccessVerdict = { ok: true } | { ok: false; message: string };

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export function isLoopback(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[|\]$/g, '');
  return (
    a === 'localhost' ||
    a === '::1' ||
    (isIP(a) === 4 && a.startsWith('127.')) ||
    (a.startsWith('::ffff:') && a.slice(7).startsWith('127.'))
  );
}

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '[::]';
}

/** A host name as it appears in a URL: lower case, IPv6 in brackets. */
function urlHost(name: string): string {
  const bare = name.replace(/^\[|\]$/g, '');
  return isIP(bare) === 6 ? `[${bare.toLowerCase()}]` : bare.toLowerCase();
}

/** `Host` value → `hostname` and port ('' when absent), or undefined if it is not one. */
function parseHost(value: string): { hostname: string; port: string } | undefined {
  // The URL parser rejects userinfo tricks only if we refuse them first.
  if (value === '' || /[/@?#\s]/.test(value)) return undefined;
  try {
    const u = new URL(`http://${value}`);
    // URL drops the default port: say it, so `name:80` and `name` compare as the same Host.
    const explicit = /:\d+$/.test(value);
    return { hostname: u.hostname, port: u.port !== '' ? u.port : explicit ? '80' : '' };
  } catch {
    return undefined;
  }
}

/** The names this machine is reached by over its interfaces, for a wildcard bind. */
function interfaceHosts(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((i) => urlHost(i.address));
}

/** Parses `--allowed-hosts` style entries; throws on one that is not a host. */
function hostEntries(values: readonly string[]): { hostname: string; port: string }[] {
  return values.map((v) => {
    const bare = v.trim();
    const parsed = parseHost(isIP(bare) === 6 ? `[${bare}]` : bare);
    if (parsed === undefined) throw new Error(`"${v}" is not a host name (name or name:port)`);
    return parsed;
  });
}

function originOf(value: string): string | undefined {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

/**
 * Builds the check for one server. Throws (plain `Error`, the caller types it) when an allowed
 * host or origin given is not one.
 */
export function accessCheck(
  options: AccessOptions,
): (headers: { host?: string | undefined; origin?: string | undefined }) => AccessVerdict {
  const port = String(options.port);
  // The server's own names, each with its bound port: the Hosts it is really reached by.
  const own = isLoopback(options.bind)
    ? [...new Set([...LOOPBACK_NAMES, urlHost(options.bind)])]
    : isWildcard(options.bind)
      ? [...new Set([...LOOPBACK_NAMES, ...interfaceHosts()])]
      : [urlHost(options.bind)];
  const hosts = [
    ...own.map((hostname) => ({ hostname, port })),
    ...hostEntries(options.allowedHosts ?? []),
  ];
  const origins = new Set(own.map((h) => `http://${h}:${port}`));
  for (const o of options.allowedOrigins ?? []) {
    const origin = originOf(o.trim());
    if (origin === undefined) throw new Error(`"${o}" is not an origin (http[s]://name[:port])`);
    origins.add(origin);
  }
  return ({ host, origin }) => {
    const parsed = host === undefined ? undefined : parseHost(host);
    if (parsed === undefined) return { ok: false, message: `Forbidden: bad Host header` };
    const served = hosts.some(
      (h) =>
        h.hostname === parsed.hostname &&
        (h.port === '' || h.port === (parsed.port === '' ? '80' : parsed.port)),
    );
    if (!served) {
      return {
        ok: false,
        message: `Forbidden: Host ${parsed.hostname} is not served here (--allowed-hosts adds names)`,
      };
    }
    if (origin !== undefined) {
      const o = originOf(origin);
      if (o === undefined || !origins.has(o)) {
        return {
          ok: false,
          message: `Forbidden: Origin ${origin.slice(0, 200)} is not allowed (--allowed-origins adds origins)`,
        };
      }
    }
    return { ok: true };
  };
}
