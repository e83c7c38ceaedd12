import 'server-only';
import { randomUUID } from 'node:crypto';
import { NextResponse } from 'next/server';
import { z } from 'zod';
import type { DatabaseOrTransaction } from '../../db/client';
import type { Role } from '../../db/schema';
import { authenticateApiToken, tokenRoleRefusal } from '../auth/api-tokens';
import { authorize, type Authorization, type SessionUser } from '../auth/guards';
import { hasRole } from '../auth/roles';
import { AppError } from '../platform/errors';
import { CORRELATION_ATTRIBUTE, SpanKind, withSpan } from '../platform/observability/tracing';
import { requestHash, withIdempotencyKey, type IdempotentAnswer } from '../platform/triggers/idempotency';
import {
  errorAnswer,
  fieldErrorsOf,
  inputFieldNames,
  knownError,
  queryRefusal,
  unexpectedErrorAnswer,
  unstorableInputRefusal,
} from './answers';
import { getDb } from './db';
import { readBodyUpTo } from './read-body';

type RouteContext = { params: Promise<Record<string, string>> };

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A cross-site request carries an Origin (or Referer) of another site: refuse it for mutations. */
function sameOrigin(request: Request): boolean {
  const origin = request.headers.get('origin') ?? request.headers.get('referer');
  if (!origin) return request.headers.get('sec-fetch-site') !== 'cross-site';
  const host = request.headers.get('x-forwarded-host') ?? request.headers.get('host');
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Largest request body a route reads, in bytes (UTF-8), as the webhook routes count it. */
const MAX_BODY_BYTES = 1_000_000;

/**
 * The request body as text, or null when it is larger than MAX_BODY_BYTES (a declared
 * Content-Length over it, or the bytes read so far; reading stops there). Counted in bytes: the
 * length of request.text() counted UTF-16 units, so 1.2 MB of '€' passed as 400 000 characters.
 */
async function readBodyLimited(request: Request): Promise<string | null> {
  const declared = Number(request.headers.get('content-length') ?? '');
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return null;
  const body = await readBodyUpTo(request, MAX_BODY_BYTES);
  return body === null ? null : new TextDecoder().decode(body);
}

/**
 * The caller of an API request: a bearer token (`Authorization: Bearer jct_...`) when the request
 * carries one, else the session cookie. A request with a token is judged by the token alone (a bad
 * token is a 401 even beside a valid cookie), and a token never grants more than its role.
 */
export async function authorizeRequest(request: Request, required: Role): Promise<Authorization> {
  const header = request.headers.get('authorization');
  if (header === null) return authorize(required);
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    return {
      ok: false,
      error: new AppError('unauthenticated', "The Authorization header must be 'Bearer <token>' with a Junction API token."),
    };
  }
  const result = await authenticateApiToken(getDb(), match[1]);
  if (!result.ok) return { ok: false, error: new AppError('unauthenticated', result.error) };
  if (!hasRole(result.role, required)) {
    return { ok: false, error: new AppError('forbidden', tokenRoleRefusal(result, required)) };
  }
  return {
    ok: true,
    user: { id: result.userId, name: result.actor, email: '', role: result.role, tokenId: result.token.id },
  };
}

/**
 * The RFC 6750 challenge of a 401: `invalid_token` when the request carried credentials that were
 * refused (a bad, expired or revoked token), bare when it carried none (no session).
 */
function bearerChallenge(request: Request): string {
  return request.headers.has('authorization') ? 'Bearer realm="junction", error="invalid_token"' : 'Bearer realm="junction"';
}

/** An unexpected failure as JSON: a 500 with a reference, or a 503 with Retry-After while the database is unavailable. */
function unexpectedErrorResponse(error: unknown, correlationId: string): NextResponse {
  const { status, ...body } = unexpectedErrorAnswer(error, correlationId, 'api');
  return NextResponse.json(body, { status, headers: status === 503 ? { 'retry-after': '30' } : {} });
}

/**
 * Every route handler goes through here: same-origin check for mutations, session, role, zod on
 * the input (JSON body for mutations, query string for reads; a query parameter the route does not
 * take is refused, never dropped), then the work; errors become JSON
 * with a status and a message a person can act on. A mutation with an `Idempotency-Key` header
 * runs at most once per user, route and key (lib/platform/triggers/idempotency.ts): a repeat gets the
 * stored answer (header `Idempotent-Replayed: true`), a repeat with another body a 422.
 */
export function route<S extends z.ZodType>(options: {
  role: Role;
  input?: S;
  /**
   * `db` is the database, or with an Idempotency-Key the transaction that also stores the answer:
   * every write of the handler goes through it.
   */
  handler: (ctx: {
    input: z.infer<S>;
    user: SessionUser;
    params: Record<string, string>;
    request: Request;
    correlationId: string;
    db: DatabaseOrTransaction;
  }) => Promise<unknown>;
}) {
  const inputFields = inputFieldNames(options.input);
  return async (request: Request, context: RouteContext) => {
    const correlationId = randomUUID();
    if (MUTATING.has(request.method) && !sameOrigin(request)) {
      return NextResponse.json(
        { error: 'Cross-site request refused: call this API from the Junction console or without an Origin header.' },
        { status: 403 },
      );
    }
    let access: Authorization;
    try {
      access = await authorizeRequest(request, options.role);
    } catch (error) {
      // The session or token could not be checked (the database failed): the JSON 500 with a
      // reference, not Next's bare one; a 503 with Retry-After while the database is unavailable.
      return unexpectedErrorResponse(error, correlationId);
    }
    if (!access.ok) {
      const { status, ...body } = errorAnswer(access.error);
      return NextResponse.json(body, { status, headers: status === 401 ? { 'www-authenticate': bearerChallenge(request) } : {} });
    }
    // A parameter the route does not take, or one given twice, is refused rather than dropped
    // (queryRefusal says why); a mutation takes none: its input is the JSON body.
    const query = new URL(request.url).searchParams;
    const queryRefused = MUTATING.has(request.method)
      ? queryRefusal(query, { accepted: [], bodyFields: inputFields ?? [] })
      : queryRefusal(query, { accepted: inputFields });
    if (queryRefused) return NextResponse.json(queryRefused, { status: 400 });
    let raw: unknown = {};
    if (MUTATING.has(request.method)) {
      const text = await readBodyLimited(request);
      if (text === null) return NextResponse.json({ error: 'Request body is larger than 1 MB.' }, { status: 413 });
      try {
        raw = text ? JSON.parse(text) : {};
      } catch {
        return NextResponse.json({ error: 'Request body is not valid JSON.' }, { status: 400 });
      }
    } else {
      raw = Object.fromEntries(query);
    }
    const params = await context.params;
    const refusal = unstorableInputRefusal(raw) ?? unstorableInputRefusal(params);
    if (refusal) return NextResponse.json(refusal, { status: 400 });
    let input: unknown = raw;
    if (options.input) {
      const parsed = options.input.safeParse(raw);
      if (!parsed.success) {
        return NextResponse.json(
          { error: 'Some fields need attention.', fieldErrors: fieldErrorsOf(parsed.error, options.input) },
          { status: 400 },
        );
      }
      input = parsed.data;
    }
    // The handler's answer, with the platform's refusals as their status; anything else throws.
    const answer = async (db: DatabaseOrTransaction): Promise<IdempotentAnswer> => {
      try {
        const attributes = {
          [CORRELATION_ATTRIBUTE]: correlationId,
          'http.request.method': request.method,
          'url.path': new URL(request.url).pathname,
          'enduser.role': access.user.role,
          ...(access.user.tokenId ? { 'junction.api_token_id': access.user.tokenId } : {}),
        };
        const body = await withSpan(`API ${request.method}`, { kind: SpanKind.SERVER, attributes }, () =>
          options.handler({ input: input as z.infer<S>, user: access.user, params, request, correlationId, db }),
        );
        return { status: 200, body: body ?? { ok: true } };
      } catch (error) {
        const known = knownError(error);
        if (!known) throw error;
        const { status, ...body } = known;
        return { status, body };
      }
    };
    const idempotencyKey = MUTATING.has(request.method) ? request.headers.get('idempotency-key') : null;
    try {
      if (idempotencyKey === null) {
        const { status, body } = await answer(getDb());
        return NextResponse.json(body, { status, headers: { 'cache-control': 'no-store' } });
      }
      const result = await withIdempotencyKey(
        getDb(),
        {
          userId: access.user.id,
          // A token's keys are its own, not its creator's.
          route: `${access.user.tokenId ? `token ${access.user.tokenId} ` : ''}${request.method} ${new URL(request.url).pathname}`,
          key: idempotencyKey,
          requestHash: requestHash(raw),
        },
        (tx) => answer(tx),
      );
      return NextResponse.json(result.body, {
        status: result.status,
        headers: { 'cache-control': 'no-store', ...(result.replayed ? { 'idempotent-replayed': 'true' } : {}) },
      });
    } catch (error) {
      // A refused Idempotency-Key (malformed, or reused with another body) is an AppError too.
      const known = knownError(error);
      if (known) {
        const { status, ...body } = known;
        return NextResponse.json(body, { status });
      }
      return unexpectedErrorResponse(error, correlationId);
    }
  };
}
