import { createHash, randomBytes } from 'node:crypto';
import { and, desc, eq, getTableColumns, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { DatabaseOrTransaction } from '../../db/client';
import { apiTokens, users, type ApiToken, type Role } from '../../db/schema';
import { AppError } from '../platform/errors';
import { appendAudit } from '../platform/governance/audit';
import { isUuid } from '../platform/params';
import { exactTime } from '../platform/when';
import { hasRole } from './roles';

/**
 * API tokens for scripts and CI jobs. The value is `jct_` (so secret scanners can find leaked
 * ones) and 32 random bytes in base64url; only its SHA-256 is stored, so a copy of the database
 * does not hand out working tokens. A token acts as "token <name> (created by <admin>)" with its
 * role, capped by its creator's current role, and works on the JSON API only (route handlers
 * read it; pages and server actions only know sessions).
 */

export const TOKEN_PREFIX = 'jct_';
const TOKEN_PATTERN = /^jct_[A-Za-z0-9_-]{43}$/;

export const ZCreateApiToken = z
  .object({
    name: z
      .string()
      .trim()
      .min(1, 'Give the token a name that says which script uses it.')
      .max(80, 'must be at most 80 characters')
      .regex(/^[\w .:@/-]+$/, 'may contain letters, digits, spaces and . _ - : @ / only'),
    role: z.enum(['viewer', 'operator'], { message: 'must be viewer or operator (a token is never an admin)' }),
    // A number, or digits (a form's value): z.coerce read true as 1, [5] as 5, '0x10' as 16, '1e2' as 100.
    expiresInDays: z.preprocess(
      (value) => (typeof value === 'string' && /^\d{1,6}$/.test(value.trim()) ? Number(value) : value),
      z
        .number({ error: 'must be a whole number of days, such as 90' })
        .int('must be a whole number of days')
        .min(1, 'must be at least 1 day')
        .max(365, 'must be at most 365 days: rotate long-lived tokens'),
    ),
  })
  .strict();
export type TCreateApiToken = z.infer<typeof ZCreateApiToken>;

export function hashApiToken(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A fresh value; `prefix` is what the console shows to tell tokens apart. */
export function generateApiToken(): { value: string; hash: string; prefix: string } {
  const value = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { value, hash: hashApiToken(value), prefix: value.slice(0, TOKEN_PREFIX.length + 6) };
}

/** How a token is named in the audit trail and in every run it starts. */
export function tokenActor(token: Pick<ApiToken, 'name' | 'createdBy'>): string {
  return `token ${token.name} (created by ${token.createdBy})`;
}

export type ApiTokenView = Omit<ApiToken, 'tokenHash'>;

/** Creates a token, audited in the same transaction; the value is returned here and never again. */
export async function createApiToken(
  db: DatabaseOrTransaction,
  params: { input: unknown; creator: { id: string; actor: string }; correlationId?: string },
): Promise<{ token: ApiTokenView; value: string }> {
  const parsed = ZCreateApiToken.safeParse(params.input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError('invalid_input', `${issue.path.join('.') || 'input'} ${issue.message}`);
  }
  const input = parsed.data;
  const { value, hash, prefix } = generateApiToken();
  return db.transaction(async (tx) => {
    const taken = async (): Promise<AppError> => {
      const [clash] = await tx
        .select({ expiresAt: apiTokens.expiresAt, expired: sql<boolean>`${apiTokens.expiresAt} <= now()` })
        .from(apiTokens)
        .where(and(eq(apiTokens.name, input.name), isNull(apiTokens.revokedAt)));
      // An expired token is refused at the door but keeps its name until revoked: say so, or the
      // admin looks for a live token that is not there.
      return new AppError(
        'conflict',
        clash?.expired
          ? `Token '${input.name}' expired on ${exactTime(clash.expiresAt)} but still holds its name: revoke it first or pick another name.`
          : `A token named '${input.name}' already exists: revoke it first or pick another name.`,
      );
    };
    // On conflict with the live-name index: a creation of the same name that committed after this
    // transaction began (two clicks, two admins) makes the insert answer nothing, not fail with 23505.
    const [row] = await tx
      .insert(apiTokens)
      .values({
        name: input.name,
        role: input.role,
        tokenHash: hash,
        prefix,
        createdByUserId: params.creator.id,
        createdBy: params.creator.actor,
        expiresAt: sql`now() + make_interval(days => ${input.expiresInDays})`,
      })
      .onConflictDoNothing({ target: apiTokens.name, where: isNull(apiTokens.revokedAt) })
      .returning();
    if (!row) throw await taken();
    await appendAudit(tx, {
      actor: params.creator.actor,
      correlationId: params.correlationId,
      entries: [
        {
          kind: 'action',
          fieldName: 'api_token_create',
          newValue: { name: row.name, role: row.role, prefix: row.prefix, expiresAt: row.expiresAt.toISOString() },
        },
      ],
    });
    const { tokenHash: _hash, ...view } = row;
    return { token: view, value };
  });
}

/** Revokes a token at once (the next request with it gets a 401), audited. */
export async function revokeApiToken(
  db: DatabaseOrTransaction,
  params: { id: string; actor: string; correlationId?: string },
): Promise<ApiTokenView> {
  if (!isUuid(params.id)) throw new AppError('invalid_input', 'That is not a token id.');
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(apiTokens)
      .set({ revokedAt: sql`now()`, revokedBy: params.actor })
      .where(and(eq(apiTokens.id, params.id), isNull(apiTokens.revokedAt)))
      .returning();
    if (!row) {
      const [existing] = await tx.select().from(apiTokens).where(eq(apiTokens.id, params.id));
      if (!existing) throw new AppError('not_found', 'This token does not exist.');
      throw new AppError('conflict', `Token '${existing.name}' was already revoked by ${existing.revokedBy ?? 'someone'}.`);
    }
    await appendAudit(tx, {
      actor: params.actor,
      correlationId: params.correlationId,
      entries: [{ kind: 'action', fieldName: 'api_token_revoke', newValue: { name: row.name, role: row.role, prefix: row.prefix } }],
    });
    const { tokenHash: _hash, ...view } = row;
    return view;
  });
}

/** Every token, live ones first, newest first (never the hash). */
export async function listApiTokens(db: DatabaseOrTransaction): Promise<ApiTokenView[]> {
  const { tokenHash: _hash, ...columns } = getTableColumns(apiTokens);
  return db
    .select(columns)
    .from(apiTokens)
    .orderBy(sql`${apiTokens.revokedAt} is not null`, desc(apiTokens.createdAt));
}

export type TokenAuthentication =
  { ok: true; token: ApiTokenView; userId: string; actor: string; role: Role } | { ok: false; error: string };

/**
 * Who a bearer token acts as, or why it is refused (401). The role is the token's, capped by its
 * creator's current role: a demoted admin's operator token becomes a viewer token, a disabled
 * creator's tokens stop working. Marks the token used (at most once a minute).
 */
export async function authenticateApiToken(db: DatabaseOrTransaction, value: string): Promise<TokenAuthentication> {
  if (!TOKEN_PATTERN.test(value)) {
    return { ok: false, error: `This is not a Junction API token (they start with '${TOKEN_PREFIX}' and are 47 characters long).` };
  }
  const [row] = await db
    .select({
      token: apiTokens,
      creatorRole: users.role,
      creatorDisabled: users.disabled,
      expired: sql<boolean>`${apiTokens.expiresAt} <= now()`,
    })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.createdByUserId))
    .where(eq(apiTokens.tokenHash, hashApiToken(value)));
  if (!row) return { ok: false, error: 'This API token is not valid: check that it was copied whole, or ask an admin for a new one.' };
  const { token } = row;
  if (token.revokedAt) {
    return { ok: false, error: `API token '${token.name}' was revoked on ${token.revokedAt.toISOString()}: ask an admin for a new one.` };
  }
  if (row.expired)
    return { ok: false, error: `API token '${token.name}' expired on ${token.expiresAt.toISOString()}: ask an admin for a new one.` };
  if (row.creatorDisabled) {
    return { ok: false, error: `API token '${token.name}' no longer works: the admin who created it (${token.createdBy}) is disabled.` };
  }
  const role: Role = hasRole(row.creatorRole, token.role) ? token.role : row.creatorRole;
  // Minute precision is enough for "last used", and spares a write on every call of a busy script.
  if (!token.lastUsedAt || Date.now() - token.lastUsedAt.getTime() > 60_000) {
    await db
      .update(apiTokens)
      .set({ lastUsedAt: sql`now()` })
      .where(eq(apiTokens.id, token.id));
  }
  const { tokenHash: _hash, ...view } = token;
  return { ok: true, token: view, userId: token.createdByUserId, actor: tokenActor(token), role };
}

/**
 * The 403 for a token whose role is too low: names the role needed and, when the token acts below
 * its own role because its creator was demoted, says so (the token page still shows its own role).
 */
export function tokenRoleRefusal(auth: Extract<TokenAuthentication, { ok: true }>, required: Role): string {
  const { token, role } = auth;
  if (token.role === role) {
    return `This needs the ${required} role; API token '${token.name}' has the ${role} role. Ask an admin for a token with more access.`;
  }
  return `This needs the ${required} role; API token '${token.name}' is ${token.role === 'operator' ? 'an' : 'a'} ${token.role} token but acts as a ${role}, the current role of its creator (${token.createdBy}). Ask an admin to restore the creator's role or create a new token.`;
}
