import type { NextAuthConfig } from 'next-auth';

/**
 * Edge-safe part of the Auth.js configuration (no providers, no database): the proxy uses it to
 * send anonymous page requests to sign-in. Authorization itself happens on the server, in every
 * layout, server action and route handler (lib/auth/guards.ts).
 */
export const authConfig = {
  pages: { signIn: '/signin', error: '/signin' },
  session: { strategy: 'jwt', maxAge: 8 * 60 * 60 },
  trustHost: true,
  providers: [],
  callbacks: {
    authorized({ auth }) {
      return Boolean(auth?.user);
    },
  },
} satisfies NextAuthConfig;
