import 'server-only';
import { forbidden, redirect } from 'next/navigation';
import type { Role } from '../../db/schema';
import { AppError, DatabaseUnavailableError } from '../platform/errors';
import { auth } from './auth';
import { hasRole } from './roles';

export interface SessionUser {
  id: string;
  name: string;
  email: string;
  role: Role;
  /** Set when the caller is an API token (lib/auth/api-tokens.ts): `id` is then its creator's, `name` the token's audit name. */
  tokenId?: string;
}

/**
 * The signed-in, enabled user of this request, or null. Throws when the user could not be read
 * (the database failed): that is an outage to answer as one, not an anonymous visitor.
 */
export async function currentUser(): Promise<SessionUser | null> {
  const session = await auth();
  if (session?.unavailable === 'database')
    throw new DatabaseUnavailableError('The signed-in user could not be read: the database is not answering');
  if (session?.unavailable) throw new Error('The signed-in user could not be read from the database');
  const user = session?.user;
  if (!user?.id || user.disabled) return null;
  return { id: user.id, name: user.name ?? user.email ?? 'Unknown', email: user.email ?? '', role: user.role };
}

/** For pages and layouts: sends anonymous visitors to sign-in. */
export async function requireUser(): Promise<SessionUser> {
  const user = await currentUser();
  if (!user) redirect('/signin');
  return user;
}

/**
 * For pages only some roles may open (Users, API tokens, Credentials): anonymous visitors go to
 * sign-in; a signed-in user without the role gets the 403 page (app/(console)/forbidden.tsx),
 * which says what is needed and who can grant it, instead of a redirect that leaves them guessing.
 */
export async function requirePageRole(required: Role): Promise<SessionUser> {
  const user = await requireUser();
  if (!hasRole(user.role, required)) forbidden();
  return user;
}

/** The caller, or why they may not: an AppError 'unauthenticated' (401) or 'forbidden' (403). */
export type Authorization = { ok: true; user: SessionUser } | { ok: false; error: AppError };

/** For server actions and route handlers: the session first, then the role. */
export async function authorize(required: Role): Promise<Authorization> {
  const user = await currentUser();
  if (!user) {
    return { ok: false, error: new AppError('unauthenticated', 'You are not signed in (or your account is disabled): sign in again.') };
  }
  if (!hasRole(user.role, required)) {
    return {
      ok: false,
      error: new AppError('forbidden', `This needs the ${required} role; you are signed in as ${user.role}. Ask an admin for access.`),
    };
  }
  return { ok: true, user };
}
