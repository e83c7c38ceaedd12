import 'server-only';
import { getToken } from 'next-auth/jwt';
import { cookies, headers } from 'next/headers';
import { loadEnv } from '../env';
import { getDb } from '../server/db';
import { oidcClientId, oidcIssuer, signOut } from './auth';
import { endSessions } from './users';

/**
 * Sign-out ends this browser's Junction session AND the identity provider's session (OpenID
 * Connect RP-initiated logout), so the next sign-in on this screen shows the provider's login form
 * and another person can sign in. "Sign out everywhere" also ends every other session of the user
 * (users.sessions_valid_after). An issuer without an end_session_endpoint (Google, for one) only
 * gets the local sign-out: its session then lives on, as it does for any site that uses it.
 */

const DISCOVERY_TIMEOUT_MS = 3_000;
let endpoint: Promise<string | null> | undefined;

/** The issuer's end_session_endpoint from its discovery document; null when it has none. */
async function endSessionEndpoint(): Promise<string | null> {
  endpoint ??= fetch(`${oidcIssuer.replace(/\/$/, '')}/.well-known/openid-configuration`, {
    signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS),
  })
    .then(async (res) => {
      if (!res.ok) throw new Error(`discovery answered ${res.status}`);
      const value = ((await res.json()) as { end_session_endpoint?: unknown }).end_session_endpoint;
      return typeof value === 'string' && /^https?:\/\//.test(value) ? value : null;
    })
    .catch((error: unknown) => {
      // Not cached: the next sign-out asks again (the provider may only be restarting).
      endpoint = undefined;
      console.warn(
        `[auth] the identity provider's end_session_endpoint is unknown (${(error as Error).message}): signing out of Junction only`,
      );
      return null;
    });
  return endpoint;
}

/** Where the browser goes after signing out: the provider's logout, which sends it back to /signin. */
export async function identityProviderLogoutUrl(idToken: string | undefined): Promise<string | null> {
  const end = await endSessionEndpoint();
  if (!end) return null;
  const url = new URL(end);
  if (idToken) url.searchParams.set('id_token_hint', idToken);
  url.searchParams.set('client_id', oidcClientId);
  url.searchParams.set('post_logout_redirect_uri', `${loadEnv().APP_URL.replace(/\/$/, '')}/signin`);
  return url.toString();
}

/** The decoded session token of this request (the id token lives only there), or null. */
async function sessionToken(): Promise<Record<string, unknown> | null> {
  const secure = (await cookies()).getAll().some((c) => c.name.startsWith('__Secure-authjs.session-token'));
  return (await getToken({ req: { headers: await headers() }, secret: process.env.AUTH_SECRET, secureCookie: secure })) as Record<
    string,
    unknown
  > | null;
}

/**
 * Ends the session of this request (and with `everywhere` every session of its user), clears the
 * cookie, and returns the URL to send the browser to.
 */
export async function endSignedInSession(params: { everywhere: boolean }): Promise<string> {
  const token = await sessionToken();
  if (params.everywhere && typeof token?.uid === 'string') await endSessions(getDb(), { userId: token.uid });
  // Clears the cookie; the signOut event records this session as ended.
  await signOut({ redirect: false });
  return (await identityProviderLogoutUrl(typeof token?.idToken === 'string' ? token.idToken : undefined)) ?? '/signin';
}
