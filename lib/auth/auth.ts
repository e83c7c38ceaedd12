import 'server-only';
import NextAuth, { type DefaultSession } from 'next-auth';
import type { Role } from '../../db/schema';
import { loadEnv, parseRoleMap } from '../env';
import { getDb } from '../server/db';
import { authConfig } from './auth.config';
import { roleFromClaims } from './roles';
import { endSessions, findUser, upsertSignedInUser } from './users';

declare module 'next-auth' {
  interface Session {
    user: { id: string; role: Role; disabled: boolean } & DefaultSession['user'];
  }
}

const env = loadEnv();
// With no external issuer configured, the bundled local identity provider (sandbox/idp.ts) signs people in.
const issuer = env.OIDC_ISSUER ?? env.IDP_URL;
const local = !env.OIDC_ISSUER;

export const { handlers, auth, signIn, signOut } = NextAuth({
  ...authConfig,
  providers: [
    {
      id: 'oidc',
      name: local ? 'Junction local SSO' : 'SSO',
      type: 'oidc',
      issuer,
      clientId: env.OIDC_CLIENT_ID ?? 'junction-console',
      clientSecret: env.OIDC_CLIENT_SECRET ?? 'junction-console-dev-secret',
      authorization: { params: { scope: env.OIDC_SCOPE } },
      checks: ['pkce', 'state'],
    },
  ],
  events: {
    async signOut(message) {
      const token = 'token' in message ? message.token : null;
      if (typeof token?.uid === 'string') await endSessions(getDb(), { userId: token.uid });
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
      }
      return token;
    },
    // Role and disabled flag are read from the database on every request, so an admin's change
    // (or disabling a user) takes effect on that user's next request, not at token expiry.
    async session({ session, token }) {
      const user = typeof token.uid === 'string' ? await findUser(getDb(), { id: token.uid }) : undefined;
      const loginAt = typeof token.loginAt === 'number' ? token.loginAt : 0;
      // A token from before the user's last sign-out is dead, even if someone kept a copy of the cookie.
      const revoked = user?.sessionsValidAfter && loginAt <= user.sessionsValidAfter.getTime();
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
