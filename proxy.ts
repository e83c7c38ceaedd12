import NextAuth from 'next-auth';
import { NextResponse } from 'next/server';
import { authConfig } from '@/lib/auth/auth.config';

const { auth } = NextAuth(authConfig);

/**
 * Sends anonymous page requests to sign-in and answers anonymous API calls with 401. This is a
 * courtesy at the edge: every page, server action and route handler checks the session and the
 * role again on the server (lib/auth/guards.ts).
 */
export default auth((req) => {
  if (req.auth?.user) return NextResponse.next();
  const { pathname, search } = req.nextUrl;
  if (pathname.startsWith('/api/')) {
    return NextResponse.json({ error: 'Not signed in: sign in at /signin first.' }, { status: 401 });
  }
  const url = new URL('/signin', req.nextUrl.origin);
  if (pathname !== '/') url.searchParams.set('callbackUrl', `${pathname}${search}`);
  return NextResponse.redirect(url);
});

export const config = {
  // Everything but sign-in, Auth.js itself, health and static assets.
  matcher: ['/((?!signin|api/auth|api/health|_next/static|_next/image|favicon.ico).*)'],
};
