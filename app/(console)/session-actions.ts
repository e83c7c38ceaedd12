'use server';

import { redirect } from 'next/navigation';
import { endSignedInSession } from '@/lib/auth/sign-out';

/**
 * Sign out of this browser: ends this session and the identity provider's, so the next person at
 * this screen signs in as themselves. Takes no input; anyone signed in may end their own session.
 */
export async function signOutAction(): Promise<void> {
  redirect(await endSignedInSession({ everywhere: false }));
}

/** Sign out everywhere: also ends every other session of this user, in every browser. */
export async function signOutEverywhereAction(): Promise<void> {
  redirect(await endSignedInSession({ everywhere: true }));
}
