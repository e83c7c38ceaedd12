import NextAuth from 'next-auth';
import { NextResponse } from 'next/server';
import { authConfig } from '@/lib/auth/auth.config';

const { auth } = NextAuth(authConfig);

/**
 * Sends anonymous page requests to sign-in and answers anonymous API calls with 401. This is a
 * courtesy at the edge: every page, server action and route handler checks the session and the
 * role again on the server (lib/auth/guards.ts).
 */
/** A path Next.js cannot decode ('%ZZ', a cut '%E0%A4'): its router would answer a plain-text 500. */
function malformedPath(pathname: string): boolean {
  try {
    decodeURIComponent(pathname);
    return false;
  } catch {
    return true;
  }
}

const MALFORMED = "This address has malformed percent-encoding (such as '%ZZ'): encode '%' in a name as '%25'.";

export default auth((req) => {
  const { pathname, search } = req.nextUrl;
  if (malformedPath(pathname)) {
    return pathname.startsWith('/api/')
      ? NextResponse.json({ error: MALFORMED }, { status: 400 })
      : new NextResponse(MALFORMED, { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  }
  if (req.auth?.user) return NextResponse.next();
  if (pathname.startsWith('/api/')) {
    // Scripts call the JSON API with `Authorization: Bearer <API token>`: the route handler checks
    // it (lib/server/route.ts). Pages and server actions only know sessions, so a token alone gets
    // the sign-in redirect there.
    if (req.headers.get('authorization')) return NextResponse.next();
    return NextResponse.json({ error: 'Not signed in: sign in at /signin first.' }, { status: 401 });
  }
  const url = new URL('/signin', req.nextUrl.origin);
  if (pathname !== '/') url.searchParams.set('callbackUrl', `${pathname}${search}`);
  return NextResponse.redirect(url);
});

export const config = {
  // Everything but sign-in, Auth.js itself, health, metrics (METRICS_TOKEN), the OpenAPI document,
  // webhook endpoints (signed, no session) and static assets.
  matcher: ['/((?!signin|api/auth|api/health|api/metrics|api/openapi.json|hooks/|_next/static|_next/image|favicon.ico).*)'],
};
