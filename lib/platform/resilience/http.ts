import { DelegateBackoff, handleWhen, retry } from 'cockatiel';
import type { PgBoss } from 'pg-boss';
import type { Dispatcher } from 'undici';
import type { Database } from '../../../db/client';
import {
  HttpError,
  isCancelledError,
  isCircuitOpenError,
  isHttpError,
  isPermanentError,
  isTransientError,
  NetworkError,
  PermanentError,
  TimeoutError,
  TokenUnavailableError,
  TransientError,
} from '../errors';
import { httpUrlProblem } from '../http-url';
import type { RunLogger } from '../log';
import { platformMetrics, statusClass } from '../observability/metrics';
import { CORRELATION_ATTRIBUTE, injectTraceHeaders, SpanKind, SpanStatusCode, withSpan } from '../observability/tracing';
import type { SecretRedactor } from '../redaction';
import { clip } from '../words';
import { bodyPrefix, boundedResponse } from './body';
import {
  acquireBreakerPermit,
  observeBreaker,
  recordBreakerFailure,
  recordBreakerSuccess,
  type BreakerPermit,
  type BreakerPolicy,
} from './breaker';
import { CREDENTIAL_HEADERS, DryRunPlan, dryRunResponse, isMutatingMethod } from './dry-run';
import { defaultNetwork, InternalAddressRefused, isInternalHost, outsideOnlyDispatcher, type NetworkPolicy } from './internal-address';
import type { OAuth2Provider } from './oauth2';

/**
 * ctx.http: fetch with the platform's resilience. Per request: the breaker of the external system
 * (no request leaves while it is open), a timeout, short jittered retries for idempotent requests
 * (GET, HEAD, OPTIONS, PUT, DELETE, or any request with an idempotency key, sent as
 * `Idempotency-Key`) honouring Retry-After on 429/503, `X-Correlation-Id`, the OAuth2 bearer (a
 * 401 drops the token and retries once) and, in a dry-run, the gate that captures mutating
 * requests instead of sending them.
 *
 * resilience/ is internal to the platform: nothing outside lib/platform imports it. The handler
 * context (execution/context.ts) builds ctx.http from this file, the runner and the triggers use
 * breaker.ts, and the contract names the OAuth2 and HTTP client types.
 */

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string> | Headers;
  /** A raw body. Use `json` for JSON. */
  body?: string | Uint8Array<ArrayBuffer> | URLSearchParams;
  /** Serialised as JSON with `content-type: application/json`. */
  json?: unknown;
  /** Appended to the URL's query string; undefined and null values are skipped. */
  query?: Record<string, string | number | boolean | null | undefined>;
  /** Makes a mutating request safe to retry; sent as the `Idempotency-Key` header. */
  idempotencyKey?: string;
  /**
   * Per-request timeout (each try), over the whole exchange: redirects, headers and reading the
   * body, until it is read to its end or cancelled. Default 30 s.
   */
  timeoutMs?: number;
  /** Retries of a retryable request after the first try. Default 2; 0 disables them. */
  retries?: number;
  /** Send the OAuth2 bearer when the integration declares OAuth2. Default true. */
  auth?: boolean;
}

/** Default: a non-2xx response is thrown as an HttpError (4xx permanent except 408/429, 5xx transient). */
export type CheckedRequestOptions = HttpRequestOptions & { throwOnError?: true };
/** Opt-out: every response is returned as it is, whatever its status (after retries of transient ones). */
export type UncheckedRequestOptions = HttpRequestOptions & { throwOnError: false };

/** A response the client checked: status 2xx. */
export type OkResponse = Response & { ok: true };

type MethodCall = {
  (url: string, options?: Omit<CheckedRequestOptions, 'method'>): Promise<OkResponse>;
  (url: string, options: Omit<UncheckedRequestOptions, 'method'>): Promise<Response>;
};

export interface HttpClient {
  request(url: string, options?: CheckedRequestOptions): Promise<OkResponse>;
  request(url: string, options: UncheckedRequestOptions): Promise<Response>;
  get: MethodCall;
  post: MethodCall;
  put: MethodCall;
  patch: MethodCall;
  delete: MethodCall;
  /** GET and parse the JSON body (2xx only). */
  getJson<T = unknown>(url: string, options?: Omit<CheckedRequestOptions, 'method'>): Promise<T>;
}

export interface HttpDefaults {
  timeoutMs?: number;
  retries?: number;
  /** First retry delay; doubles each retry, with jitter. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A Retry-After longer than this is not waited for in-request: the error goes to the run's retry. */
  maxRetryAfterMs?: number;
  /**
   * The largest response body read (decoded): a larger one fails the read with a PermanentError
   * naming the URL and the limit, and the rest is not read. Default 64 MiB.
   */
  maxResponseBytes?: number;
}

export interface HttpClientConfig {
  correlationId: string;
  /** The integration the requests are made for: the label of the outbound request metric and spans. */
  integration?: string;
  /** The attempt's signal: cancellation aborts requests in flight. */
  signal?: AbortSignal;
  /** Present in a dry-run: mutating requests are captured here instead of sent. */
  dryRun?: DryRunPlan;
  oauth2?: OAuth2Provider;
  /** The external system's shared breaker; absent = no breaker (only for tools and tests). */
  breaker?: {
    db: Database;
    boss: PgBoss;
    key: string;
    policy: BreakerPolicy;
    /**
     * A run checkpoint waiting for the next request (`ctx.cursor.checkpoint(v, { withNextRequest: true })`):
     * written by the same statement as the breaker read, before the request leaves.
     */
    takeCheckpoint?: () => Promise<PendingCheckpoint | undefined>;
  };
  defaults?: HttpDefaults;
  log?: RunLogger;
  /**
   * The attempt's secrets and tokens: the URLs and response bodies in this client's errors (which
   * reach spans, the breaker's last error and whatever a handler does with them) are scrubbed of them.
   */
  redactor?: SecretRedactor;
  /**
   * What is inside Junction's own network (default: the system's resolver, and loopback, private
   * and link-local addresses). A redirect from outside it to inside it is not followed, judged
   * again when each later hop connects. Tests put a loopback server outside.
   */
  network?: NetworkPolicy;
}

/** A checkpoint handed to the next request's breaker read. */
export interface PendingCheckpoint {
  runId: string;
  attemptId: string;
  json: string;
  /** The statement ran; `ok` false: the attempt no longer owns the run (the error to throw, no request is sent). */
  written(ok: boolean): Error | undefined;
  /** The statement failed: the checkpoint was not written. */
  failed(error: unknown): void;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const SNIPPET_CHARS = 2000;
/** Read of an error body for its snippet: enough for SNIPPET_CHARS after scrubbing. */
const SNIPPET_BYTES = 16 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
/** Headers left behind on a redirect to another origin: credentials, and the idempotency key. */
const CROSS_ORIGIN_DROPPED = new Set([...CREDENTIAL_HEADERS, 'idempotency-key']);

/** Statuses that count against the breaker: the system is failing (not the request). */
function countsAsFailure(status: number): boolean {
  return status >= 500 || status === 408;
}

/**
 * Milliseconds from a Retry-After header (seconds or an HTTP date; a date in the past is 0). Anything
 * else (a negative number, which Date.parse would read as a year, garbage) is undefined: the usual
 * backoff applies. An enormous value is capped at Number.MAX_SAFE_INTEGER, never Infinity.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.min(Number.MAX_SAFE_INTEGER, Math.round(Number(trimmed) * 1000));
  // Every HTTP date form (IMF-fixdate, RFC 850, asctime) starts with the day's name.
  if (!/^[a-z]{3}/i.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function buildUrl(url: string, query: HttpRequestOptions['query']): string {
  if (!query) return url;
  const u = new URL(url);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) u.searchParams.append(k, String(v));
  return u.toString();
}

/** A URL for a message: bounded, and without a user name or password (messages reach logs and the console). */
function shownUrl(url: string): string {
  const withoutCredentials = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, '$1***@');
  return clip(withoutCredentials, 200);
}

function bodyText(body: HttpRequestOptions['body']): string | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  return Buffer.from(body).toString('utf8');
}

/** The client, and what the attempt's context does with it as the attempt ends. */
export interface AttemptHttpClient extends HttpClient {
  /**
   * Counts a success for each 2xx answer whose body the handler left unread (nor read to its end,
   * nor cancelled): it moved on, so nothing says the server stalled. Each also is when the
   * handler's next request leaves, or at the answer's timeout.
   */
  settleUnread(): Promise<void>;
}

export function createHttpClient(config: HttpClientConfig): AttemptHttpClient {
  const network = config.network ?? defaultNetwork;
  const internalHost = (hostname: string) => isInternalHost(hostname, network);
  const defaults = {
    timeoutMs: 30_000,
    retries: 2,
    backoffBaseMs: 250,
    backoffMaxMs: 5_000,
    maxRetryAfterMs: 30_000,
    maxResponseBytes: 64 * 1024 * 1024,
    ...config.defaults,
  };

  // A handler sends to the same URL again and again (one POST per batch): its span attributes are
  // built once per method and URL, not parsed from the URL for every request.
  let lastAttributes: { key: string; value: Record<string, string> } | undefined;
  const spanAttributes = (method: string, url: string, integration: string) => {
    const key = `${method} ${url}`;
    if (lastAttributes?.key === key) return lastAttributes.value;
    const target = new URL(url);
    const value = {
      'http.request.method': method,
      // Origin and path only: query strings can carry keys.
      'url.full': `${target.origin}${target.pathname}`,
      'server.address': target.hostname,
      'junction.integration': integration,
      [CORRELATION_ATTRIBUTE]: config.correlationId,
    };
    lastAttributes = { key, value };
    return value;
  };

  // 2xx answers whose body is not done with and not being read: what counts each a success once
  // the handler has moved on (settleUnread).
  const unread = new Set<() => Promise<void>>();
  const settleUnread = async () => {
    await Promise.all([...unread].map((decide) => decide()));
  };

  const throwIfCancelled = () => {
    if (config.signal?.aborted) throw config.signal.reason ?? new Error('aborted');
  };
  const redact = (text: string) => (config.redactor ? config.redactor.scrub(text) : text);

  /**
   * One request on the wire, as a client span (its traceparent goes out with the request) counted
   * by status class. The timeout covers the whole exchange: redirects, headers and the body, until
   * the body is read to its end or cancelled (a server that sends its headers and then stalls or
   * drips fails the read, which the handler does after this returns, with the same TimeoutError).
   * `outcome` is told how the answer's body went: `failed` when its read times out or breaks,
   * `ended` when it is done with otherwise (read to its end, cancelled, absent, or never read
   * before the timeout: nobody was waiting for it, so nothing says the server stalled).
   */
  async function fetchOnce(
    method: string,
    url: string,
    headers: Headers,
    body: HttpRequestOptions['body'],
    timeoutMs: number,
    outcome: { failed: (error: Error) => Promise<void>; ended: (status: number) => Promise<void> },
  ) {
    const integration = config.integration ?? 'none';
    const count = (statusClassLabel: string) => platformMetrics().outboundRequests.inc({ integration, status_class: statusClassLabel });
    const attributes = spanAttributes(method, url, integration);
    throwIfCancelled();
    const exchange = new AbortController();
    let timedOut = false;
    // The answer's status once its headers arrived, and whether its body is being read now.
    let status: number | undefined;
    let reading = false;
    const unreadDecided = async () => {
      if (reading || status === undefined) return;
      unread.delete(unreadDecided);
      await outcome.ended(status).catch(() => {});
    };
    const timer = setTimeout(() => {
      timedOut = true;
      exchange.abort();
      unreadDecided().catch(() => {});
    }, timeoutMs);
    // The attempt's cancellation aborts the exchange while it waits for the server (the headers, a
    // read of the body): listened to only then, so a body left unread holds no listener.
    const watchCancel = () => {
      const signal = config.signal;
      if (!signal) return () => {};
      const cancel = () => exchange.abort(signal.reason);
      if (signal.aborted) cancel();
      else signal.addEventListener('abort', cancel, { once: true });
      return () => signal.removeEventListener('abort', cancel);
    };
    const settled = () => {
      clearTimeout(timer);
      unread.delete(unreadDecided);
    };
    const failure = (error: unknown): Error => {
      if (config.signal?.aborted) {
        count('cancelled');
        return (config.signal.reason as Error) ?? new Error('aborted');
      }
      if (timedOut) {
        count('timeout');
        return new TimeoutError(`${method} ${redact(url)} timed out after ${timeoutMs} ms`);
      }
      if (isPermanentError(error)) return error as Error;
      count('network_error');
      const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
      return new NetworkError(redact(`${method} ${url} failed: ${cause?.code ?? cause?.message ?? (error as Error)?.message}`), {
        cause: error,
      });
    };
    return withSpan(`HTTP ${method}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      injectTraceHeaders(headers);
      let response: Response;
      const unwatch = watchCancel();
      try {
        response = await fetchFollowing(method, url, headers, body, exchange.signal);
      } catch (error) {
        settled();
        throw failure(error);
      } finally {
        unwatch();
      }
      status = response.status;
      if (response.ok) unread.add(unreadDecided);
      count(statusClass(response.status));
      span.setAttribute('http.response.status_code', response.status);
      if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: `answered ${response.status}` });
      return boundedResponse(response, {
        maxBytes: defaults.maxResponseBytes,
        tooLarge: () =>
          new PermanentError(
            `${method} ${redact(url)}: the response is larger than the ${defaults.maxResponseBytes}-byte limit (maxResponseBytes); ask the API for less per request (a smaller page)`,
          ),
        failed: async (error) => {
          const failed = failure(error);
          // A read the attempt's cancellation cut short says nothing against the server.
          if (!isCancelledError(failed) && !config.signal?.aborted) await outcome.failed(failed);
          else await outcome.ended(response.status).catch(() => {});
          return failed;
        },
        ended: () => outcome.ended(response.status),
        settled,
        watch: () => {
          reading = true;
          const unwatch = watchCancel();
          return () => {
            reading = false;
            unwatch();
          };
        },
      });
    });
  }

  /**
   * fetch, following redirects itself (at most MAX_REDIRECTS): on a hop to another origin the
   * credentials and the idempotency key stay behind (fetch keeps every header but Authorization
   * and Cookie, so an API key header went to whatever host the redirect named), and a hop to a URL
   * that cannot be fetched is refused with the reason. As fetch does, 303 (and 301/302 of a POST)
   * continue as a GET without the body; 307/308 keep the method and body, within the same origin
   * only: fetch would send the body (a batch of invoices, say) on to whatever host the redirect
   * names, without the idempotency key that stays behind, so a retry of the exchange could apply
   * it there twice. That hop is refused, saying where it led.
   */
  async function fetchFollowing(
    method: string,
    url: string,
    headers: Headers,
    body: HttpRequestOptions['body'],
    signal: AbortSignal,
  ): Promise<Response> {
    let current = url;
    let currentMethod = method;
    let currentBody = body;
    let currentHeaders = headers;
    // Whether the request started inside Junction's own network (a stand-in, an internal API): asked at its first redirect.
    let startedInside: Promise<boolean> | undefined;
    // After a redirect from outside, each hop's connection judges the addresses it connects to
    // (a check of the name before the hop can be answered otherwise than the connection is).
    let outsideOnly = false;
    for (let hops = 0; ; hops++) {
      let response: Response;
      try {
        // Node's fetch takes an undici dispatcher (not in the DOM's RequestInit).
        const init: RequestInit & { dispatcher?: Dispatcher } = {
          method: currentMethod,
          headers: currentHeaders,
          body: currentBody,
          signal,
          redirect: 'manual',
          ...(outsideOnly && { dispatcher: outsideOnlyDispatcher(network) }),
        };
        response = await fetch(current, init);
      } catch (error) {
        const refused = (error as { cause?: unknown }).cause;
        if (refused instanceof InternalAddressRefused) {
          throw new PermanentError(
            `${method} ${redact(url)} was redirected to ${redact(shownUrl(current))}, whose name resolved to ${refused.address} when connecting, an address inside Junction's own network (loopback, private or link-local), from one outside it: not followed; an external system may not point Junction's requests at its own machines`,
          );
        }
        throw error;
      }
      const location = REDIRECT_STATUSES.has(response.status) ? response.headers.get('location') : null;
      if (location === null) {
        if (hops > 0) Object.defineProperty(response, 'redirected', { value: true });
        return response;
      }
      await response.body?.cancel().catch(() => {});
      let next: string;
      try {
        next = new URL(location, current).toString();
      } catch {
        throw new PermanentError(`${method} ${redact(url)} was redirected to '${redact(shownUrl(location))}', which is not a URL`);
      }
      const problem = httpUrlProblem(next);
      if (problem) throw new PermanentError(`${method} ${redact(url)} was redirected to ${redact(shownUrl(next))}: the URL ${problem}`);
      if (hops === MAX_REDIRECTS) {
        throw new PermanentError(
          `${method} ${redact(url)} was redirected more than ${MAX_REDIRECTS} times (last to ${redact(shownUrl(next))}); check the integration's base URL`,
        );
      }
      if (response.status === 303 || ((response.status === 301 || response.status === 302) && currentMethod === 'POST')) {
        currentMethod = currentMethod === 'HEAD' ? 'HEAD' : 'GET';
        currentBody = undefined;
        currentHeaders = new Headers(currentHeaders);
        for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location'])
          currentHeaders.delete(name);
      }
      startedInside ??= internalHost(new URL(url).hostname);
      outsideOnly = !(await startedInside);
      const nextHost = new URL(next).hostname;
      if (outsideOnly && nextHost !== new URL(current).hostname && (await internalHost(nextHost))) {
        throw new PermanentError(
          `${method} ${redact(url)} was redirected to ${redact(shownUrl(next))}, an address inside Junction's own network (loopback, private or link-local), from one outside it: not followed; an external system may not point Junction's requests at its own machines`,
        );
      }
      if (new URL(next).origin !== new URL(current).origin) {
        if (currentBody !== undefined && currentBody !== null) {
          throw new PermanentError(
            `${method} ${redact(url)} was redirected (${response.status}) to another origin, ${redact(shownUrl(next))}: its body is not sent on there (nor could its idempotency key be); set the integration's base URL to the address it leads to`,
          );
        }
        const kept = new Headers();
        currentHeaders.forEach((value, name) => {
          // A header holding one of the attempt's secrets is a credential whatever its name.
          if (!CROSS_ORIGIN_DROPPED.has(name) && redact(value) === value) kept.append(name, value);
        });
        currentHeaders = kept;
      }
      current = next;
    }
  }

  /** One try: breaker permit, fetch, breaker outcome. `token` is the OAuth2 bearer, if any. */
  async function tryOnce(
    method: string,
    url: string,
    baseHeaders: Headers,
    body: HttpRequestOptions['body'],
    timeoutMs: number,
    token?: string,
  ) {
    throwIfCancelled();
    // The answers the handler left unread count before this request asks the breaker (a trial's
    // success closes it first).
    if (unread.size > 0) await settleUnread();
    const breaker = config.breaker;
    let permit: BreakerPermit | undefined;
    if (breaker) {
      const pending = await breaker.takeCheckpoint?.();
      let settled = false;
      let refusal: Error | undefined;
      try {
        // A dry-run only looks: it never claims a trial or counts an outcome (permit stays unset).
        permit = await (config.dryRun ? observeBreaker : acquireBreakerPermit)(breaker.db, {
          key: breaker.key,
          cooldownMs: breaker.policy.cooldownMs,
          trialLeaseMs: timeoutMs * 2 + 5_000,
          ...(pending && {
            checkpoint: {
              runId: pending.runId,
              attemptId: pending.attemptId,
              json: pending.json,
              written: (ok: boolean) => {
                settled = true;
                refusal = pending.written(ok);
              },
            },
          }),
        });
      } catch (error) {
        if (pending && !settled) pending.failed(error);
        throw error;
      }
      if (refusal) throw refusal;
    }
    const headers = new Headers(baseHeaders);
    if (token) headers.set('authorization', `Bearer ${token}`);
    // One exchange, one outcome on the breaker: the first decided counts, the rest are ignored.
    // A 2xx counts as a success only once its body is done with (fetchOnce's `ended`): a body
    // that times out or breaks after the headers counts as the failure a timeout before them
    // would have, and as nothing else. Any other status is decided by its headers.
    let counted: Promise<void> | undefined;
    const countFailure = (error: string) =>
      breaker && permit
        ? (counted ??= recordBreakerFailure(breaker.db, breaker.boss, { permit, policy: breaker.policy, error }))
        : undefined;
    const countSuccess = () => (breaker && permit ? (counted ??= recordBreakerSuccess(breaker.db, breaker.boss, { permit })) : undefined);
    const outcome = {
      failed: async (error: Error) => countFailure(redact(error.message)),
      ended: async (status: number) => (status >= 200 && status < 300 ? countSuccess() : undefined),
    };
    let response: Response;
    try {
      response = await fetchOnce(method, url, headers, body, timeoutMs, outcome);
    } catch (error) {
      // A cancelled request says nothing about the external system's health, nor does a refused redirect.
      if (!config.signal?.aborted && !isCancelledError(error) && !isPermanentError(error))
        await countFailure(redact((error as Error).message));
      throw error;
    }
    if (countsAsFailure(response.status)) await countFailure(`${method} ${redact(url)} answered ${response.status}`);
    else if (!response.ok) await countSuccess();
    // A 2xx without a body was decided already (its end is its headers): that success counts before the response is handed over.
    else await counted;
    if (!response.ok) {
      // Scrubbed before it is cut short, which could leave part of a secret (the response keeps the body as sent).
      // Only its start is read: an error page can be endless, or stall.
      const snippet = redact(await bodyPrefix(response.clone(), SNIPPET_BYTES)).slice(0, SNIPPET_CHARS);
      throw new HttpError({
        method,
        url: redact(url),
        status: response.status,
        bodySnippet: snippet,
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
        response,
      });
    }
    return response;
  }

  async function request(url: string, options: HttpRequestOptions & { throwOnError?: boolean } = {}): Promise<Response> {
    throwIfCancelled();
    const method = (options.method ?? 'GET').toUpperCase();
    // Before the breaker and the retries: no answer will ever come from such a URL, and a network
    // error would have retried it, opened the breaker and alerted about the external system.
    const problem = httpUrlProblem(url);
    if (problem) throw new PermanentError(`${method} ${shownUrl(url)}: the URL ${problem}; check the integration's settings`);
    const target = buildUrl(url, options.query);
    const headers = new Headers(options.headers);
    headers.set('x-correlation-id', config.correlationId);
    if (options.idempotencyKey) headers.set('idempotency-key', options.idempotencyKey);
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }

    if (config.dryRun && isMutatingMethod(method)) {
      config.dryRun.capture({ method, url: target, headers, body: bodyText(body) });
      config.log?.info(`dry-run: captured ${method} ${config.dryRun.scrub(target)} instead of sending it`);
      return dryRunResponse();
    }

    const retryable = IDEMPOTENT.has(method) || Boolean(options.idempotencyKey);
    const retries = retryable ? Math.max(0, options.retries ?? defaults.retries) : 0;
    const shouldRetry = (error: unknown) => {
      if (config.signal?.aborted || isCircuitOpenError(error) || isCancelledError(error)) return false;
      if (isHttpError(error)) return error.transient && (error.retryAfterMs ?? 0) <= defaults.maxRetryAfterMs;
      return error instanceof TimeoutError || error instanceof NetworkError || error instanceof TokenUnavailableError;
    };
    const backoff = new DelegateBackoff<{ attempt: number; result: { error?: unknown } | { value: unknown } }>((context) => {
      const error = 'error' in context.result ? context.result.error : undefined;
      if (isHttpError(error) && error.retryAfterMs !== undefined && (error.status === 429 || error.status === 503)) {
        return error.retryAfterMs;
      }
      const ceiling = Math.min(defaults.backoffMaxMs, defaults.backoffBaseMs * 2 ** (context.attempt - 1));
      return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    });
    const policy = retry(handleWhen(shouldRetry), { maxAttempts: retries, backoff });
    policy.onRetry(({ delay, attempt, ...reason }) => {
      // The answer being retried is not read: its connection is let go (and its timeout cleared).
      if ('error' in reason && isHttpError(reason.error)) reason.error.response.body?.cancel().catch(() => {});
      const why = 'error' in reason ? (reason.error as Error).message : 'retryable result';
      config.log?.warn(`retrying ${method} ${target} in ${Math.round(delay)} ms (retry ${attempt} of ${retries}): ${why}`);
    });
    // The last try that went out and failed as the breaker counts failures. When a retry then finds
    // the breaker open (this request's own failures opened it, or it was the half-open trial), that
    // failure is the request's outcome: a request was sent, so the attempt failed; it was not
    // deferred with "no request was sent", which never used up the run's attempts.
    let sentAndFailed: unknown;
    const once = async (timeoutMs: number, token?: string) => {
      try {
        return await tryOnce(method, target, headers, body, timeoutMs, token);
      } catch (error) {
        if (!isCircuitOpenError(error)) sentAndFailed = isTransientError(error) ? error : undefined;
        else if (sentAndFailed !== undefined) throw sentAndFailed;
        throw error;
      }
    };
    try {
      return await policy.execute(async () => {
        const timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
        // Token failures are the identity provider's, not the external system's: outside the breaker.
        const useAuth = config.oauth2 !== undefined && options.auth !== false;
        const token = useAuth ? await config.oauth2!.getToken({ correlationId: config.correlationId }) : undefined;
        try {
          return await once(timeoutMs, token);
        } catch (error) {
          if (!(token && isHttpError(error) && error.status === 401)) throw error;
          config.oauth2!.invalidate(token);
          await error.response.body?.cancel().catch(() => {});
          config.log?.info(`${method} ${target} answered 401: fetching a new OAuth2 token and trying once more`);
          return await once(timeoutMs, await config.oauth2!.getToken({ correlationId: config.correlationId }));
        }
      }, config.signal);
    } catch (error) {
      throwIfCancelled();
      if (isHttpError(error) && options.throwOnError === false) return error.response;
      throw error;
    }
  }

  const method =
    (name: string): MethodCall =>
    (url: string, options: HttpRequestOptions & { throwOnError?: boolean } = {}) =>
      request(url, { ...options, method: name }) as Promise<OkResponse>;

  return {
    settleUnread,
    request: request as HttpClient['request'],
    get: method('GET'),
    post: method('POST'),
    put: method('PUT'),
    patch: method('PATCH'),
    delete: method('DELETE'),
    async getJson<T>(url: string, options: Omit<CheckedRequestOptions, 'method'> = {}) {
      const response = await request(url, { ...options, method: 'GET' });
      const text = await response.text();
      const answered = `GET ${redact(buildUrl(url, options.query))} answered ${response.status}`;
      // Transient, as a failed parse always was: an HTML page with 200 is usually a maintenance or proxy page.
      if (text.trim() === '') throw new TransientError(`${answered} with an empty body, not JSON`);
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        const type = redact(response.headers.get('content-type') ?? 'no content-type').slice(0, 100);
        throw new TransientError(`${answered} with a body that is not JSON (${type}): ${redact(text).slice(0, 300)}`, { cause: error });
      }
    },
  };
}
