import { and, desc, eq, getTableColumns, isNull, sql } from 'drizzle-orm';
import type { Database, DatabaseOrTransaction } from '../../db/client';
import { apiTokens, auditLog, endedSessions, users, type Role, type User } from '../../db/schema';
import { AppError } from '../platform/errors';
import { appendAudit, type AuditEntry } from '../platform/governance/audit';
import { isUuid } from '../platform/params';
import { exactTime, formatRelative } from '../platform/when';

/** Who the audit trail names for what a sign-in records: the role from the claims, a changed e-mail. */
export const IDENTITY_PROVIDER = 'identity provider';

/**
 * Creates the user on first sign-in with the role derived from the IdP claims; later sign-ins
 * refresh name and e-mail but keep the role an admin may have changed since.
 *
 * The first sign-in is audited (`user.<audit key>.role`, from nothing to the role, by the identity
 * provider): a role granted there is in the trail like one an admin grants, so a later direct
 * `update users set role = 'admin'` differs from the trail and the configuration check names it
 * (config-drift.ts). An e-mail changed at the identity provider is audited too
 * (`user.<new key>.email`, old → new): the user's audit fields are keyed by their e-mail made unique
 * (users.audit_key, claimAuditKey), and the check follows the rename to keep comparing them.
 */
export async function upsertSignedInUser(
  db: DatabaseOrTransaction,
  params: { subject: string; email: string | null; name: string; initialRole: Role },
): Promise<User> {
  return db.transaction(async (tx) => {
    const [previous] = await tx
      .select({ id: users.id, email: users.email, auditKey: users.auditKey })
      .from(users)
      .where(eq(users.subject, params.subject));
    const [{ inserted, ...user }] = await tx
      .insert(users)
      .values({ subject: params.subject, email: params.email, name: params.name, role: params.initialRole, lastSeenAt: new Date() })
      .onConflictDoUpdate({
        target: users.subject,
        set: { email: params.email, name: params.name, lastSeenAt: sql`now()` },
      })
      // xmax is 0 on a row this statement inserted: of two first sign-ins at once, one inserts.
      .returning({ ...getTableColumns(users), inserted: sql<boolean>`(xmax = 0)` });
    if (inserted) {
      user.auditKey = await claimAuditKey(tx, user);
      await appendAudit(tx, {
        actor: IDENTITY_PROVIDER,
        entries: [{ kind: 'user', fieldName: userField(user, 'role'), oldValue: null, newValue: user.role }],
      });
    } else if (previous && user.email !== null && previous.email !== user.email && previous.auditKey) {
      // A new e-mail moves the key (an e-mail removed keeps the one it has: no id shown as an address).
      const from = previous.auditKey;
      user.auditKey = await claimAuditKey(tx, user);
      await appendAudit(tx, {
        actor: IDENTITY_PROVIDER,
        entries: [{ kind: 'user', fieldName: `user.${user.auditKey}.email`, oldValue: from, newValue: user.auditKey }],
      });
    }
    return user;
  });
}

/**
 * Gives the user an audit key of their own (users.audit_key) and returns it: their e-mail (the
 * id without one), unless another user holds it as their key or the trail already names someone
 * by it (a departed person's address given to a new hire), then the e-mail and the start of the
 * id. Serialised: two first sign-ins with one address at once get different keys.
 */
async function claimAuditKey(tx: DatabaseOrTransaction, user: Pick<User, 'id' | 'email'>): Promise<string> {
  await tx.execute(sql`select pg_advisory_xact_lock(727277)`);
  const candidate = user.email ?? user.id;
  const [{ taken }] = await tx.execute<{ taken: boolean }>(sql`
    select exists (select 1 from users where audit_key = ${candidate} and id <> ${user.id})
        or exists (select 1 from audit_log where integration is null and kind = 'user'
                      and field_name in (${`user.${candidate}.role`}, ${`user.${candidate}.disabled`})) as taken`);
  const key = taken ? `${candidate} #${user.id.slice(0, 8)}` : candidate;
  await tx.update(users).set({ auditKey: key }).where(eq(users.id, user.id));
  return key;
}

/** Ends every session of the user started until now ("Sign out everywhere"; tokens cannot be recalled). */
export async function endSessions(db: DatabaseOrTransaction, params: { userId: string }): Promise<void> {
  await db
    .update(users)
    .set({ sessionsValidAfter: sql`now()` })
    .where(eq(users.id, params.userId));
}

/** Ends one session (sign-out of one browser): a copy of its cookie is refused from now on. */
export async function endSession(db: DatabaseOrTransaction, params: { sessionId: string; userId: string }): Promise<void> {
  if (!isUuid(params.sessionId)) return;
  await db.insert(endedSessions).values({ sessionId: params.sessionId, userId: params.userId }).onConflictDoNothing();
}

export async function findUser(db: DatabaseOrTransaction, params: { id: string }): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(users.id, params.id));
  return user;
}

/** The user of a session and whether that session was signed out, in one query (every request asks). */
export async function findSessionUser(
  db: DatabaseOrTransaction,
  params: { id: string; sessionId: string | null },
): Promise<{ user: User; sessionEnded: boolean } | undefined> {
  if (!isUuid(params.id)) return undefined;
  const sessionId = params.sessionId && isUuid(params.sessionId) ? params.sessionId : null;
  const [row] = await db
    .select({
      user: users,
      sessionEnded: sessionId
        ? sql<boolean>`exists (select 1 from ${endedSessions} e where e.session_id = ${sessionId}::uuid)`
        : sql<boolean>`false`,
    })
    .from(users)
    .where(eq(users.id, params.id));
  // "Last seen" on the Users page: a signed-in person's requests, not only their last sign-in (Ada
  // read "32 minutes ago" while at work). Written at most every LAST_SEEN_EVERY_MS per user.
  if (row && !row.sessionEnded && (!row.user.lastSeenAt || Date.now() - row.user.lastSeenAt.getTime() > LAST_SEEN_EVERY_MS)) {
    const [seen] = await db
      .update(users)
      .set({ lastSeenAt: sql`now()` })
      .where(eq(users.id, row.user.id))
      .returning({ lastSeenAt: users.lastSeenAt });
    if (seen) row.user.lastSeenAt = seen.lastSeenAt;
  }
  return row;
}

/** How stale "last seen" may be: one write per user per five minutes of use. */
const LAST_SEEN_EVERY_MS = 5 * 60_000;

export async function listUsers(db: DatabaseOrTransaction): Promise<User[]> {
  return db.select().from(users).orderBy(users.name);
}

/** The enabled admins (who can grant a role), by name. */
export async function listAdmins(db: DatabaseOrTransaction): Promise<Pick<User, 'name' | 'email'>[]> {
  return db
    .select({ name: users.name, email: users.email })
    .from(users)
    .where(and(eq(users.role, 'admin'), eq(users.disabled, false)))
    .orderBy(users.name);
}

/** The audit field of a user's role or enabled flag (`user.<audit key>.role`: see users.audit_key). */
function userField(user: Pick<User, 'auditKey' | 'email' | 'id'>, field: 'role' | 'disabled'): string {
  return `user.${user.auditKey ?? user.email ?? user.id}.${field}`;
}

/**
 * Why a change made on a stale view is refused: what the user's role or enabled flag is now, and
 * who changed it when (from the audit trail), so the admin knows what they would have overwritten.
 */
async function staleUserMessage(tx: DatabaseOrTransaction, user: User, field: 'role' | 'disabled'): Promise<string> {
  const [last] = await tx
    .select({ changedBy: auditLog.changedBy, changedAt: auditLog.changedAt })
    .from(auditLog)
    .where(and(isNull(auditLog.integration), eq(auditLog.kind, 'user'), eq(auditLog.fieldName, userField(user, field))))
    .orderBy(desc(auditLog.changedAt), desc(auditLog.id))
    .limit(1);
  const what =
    field === 'role' ? `${user.name}'s role was changed to ${user.role}` : `${user.name} was ${user.disabled ? 'disabled' : 'enabled'}`;
  const who = last
    ? ` by ${last.changedBy} ${formatRelative(last.changedAt, Date.now())} (${exactTime(last.changedAt)})`
    : ' since you loaded the page';
  return `${what}${who}; reload the page to see it, then decide again. Nothing was changed.`;
}

/**
 * Changes a user's role or enabled flag, audited in the same transaction. The last enabled admin
 * cannot be demoted or disabled: somebody must always be able to administer Junction. Disabling
 * also ends every session of the user (as "Sign out everywhere" does).
 *
 * `expectedRole` and `expectedDisabled` are what the admin saw when deciding (the Users page sends
 * both): when another admin has changed either since, the change is refused (`stale`), not applied
 * over theirs. The row lock makes the check and the write one step, so of two admins acting on the
 * same view at once, one wins and the other is told.
 */
export async function updateUser(
  db: Database,
  params: {
    userId: string;
    role?: Role;
    disabled?: boolean;
    expectedRole?: Role;
    expectedDisabled?: boolean;
    actor: string;
    correlationId?: string;
  },
): Promise<User> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(727276)`);
    const [before] = await tx.select().from(users).where(eq(users.id, params.userId)).for('update');
    if (!before) throw new AppError('not_found', `User ${params.userId} does not exist.`);
    const staleField =
      params.expectedRole !== undefined && params.expectedRole !== before.role
        ? 'role'
        : params.expectedDisabled !== undefined && params.expectedDisabled !== before.disabled
          ? 'disabled'
          : null;
    if (staleField) {
      throw new AppError('stale', await staleUserMessage(tx, before, staleField), {
        details: { latest: { role: before.role, disabled: before.disabled } },
      });
    }
    const role = params.role ?? before.role;
    const disabled = params.disabled ?? before.disabled;
    if (before.role === 'admin' && !before.disabled && (role !== 'admin' || disabled)) {
      const [{ n }] = await tx.execute<{ n: number }>(sql`select count(*)::int as n from users where role = 'admin' and not disabled`);
      if (n <= 1) throw new AppError('invalid_state', `${before.name} is the last enabled admin: make someone else admin first.`);
    }
    const entries: AuditEntry[] = [];
    if (role !== before.role)
      entries.push({ kind: 'user' as const, fieldName: userField(before, 'role'), oldValue: before.role, newValue: role });
    if (disabled !== before.disabled)
      entries.push({
        kind: 'user' as const,
        fieldName: userField(before, 'disabled'),
        oldValue: before.disabled,
        newValue: disabled,
      });
    if (entries.length === 0) return before;
    // Disabling signs the user out everywhere: the sessions open at that moment must not come back
    // when an admin enables the user again (a stolen cookie of a disabled account stays dead).
    const disabling = disabled && !before.disabled;
    const signOut = disabling ? { sessionsValidAfter: sql`now()` } : {};
    if (disabling) {
      // Their API tokens too: refused while the user is disabled, they came back with the user, and a
      // token made by whoever held the account (the reason to disable it) with them. Revoked, audited.
      const revoked = await tx
        .update(apiTokens)
        .set({ revokedAt: sql`now()`, revokedBy: params.actor })
        .where(and(eq(apiTokens.createdByUserId, before.id), isNull(apiTokens.revokedAt)))
        .returning({ name: apiTokens.name, role: apiTokens.role, prefix: apiTokens.prefix });
      for (const token of revoked)
        entries.push({
          kind: 'action',
          fieldName: 'api_token_revoke',
          newValue: { ...token, reason: `its creator ${before.name} was disabled` },
        });
    }
    const [after] = await tx
      .update(users)
      .set({ role, disabled, ...signOut })
      .where(eq(users.id, before.id))
      .returning();
    await appendAudit(tx, { actor: params.actor, correlationId: params.correlationId, entries });
    return after;
  });
}
