import { NextResponse } from 'next/server';
import { clip } from '@/lib/platform/words';

/**
 * The JSON API's answers for a method a route does not serve and for a path no route serves: JSON
 * `{ error }` like every other refusal, instead of Next's empty 405 and HTML not-found page. A
 * route file lists what it serves once: `export const { PUT, PATCH, DELETE } = otherMethods('GET')`
 * answers the rest 405 with `Allow` (test/openapi.test.ts checks every route file does).
 */

export const API_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type ApiMethod = (typeof API_METHODS)[number];

const DOCUMENT = 'The API is described at /api/openapi.json.';

function path(request: Request): string {
  const { pathname } = new URL(request.url);
  return clip(pathname, 200);
}

/**
 * Handlers for every method but `served`, each answering 405 with the methods that are served,
 * and for OPTIONS: 204 with the same `Allow`. Next answers HEAD from GET; its own OPTIONS answer
 * would list every exported method, the refusing ones included.
 */
export function otherMethods<const S extends readonly ApiMethod[]>(
  ...served: S
): Record<Exclude<ApiMethod, S[number]> | 'OPTIONS', (request: Request) => Response> {
  const allow = [...served, ...(served.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
  const refuse = (request: Request) =>
    NextResponse.json(
      { error: `${request.method} is not allowed on ${path(request)}: use ${served.join(' or ')}. ${DOCUMENT}` },
      { status: 405, headers: { allow, 'cache-control': 'no-store' } },
    );
  const handlers: Partial<Record<ApiMethod | 'OPTIONS', (request: Request) => Response>> = {
    OPTIONS: () => new Response(null, { status: 204, headers: { allow, 'cache-control': 'no-store' } }),
  };
  for (const method of API_METHODS) if (!served.includes(method)) handlers[method] = refuse;
  return handlers as Record<Exclude<ApiMethod, S[number]> | 'OPTIONS', (request: Request) => Response>;
}

/** What every method answers at a path under /api that no route serves. */
export function noSuchRoute(request: Request): Response {
  return NextResponse.json(
    { error: `There is no API route at ${path(request)}. ${DOCUMENT}` },
    { status: 404, headers: { 'cache-control': 'no-store' } },
  );
}
