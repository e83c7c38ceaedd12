import { z } from 'zod';
import {
  CredentialsError,
  isTransientStatus,
  NetworkError,
  PermanentError,
  TimeoutError,
  TokenUnavailableError,
  TransientError,
} from '../errors';
import { httpUrl } from '../http-url';
import { CORRELATION_ATTRIBUTE, injectTraceHeaders, SpanKind, SpanStatusCode, withSpan } from '../observability/tracing';
import { SecretRedactor } from '../redaction';
import { textUpTo } from './body';

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
  /**
   * A valid access token: cached until shortly before expiry; concurrent callers share one request.
   * A request it sends carries the caller's trace (a client span of its own) and `correlationId`.
   */
  getToken(request?: { correlationId?: string }): Promise<string>;
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
/** A token answer is a few hundred bytes; one beyond this is not read. */
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

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

  async getToken(request: { correlationId?: string } = {}): Promise<string> {
    if (this.#token && Date.now() < this.#token.refreshAt) return this.#token.value;
    this.#pending ??= this.#tracedFetchToken(request.correlationId).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  invalidate(token: string) {
    if (this.#token?.value === token) this.#token = undefined;
  }

  /**
   * The token request as a client span of the caller's trace (the attempt's), so a slow or failing
   * identity provider shows in the trace; its traceparent and the caller's correlation id go out
   * with it, as with every other outbound request.
   */
  #tracedFetchToken(correlationId: string | undefined): Promise<string> {
    const target = new URL(this.#config.tokenUrl);
    const attributes = {
      'http.request.method': 'POST',
      'url.full': `${target.origin}${target.pathname}`,
      'server.address': target.hostname,
      'junction.oauth2_token_request': true,
      ...(correlationId ? { [CORRELATION_ATTRIBUTE]: correlationId } : {}),
    };
    return withSpan('HTTP POST', { kind: SpanKind.CLIENT, attributes }, async (span) => {
      const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' });
      if (correlationId) headers.set('x-correlation-id', correlationId);
      injectTraceHeaders(headers);
      return this.#fetchToken(headers, (status) => {
        span.setAttribute('http.response.status_code', status);
        if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR, message: `answered ${status}` });
      });
    });
  }

  async #fetchToken(headers: Headers, answered: (status: number) => void): Promise<string> {
    const { tokenUrl, clientId, clientSecret, scope, audience, authMethod } = this.#config;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (authMethod === 'client_secret_basic') {
      headers.set('authorization', `Basic ${basicCredentials(clientId, clientSecret)}`);
    } else {
      form.set('client_id', clientId);
      form.set('client_secret', clientSecret);
    }
    if (scope) form.set('scope', scope);
    if (audience) form.set('audience', audience);

    this.tokenRequests += 1;
    // The timeout covers the answer's body too (the signal stays with it): a stalled body fails the read.
    const signal = AbortSignal.timeout(this.#options.timeoutMs);
    const failed = (error: unknown) => {
      if ((error as Error)?.name === 'TimeoutError' || signal.aborted) {
        return new TimeoutError(`OAuth2 token request to ${tokenUrl} timed out after ${this.#options.timeoutMs} ms`);
      }
      return new NetworkError(`OAuth2 token request to ${tokenUrl} failed: ${(error as Error)?.cause ?? (error as Error)?.message}`, {
        cause: error,
      });
    };
    let response: Response;
    try {
      // Not followed: a redirect would carry the client secret (in the form, 307/308) to wherever it points.
      response = await fetch(tokenUrl, { method: 'POST', headers, body: form, signal, redirect: 'manual' });
    } catch (error) {
      throw failed(error);
    }
    answered(response.status);
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => {});
      const location = response.headers.get('location');
      const to = location === null ? '' : ` to ${new URL(location, tokenUrl).toString().slice(0, 200)}`;
      throw new PermanentError(
        `OAuth2 token request to ${tokenUrl} was redirected (${response.status}${to}): the client secret is not sent on; set the token URL to the address it leads to`,
      );
    }
    let raw: string;
    try {
      raw = await textUpTo(
        response,
        MAX_TOKEN_RESPONSE_BYTES,
        // Permanent, as in ctx.http: an answer that size does not shrink when asked again.
        () => new PermanentError(`OAuth2 token response from ${tokenUrl} is larger than the ${MAX_TOKEN_RESPONSE_BYTES}-byte limit`),
      );
    } catch (error) {
      throw error instanceof PermanentError ? error : failed(error);
    }
    // Scrubbed of the client secret before the error text is cut short, which could leave part of it.
    const text = new SecretRedactor([clientSecret, basicCredentials(clientId, clientSecret)]).scrub(raw);
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
        throw new TokenUnavailableError(`OAuth2 token request to ${tokenUrl} failed (${detail}); it will be retried`);
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
