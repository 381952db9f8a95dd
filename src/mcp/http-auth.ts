/**
 * Bearer authentication of the MCP HTTP server: one shared token (the CLI's `--token-file` or
 * `MOLT_MCP_TOKEN`), or an OAuth 2.1 resource server whose access tokens an embedder's verifier
 * checks. Both answer as the MCP authorization spec and the SDK's `requireBearerAuth` do: 401 with
 * `WWW-Authenticate: Bearer …` (naming the RFC 9728 protected-resource metadata when there is
 * some), 403 `insufficient_scope`. Written on node:http rather than adopting the SDK's Express
 * middleware: the server is a single route on node:http, and the contract is a header and a
 * status, not worth a framework in the request path.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';

/** An OAuth authorization server in front of molt: molt is the resource server. */
export interface McpOAuth {
  /** Checks an access token (JWT validation, RFC 7662 introspection…) and says what it grants. */
  verifier: OAuthTokenVerifier;
  /** The public URL of the MCP endpoint (`https://mcp.example.com/mcp`): the token's audience. */
  resource: string;
  /** Issuers whose tokens are accepted, published in the protected-resource metadata. */
  authorizationServers: string[];
  /** Scopes every request needs (403 `insufficient_scope` without them). */
  requiredScopes?: string[];
}

export type AuthVerdict =
  | { ok: true; info?: AuthInfo }
  | { ok: false; status: 401 | 403 | 500; challenge?: string; message: string };

/** Largest Authorization header read; a longer one is refused before any hashing. */
const MAX_AUTHORIZATION = 16 * 1024;

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The RFC 9728 metadata URL for a resource: `/.well-known/oauth-protected-resource` + its path. */
export function resourceMetadataUrl(resource: string): URL {
  const u = new URL(resource);
  const path = u.pathname === '/' ? '' : u.pathname;
  return new URL(`/.well-known/oauth-protected-resource${path}`, u);
}

export function resourceMetadata(oauth: McpOAuth): Record<string, unknown> {
  return {
    resource: oauth.resource,
    authorization_servers: oauth.authorizationServers,
    bearer_methods_supported: ['header'],
    ...(oauth.requiredScopes === undefined ? {} : { scopes_supported: oauth.requiredScopes }),
  };
}

function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined || header.length > MAX_AUTHORIZATION) return undefined;
  const m = /^Bearer +([^\s]+) *$/i.exec(header);
  return m?.[1];
}

const sameResource = (a: string | URL, b: string): boolean => {
  const bare = (v: string): string => v.replace(/#.*$/, '').replace(/\/$/, '');
  return bare(String(a)) === bare(b);
};

/** The check for one server: a shared token, an OAuth verifier, or none (everyone passes). */
export function authCheck(
  auth: { token: string } | { oauth: McpOAuth } | undefined,
): (req: IncomingMessage) => Promise<AuthVerdict> {
  if (auth === undefined) return async () => ({ ok: true });
  if ('token' in auth) {
    // Hashes compare in constant time whatever the lengths.
    const expected = digest(auth.token);
    return async (req) => {
      const given = bearer(req);
      if (given === undefined) {
        return {
          ok: false,
          status: 401,
          challenge: 'Bearer realm="molt"',
          message: 'Unauthorized: send Authorization: Bearer <token>',
        };
      }
      if (!timingSafeEqual(digest(given), expected)) {
        return {
          ok: false,
          status: 401,
          challenge: 'Bearer realm="molt", error="invalid_token"',
          message: 'Unauthorized: wrong token',
        };
      }
      return { ok: true };
    };
  }
  const { oauth } = auth;
  const scopes = oauth.requiredScopes ?? [];
  const challenge = (error?: string): string =>
    [
      'Bearer realm="molt"',
      ...(error === undefined ? [] : [`error="${error}"`]),
      ...(scopes.length > 0 ? [`scope="${scopes.join(' ')}"`] : []),
      `resource_metadata="${resourceMetadataUrl(oauth.resource).href}"`,
    ].join(', ');
  const refuse = (message: string): AuthVerdict => ({
    ok: false,
    status: 401,
    challenge: challenge('invalid_token'),
    message: `Unauthorized: ${message}`,
  });
  return async (req) => {
    const token = bearer(req);
    if (token === undefined) {
      return {
        ok: false,
        status: 401,
        challenge: challenge(),
        message: 'Unauthorized: send an OAuth access token (Authorization: Bearer <token>)',
      };
    }
    let info: AuthInfo;
    try {
      info = await oauth.verifier.verifyAccessToken(token);
    } catch (err) {
      const name = (err as Error)?.name;
      // The SDK's errors: an invalid token is the client's to fix; anything else is ours.
      if (name === 'InvalidTokenError') return refuse((err as Error).message);
      return { ok: false, status: 500, message: 'token verification failed' };
    }
    if (info.resource !== undefined && !sameResource(info.resource, oauth.resource)) {
      return refuse('the token was not issued for this resource');
    }
    if (typeof info.expiresAt !== 'number' || Number.isNaN(info.expiresAt)) {
      return refuse('the token has no expiry');
    }
    if (info.expiresAt < Date.now() / 1000) return refuse('the token has expired');
    if (!scopes.every((s) => info.scopes.includes(s))) {
      return {
        ok: false,
        status: 403,
        challenge: challenge('insufficient_scope'),
        message: `Forbidden: the token lacks scope ${scopes.join(' ')}`,
      };
    }
    return { ok: true, info };
  };
}
