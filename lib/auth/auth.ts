import 'server-only';
import { randomUUID } from 'node:crypto';
import NextAuth, { type DefaultSession } from 'next-auth';
import type { Role } from '../../db/schema';
import { loadEnv, parseRoleMap } from '../env';
import { errorMessage, isDatabaseUnavailableError } from '../platform/errors';
import { getDb } from '../server/db';
import { authConfig } from './auth.config';
import { roleFromClaims } from './roles';
import { endSession, findSessionUser, upsertSignedInUser } from './users';

declare module 'next-auth' {
  interface Session {
    user: { id: string; role: Role; disabled: boolean } & DefaultSession['user'];
    /** The signed-in user could not be read (the database failed): not known to be signed out. */
    unavailable?: 'database' | 'error';
  }
}

const env = loadEnv();
// With no external issuer configured, the bundled local identity provider (sandbox/idp.ts) signs people in.
export const oidcIssuer = env.OIDC_ISSUER ?? env.IDP_URL;
export const oidcClientId = env.OIDC_CLIENT_ID ?? 'junction-console';
const issuer = oidcIssuer;
const local = !env.OIDC_ISSUER;

export const { handlers, auth, signIn, signOut } = NextAuth({
  ...authConfig,
  providers: [
    {
      id: 'oidc',
      name: local ? 'Junction local SSO' : 'SSO',
      type: 'oidc',
      issuer,
      clientId: oidcClientId,
      clientSecret: env.OIDC_CLIENT_SECRET ?? 'junction-console-dev-secret',
      authorization: { params: { scope: env.OIDC_SCOPE } },
      checks: ['pkce', 'state'],
    },
  ],
  events: {
    // Sign-out ends this browser's session only (a copy of its cookie is refused from now on);
    // "Sign out everywhere" also moves users.sessions_valid_after (lib/auth/sign-out.ts).
    async signOut(message) {
      const token = 'token' in message ? message.token : null;
      if (typeof token?.uid === 'string' && typeof token.sid === 'string')
        await endSession(getDb(), { sessionId: token.sid, userId: token.uid });
    },
  },
  callbacks: {
    ...authConfig.callbacks,
    async jwt({ token, account, profile }) {
      if (account && profile) {
        const user = await upsertSignedInUser(getDb(), {
          subject: `${issuer}|${profile.sub ?? account.providerAccountId}`,
          email: typeof profile.email === 'string' ? profile.email : null,
          name: String(profile.name ?? profile.email ?? profile.sub ?? 'Unknown user'),
          initialRole: roleFromClaims(profile[env.OIDC_ROLE_CLAIM], parseRoleMap(env.OIDC_ROLE_MAP)),
        });
        token.uid = user.id;
        token.loginAt = Date.now();
        // One id per sign-in, so sign-out can end this session and no other.
        token.sid = randomUUID();
        // Kept for RP-initiated logout (id_token_hint). The session cookie is encrypted (JWE) and
        // the session callback never copies it into what /api/auth/session answers.
        if (account.id_token) token.idToken = account.id_token;
      }
      return token;
    },
    // Role and disabled flag are read from the database on every request, so an admin's change
    // (or disabling a user) takes effect on that user's next request, not at token expiry.
    async session({ session, token }) {
      let found: Awaited<ReturnType<typeof findSessionUser>>;
      try {
        found =
          typeof token.uid === 'string'
            ? await findSessionUser(getDb(), { id: token.uid, sessionId: typeof token.sid === 'string' ? token.sid : null })
            : undefined;
      } catch (error) {
        // Auth.js would log the failed query (with the session's ids) and answer "no session": a
        // database failure then told signed-in people to sign in again (401, or the sign-in page).
        // Marked instead, so guards.ts answers it as the failure it is.
        console.error(`[auth] the signed-in user could not be read: ${errorMessage(error).split('\n')[0]}`);
        return { ...session, user: undefined as never, unavailable: isDatabaseUnavailableError(error) ? 'database' : 'error' };
      }
      const user = found?.user;
      const loginAt = typeof token.loginAt === 'number' ? token.loginAt : 0;
      // A token from before the user's last "sign out everywhere", or of a session signed out in
      // its browser, is dead, even if someone kept a copy of the cookie.
      const revoked = found?.sessionEnded || (user?.sessionsValidAfter && loginAt <= user.sessionsValidAfter.getTime());
      if (!user || revoked) return { ...session, user: undefined as never };
      session.user = {
        ...session.user,
        id: user.id,
        name: user.name,
        email: user.email ?? '',
        role: user.role,
        disabled: user.disabled,
      };
      return session;
    },
  },
});
