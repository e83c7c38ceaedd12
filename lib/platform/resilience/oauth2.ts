import { z } from 'zod';
import { CredentialsError, isTransientStatus, NetworkError, TimeoutError, TransientError } from '../errors';
import { httpUrl } from '../http-url';
import { SecretRedactor } from '../redaction';

/** OAuth2 client credentials, as an integration's `oauth2(settings, secrets)` returns them. */
export interface OAuth2Config {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
  audience?: string;
  /** How the client authenticates at the token endpoint. Default: in the form body. */
  authMethod?: 'client_secret_post' | 'client_secret_basic';
}

const ZOAuth2Config = z.object({
  tokenUrl: httpUrl('https://auth.example.com/oauth/token'),
  clientId: z.string().min(1, 'is not set: add it to the integration credentials'),
  clientSecret: z.string().min(1, 'is not set: add it to the integration credentials'),
  scope: z.string().optional(),
  audience: z.string().optional(),
  authMethod: z.enum(['client_secret_post', 'client_secret_basic']).optional(),
});

/** Validates a config built from settings and secrets; a missing piece is a credentials error. */
export function parseOAuth2Config(value: unknown): OAuth2Config {
  const parsed = ZOAuth2Config.safeParse(value ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CredentialsError(`OAuth2 is misconfigured: ${issue.path.join('.') || 'config'} ${issue.message}`);
  }
  return parsed.data;
}

/** The `Authorization: Basic` credentials of client_secret_basic (RFC 6749 §2.3.1: each part form-encoded). */
export function basicCredentials(clientId: string, clientSecret: string): string {
  return Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
}

export interface OAuth2Provider {
  /** A valid access token: cached until shortly before expiry; concurrent callers share one request. */
  getToken(): Promise<string>;
  /** Drops `token` if it is still the cached one (after a 401), so the next getToken fetches a new one. */
  invalidate(token: string): void;
  /** Token requests sent by this provider (for tests and the console). */
  readonly tokenRequests: number;
}

export interface OAuth2Options {
  /** Timeout of one token request. */
  timeoutMs?: number;
  /** Refresh this long before expiry at most (the skew is also capped at 10% of the token's lifetime). */
  refreshSkewMs?: number;
}

const TOKEN_LIFETIME_FALLBACK_S = 300;

class ClientCredentialsProvider implements OAuth2Provider {
  #config: OAuth2Config;
  #options: Required<OAuth2Options>;
  #token: { value: string; refreshAt: number } | undefined;
  #pending: Promise<string> | undefined;
  tokenRequests = 0;

  constructor(config: OAuth2Config, options: OAuth2Options) {
    this.#config = config;
    this.#options = { timeoutMs: options.timeoutMs ?? 15_000, refreshSkewMs: options.refreshSkewMs ?? 30_000 };
  }

  /** A rotated client secret replaces the config and drops the token obtained with the old one. */
  updateSecret(config: OAuth2Config) {
    if (config.clientSecret !== this.#config.clientSecret || config.authMethod !== this.#config.authMethod) {
      this.#config = config;
      this.#token = undefined;
    }
  }

  async getToken(): Promise<string> {
    if (this.#token && Date.now() < this.#token.refreshAt) return this.#token.value;
    this.#pending ??= this.#fetchToken().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  invalidate(token: string) {
    if (this.#token?.value === token) this.#token = undefined;
  }

  async #fetchToken(): Promise<string> {
    const { tokenUrl, clientId, clientSecret, scope, audience, authMethod } = this.#config;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (authMethod === 'client_secret_basic') {
      headers.authorization = `Basic ${basicCredentials(clientId, clientSecret)}`;
    } else {
      form.set('client_id', clientId);
      form.set('client_secret', clientSecret);
    }
    if (scope) form.set('scope', scope);
    if (audience) form.set('audience', audience);

    this.tokenRequests += 1;
    let response: Response;
    try {
      response = await fetch(tokenUrl, {
        method: 'POST',
        headers,
        body: form,
        signal: AbortSignal.timeout(this.#options.timeoutMs),
      });
    } catch (error) {
      if ((error as Error)?.name === 'TimeoutError') {
        throw new TimeoutError(`OAuth2 token request to ${tokenUrl} timed out after ${this.#options.timeoutMs} ms`);
      }
      throw new NetworkError(`OAuth2 token request to ${tokenUrl} failed: ${(error as Error)?.cause ?? (error as Error)?.message}`, {
        cause: error,
      });
    }
    // Scrubbed of the client secret before the error text is cut short, which could leave part of it.
    const text = new SecretRedactor([clientSecret, basicCredentials(clientId, clientSecret)]).scrub(await response.text());
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Non-JSON error pages are reported by their text below.
    }
    if (!response.ok) {
      const code = typeof body.error === 'string' ? body.error : undefined;
      const description = typeof body.error_description === 'string' ? body.error_description : text.slice(0, 300);
      const detail = `${response.status}${code ? ` ${code}` : ''}${description ? `: ${description}` : ''}`;
      if (isTransientStatus(response.status)) {
        throw new TransientError(`OAuth2 token request to ${tokenUrl} failed (${detail}); it will be retried`);
      }
      throw new CredentialsError(
        `OAuth2 token request to ${tokenUrl} was refused (${detail}). Check the client id, client secret, scope and audience in the integration's credentials.`,
      );
    }
    const accessToken = body.access_token;
    if (typeof accessToken !== 'string' || accessToken === '') {
      throw new TransientError(`OAuth2 token response from ${tokenUrl} has no access_token`);
    }
    const lifetimeMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : TOKEN_LIFETIME_FALLBACK_S) * 1000;
    const skew = Math.min(this.#options.refreshSkewMs, lifetimeMs * 0.1);
    this.#token = { value: accessToken, refreshAt: Date.now() + lifetimeMs - skew };
    return accessToken;
  }
}

/** One provider per (tokenUrl, clientId, scope, audience) in this process: tokens are shared by every run. */
const providers = new Map<string, ClientCredentialsProvider>();

export function oauth2Provider(config: OAuth2Config, options: OAuth2Options = {}): OAuth2Provider {
  const key = JSON.stringify([config.tokenUrl, config.clientId, config.scope ?? '', config.audience ?? '']);
  let provider = providers.get(key);
  if (provider) {
    provider.updateSecret(config);
  } else {
    provider = new ClientCredentialsProvider(config, options);
    providers.set(key, provider);
  }
  return provider;
}

/** Forgets every cached token (tests; a credentials change applies without it). */
export function clearOAuth2Providers(): void {
  providers.clear();
}
