import { randomUUID } from 'node:crypto';
import type { Registry } from '../contract';
import { CORRELATION_ATTRIBUTE, incomingContext, SpanKind, withSpan } from '../observability/tracing';
import { clip } from '../words';
import { eventsOf, NO_SUCH_ENDPOINT, receiveWebhook, type IntakeDeps, type IntakeRequest } from './intake';

/**
 * `POST /hooks/<integration>` as HTTP, whatever server carries it: the Next.js route
 * (app/hooks/[integration]/route.ts) and the dedicated intake listener (lib/platform/intake/listener.ts)
 * both hand over the raw headers and a body reader and send back exactly what this returns, so the
 * two endpoints answer the same statuses, headers and bodies.
 */

export interface WebhookHttpAnswer {
  status: number;
  headers: Record<string, string>;
  /** JSON text. */
  body: string;
}

/**
 * Answers are a few bytes for a server, never cached: `no-transform` keeps a framework's gzip off
 * them (compressing each tiny answer cost more CPU than anything else in the route but Next itself).
 * `x-correlation-id` names the delivery in logs and on the span.
 */
function answerHeaders(correlationId: string): Record<string, string> {
  return { 'content-type': 'application/json', 'cache-control': 'no-store, no-transform', 'x-correlation-id': correlationId };
}

/** Any method but POST on a webhook endpoint. */
export const METHOD_NOT_ALLOWED: WebhookHttpAnswer = {
  status: 405,
  headers: { 'content-type': 'application/json', allow: 'POST', 'cache-control': 'no-store, no-transform' },
  body: JSON.stringify({ error: 'webhook endpoints accept POST only' }),
};

/**
 * A method other than POST: 405 on an endpoint that exists, and the 404 a POST gets on one that does
 * not (an integration that receives no events included), so no method tells which names exist.
 */
export function answerOtherMethod(registry: Registry, integration: string): WebhookHttpAnswer {
  if (eventsOf(registry, integration)) return METHOD_NOT_ALLOWED;
  return {
    status: 404,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store, no-transform' },
    body: JSON.stringify({ error: NO_SUCH_ENDPOINT }),
  };
}

/**
 * A path under /hooks that names no endpoint (`/hooks`, `/hooks/<name>/<more>`), whatever the
 * method: the same JSON 404 on the console's routes and on the intake listener (they used to
 * answer it in other words and headers).
 */
export function answerNoEndpointPath(pathname: string): WebhookHttpAnswer {
  const path = pathname === '/hooks/' ? '/hooks' : clip(pathname, 200);
  return {
    status: 404,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store, no-transform' },
    body: JSON.stringify({ error: `no such webhook endpoint: ${path}; webhooks are delivered to POST /hooks/<integration>` }),
  };
}

/** Lower-cased single-valued headers (a repeated header keeps its first value, as `Headers.get` would not). */
export function webhookHeaders(entries: Iterable<[string, string | string[] | undefined]>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (typeof value === 'string') headers[key.toLowerCase()] = value;
    else if (Array.isArray(value) && value.length > 0) headers[key.toLowerCase()] = value.join(', ');
  }
  return headers;
}

/**
 * The sender's address, as refusals record it. X-Forwarded-For is anyone's to send, so it counts
 * only when `trustProxy` says a reverse proxy in front sets it (TRUST_PROXY); else the socket's
 * peer, or null where the server does not know it (Next.js gives a route no socket address).
 */
export function remoteOf(headers: Readonly<Record<string, string>>, options: { peer?: string | null; trustProxy: boolean }): string | null {
  const forwarded = options.trustProxy ? headers['x-forwarded-for']?.split(',')[0]?.trim() : undefined;
  return forwarded || options.peer || null;
}

/**
 * One delivery, from raw headers and body to the HTTP answer; never throws. `deps` may be a promise
 * (the web app connects pg-boss on first use): a failure there is a 503 like a failed commit.
 */
export async function answerWebhook(deps: IntakeDeps | Promise<IntakeDeps>, req: IntakeRequest): Promise<WebhookHttpAnswer> {
  const correlationId = randomUUID();
  const headers = answerHeaders(correlationId);
  return withSpan(
    'webhook.receive',
    {
      kind: SpanKind.SERVER,
      // The sender's traceparent, when it sends one: the run this event starts continues its trace.
      parent: incomingContext(req.headers),
      attributes: { [CORRELATION_ATTRIBUTE]: correlationId, 'junction.integration': req.integration },
    },
    async (span) => {
      try {
        const answer = await receiveWebhook(await deps, req);
        span.setAttribute('http.response.status_code', answer.status);
        return { status: answer.status, headers, body: JSON.stringify(answer.body) };
      } catch (error) {
        span.setAttribute('http.response.status_code', 503);
        // Nothing was committed: the sender retries. The log names no secret, signature or body:
        // the database's own message (a failed query's text would carry the payload in its parameters).
        const cause = (error as { cause?: unknown }).cause;
        const reason =
          cause instanceof Error
            ? cause.message
            : error instanceof Error && !error.message.startsWith('Failed query')
              ? error.message
              : 'query failed';
        console.error(`[intake] ${req.integration}: delivery not stored (correlation ${correlationId}): ${reason.slice(0, 200)}`);
        return {
          status: 503,
          headers: { ...headers, 'retry-after': '1' },
          body: JSON.stringify({ error: 'temporarily unable to store the event; retry later', correlationId }),
        };
      }
    },
  );
}
