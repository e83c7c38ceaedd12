import NextAuth from 'next-auth';
import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server';
import { authConfig } from '@/lib/auth/auth.config';
import { isMalformedPath, MALFORMED_PATH_MESSAGE } from '@/lib/platform/malformed-path';
import { clip } from '@/lib/platform/words';

const { auth } = NextAuth(authConfig);

/** Paths machines call (the JSON API, webhooks): their refusals are JSON. */
const MACHINE_PATH = /^\/(?:api|hooks)(?:[/%]|$)/;

/**
 * Why a server action call comes from another site, or null when it does not. It is the check Next
 * itself makes (Origin's host against X-Forwarded-Host, else Host; no Origin passes, as in Next),
 * made first: Next refuses such a call with a 500 and an error in the log, not a 403 that says why.
 * A POST to a page is one even without the Next-Action header: a plain HTML form posting
 * `$ACTION_ID_<id>` fields invokes the action too (and met the same 500).
 */
export function crossOriginAction(headers: Headers, method = 'GET', pathname = '/'): string | null {
  const formPost = method === 'POST' && !MACHINE_PATH.test(pathname);
  if (!headers.has('next-action') && !formPost) return null;
  const origin = headers.get('origin');
  if (origin === null) return null;
  const site = headers.get('x-forwarded-host')?.split(',')[0]?.trim() || headers.get('host');
  let from: string;
  try {
    from = origin === 'null' ? 'null' : new URL(origin).host;
  } catch {
    from = '';
  }
  if (site && from === site) return null;
  const shown = clip(origin, 100);
  return `Cross-site server action refused: it comes from ${JSON.stringify(shown)}, not from this site (${site ?? 'no Host header'}). Use the console at its own address.`;
}

/**
 * Paths served without a session: sign-in, Auth.js itself, health, metrics (METRICS_TOKEN), the
 * OpenAPI document and webhook endpoints (signed, no session). They pass the proxy after the
 * malformed-path check without the cost of reading a session: /hooks and /api/health are hot.
 */
const SESSION_FREE = /^\/(?:signin|api\/auth|api\/health|api\/metrics|api\/openapi\.json|hooks)(?:\/|$)/;

/**
 * Sends anonymous page requests to sign-in and answers anonymous API calls with 401. This is a
 * courtesy at the edge: every page, server action and route handler checks the session and the
 * role again on the server (lib/auth/guards.ts).
 */
const sessionGuard = auth((req) => {
  const { pathname, search } = req.nextUrl;
  if (req.auth?.user) return NextResponse.next();
  if (pathname === '/api' || pathname.startsWith('/api/')) {
    // OPTIONS says only which methods a path serves (204 with Allow, or the JSON 404), as documented.
    if (req.method === 'OPTIONS') return NextResponse.next();
    // Scripts call the JSON API with `Authorization: Bearer <API token>`: the route handler checks
    // it (lib/server/route.ts). Pages and server actions only know sessions, so a token alone gets
    // the sign-in redirect there.
    if (req.headers.get('authorization')) return NextResponse.next();
    return NextResponse.json(
      { error: 'Not signed in: sign in at /signin first, or send Authorization: Bearer <API token>.' },
      { status: 401, headers: { 'www-authenticate': 'Bearer realm="junction"' } },
    );
  }
  const url = new URL('/signin', req.nextUrl.origin);
  if (pathname !== '/') url.searchParams.set('callbackUrl', `${pathname}${search}`);
  return NextResponse.redirect(url);
});

export default function proxy(req: NextRequest, event: NextFetchEvent) {
  const { pathname } = req.nextUrl;
  // A path Next.js cannot decode ('%ZZ', a cut '%E0%A4'): its router would answer a plain-text 500.
  // The intake listener answers /hooks/ paths the same way.
  if (isMalformedPath(pathname)) {
    return MACHINE_PATH.test(pathname)
      ? NextResponse.json({ error: MALFORMED_PATH_MESSAGE }, { status: 400 })
      : new NextResponse(MALFORMED_PATH_MESSAGE, { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  }
  if (pathname.length > 1 && pathname.endsWith('/')) {
    // A plain URL: NextURL keeps a trailing slash it was built with.
    const url = new URL(`${pathname.replace(/\/+$/, '') || '/'}${req.nextUrl.search}`, req.nextUrl.origin);
    return pathname.startsWith('/hooks/') ? NextResponse.rewrite(url) : NextResponse.redirect(url, 308);
  }
  const crossSite = crossOriginAction(req.headers, req.method, pathname);
  if (crossSite) return NextResponse.json({ error: crossSite }, { status: 403 });
  if (SESSION_FREE.test(pathname)) return NextResponse.next();
  // Auth.js types its wrapper as a route handler; Next calls a proxy with the fetch event, passed on as before.
  return sessionGuard(req, event as unknown as Parameters<typeof sessionGuard>[1]);
}

export const config = {
  // Every path but static assets: even the session-free ones need the malformed-path check.
  matcher: ['/((?!_next/static|_next/image|favicon.ico).*)'],
};
