import { randomBytes } from 'node:crypto';
import { ReplyError, type Reply, type SandboxRequest } from './http';

/**
 * The OAuth2 token server (client credentials, RFC 6749 §4.4) and the bearer check the stand-in
 * APIs share. Clients authenticate with HTTP Basic (id and secret form-encoded, §2.3.1) or with
 * `client_id`/`client_secret` in the form body; `scope` and `audience` are accepted and echoed.
 * Tokens are opaque and expire after `ttlSeconds`.
 */

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
}

/** The demo's client: the accounting-export integration's credentials in the seed and the README. */
export const DEFAULT_CLIENT: OAuthClient = { clientId: 'accounting-export', clientSecret: 'dev-accounting-secret' };
export const DEFAULT_TOKEN_TTL_SECONDS = 300;

export interface IssuedToken {
  clientId: string;
  scope: string | null;
  audience: string | null;
  issuedAt: number;
  expiresAt: number;
}

export interface TokenStoreOptions {
  clients: OAuthClient[];
  ttlSeconds: number;
  now?: () => number;
}

export type BearerCheck = { ok: true; token: IssuedToken } | { ok: false; description: string };

function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

function tokenError(status: number, error: string, description: string, headers: Record<string, string> = {}): Reply {
  return {
    status,
    body: { error, error_description: description },
    headers: { 'cache-control': 'no-store', pragma: 'no-cache', ...headers },
  };
}

export class TokenStore {
  readonly #tokens = new Map<string, IssuedToken>();
  readonly #now: () => number;
  /** Every request to the token endpoint that reached it (faulted ones excluded). */
  tokenRequests = 0;
  issued = 0;

  constructor(private readonly options: TokenStoreOptions) {
    this.#now = options.now ?? Date.now;
  }

  get clients(): readonly OAuthClient[] {
    return this.options.clients;
  }

  /** `POST /oauth/token`. */
  handleTokenRequest(req: SandboxRequest): Reply {
    this.tokenRequests++;
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      return tokenError(
        400,
        'invalid_request',
        `The token request must be form-encoded (Content-Type: application/x-www-form-urlencoded), got '${type || 'none'}'`,
      );
    }
    const form = new URLSearchParams(req.body.toString('utf8'));
    const grantType = form.get('grant_type');
    if (grantType !== 'client_credentials') {
      return tokenError(
        400,
        'unsupported_grant_type',
        `grant_type must be 'client_credentials' (got ${grantType ? `'${grantType}'` : 'none'})`,
      );
    }

    let clientId: string | null = null;
    let clientSecret: string | null = null;
    let viaBasic = false;
    const authorization = String(req.headers.authorization ?? '');
    const basic = /^basic\s+(.+)$/i.exec(authorization);
    if (basic) {
      viaBasic = true;
      const decoded = Buffer.from(basic[1].trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0)
        return tokenError(401, 'invalid_client', 'The Basic credentials must be client_id:client_secret, base64-encoded', {
          'www-authenticate': 'Basic realm="sandbox"',
        });
      try {
        clientId = formDecode(decoded.slice(0, colon));
        clientSecret = formDecode(decoded.slice(colon + 1));
      } catch {
        return tokenError(401, 'invalid_client', 'The Basic credentials are not form-encoded correctly (RFC 6749 §2.3.1)', {
          'www-authenticate': 'Basic realm="sandbox"',
        });
      }
    } else {
      clientId = form.get('client_id');
      clientSecret = form.get('client_secret');
    }
    if (!clientId || clientSecret === null) {
      return tokenError(
        401,
        'invalid_client',
        'Client authentication is missing: send HTTP Basic credentials or client_id and client_secret in the form body',
      );
    }
    const client = this.options.clients.find((c) => c.clientId === clientId);
    if (!client || client.clientSecret !== clientSecret) {
      return tokenError(
        401,
        'invalid_client',
        client ? `Wrong client_secret for client '${clientId}'` : `Unknown client '${clientId}'`,
        viaBasic ? { 'www-authenticate': 'Basic realm="sandbox"' } : {},
      );
    }

    const now = this.#now();
    this.#prune(now);
    const accessToken = `sbx_${randomBytes(24).toString('base64url')}`;
    const scope = form.get('scope');
    const token: IssuedToken = {
      clientId,
      scope,
      audience: form.get('audience'),
      issuedAt: now,
      expiresAt: now + this.options.ttlSeconds * 1000,
    };
    this.#tokens.set(accessToken, token);
    this.issued++;
    return {
      status: 200,
      headers: { 'cache-control': 'no-store', pragma: 'no-cache' },
      body: { access_token: accessToken, token_type: 'Bearer', expires_in: this.options.ttlSeconds, ...(scope ? { scope } : {}) },
    };
  }

  /** Checks an `Authorization: Bearer …` header. */
  check(authorization: string | undefined): BearerCheck {
    const match = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match)
      return {
        ok: false,
        description: 'A bearer token is required: get one from POST /oauth/token and send Authorization: Bearer <token>',
      };
    const token = this.#tokens.get(match[1]);
    if (!token)
      return {
        ok: false,
        description: 'The bearer token is unknown (issued by another server, or cleared by a reset): get a new one from POST /oauth/token',
      };
    if (token.expiresAt <= this.#now())
      return {
        ok: false,
        description: `The bearer token expired at ${new Date(token.expiresAt).toISOString()}: get a new one from POST /oauth/token`,
      };
    return { ok: true, token };
  }

  /** Throws the 401 `invalid_token` reply unless the request carries a valid bearer token. */
  require(req: SandboxRequest): IssuedToken {
    const result = this.check(req.headers.authorization);
    if (result.ok) return result.token;
    throw new ReplyError({
      status: 401,
      headers: {
        'www-authenticate': `Bearer realm="sandbox", error="invalid_token", error_description="${result.description.replace(/"/g, "'")}"`,
      },
      body: { error: 'invalid_token', error_description: result.description },
    });
  }

  /** Makes every issued token expired now (to exercise a client's 401 → new token path). */
  expireAll(): number {
    const now = this.#now();
    let count = 0;
    for (const token of this.#tokens.values()) {
      if (token.expiresAt > now) count++;
      token.expiresAt = Math.min(token.expiresAt, now);
    }
    return count;
  }

  reset(): void {
    this.#tokens.clear();
    this.tokenRequests = 0;
    this.issued = 0;
  }

  /** Forgets tokens expired for over an hour, so a long demo does not grow without bound. */
  #prune(now: number) {
    if (this.#tokens.size < 1000) return;
    for (const [key, token] of this.#tokens) if (token.expiresAt < now - 3_600_000) this.#tokens.delete(key);
  }
}
