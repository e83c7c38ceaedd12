import { eq, sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../db/client';
import { users, type Role, type User } from '../../db/schema';

/**
 * Creates the user on first sign-in with the role derived from the IdP claims; later sign-ins
 * refresh name and e-mail but keep the role an admin may have changed since.
 */
export async function upsertSignedInUser(
  db: DatabaseOrTransaction,
  params: { subject: string; email: string | null; name: string; initialRole: Role },
): Promise<User> {
  const [user] = await db
    .insert(users)
    .values({ subject: params.subject, email: params.email, name: params.name, role: params.initialRole, lastSeenAt: new Date() })
    .onConflictDoUpdate({
      target: users.subject,
      set: { email: params.email, name: params.name, lastSeenAt: sql`now()` },
    })
    .returning();
  return user;
}

export async function findUser(db: DatabaseOrTransaction, params: { id: string }): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(users.id, params.id));
  return user;
}
