import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, jsonb, pgEnum, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAt, tstz } from './columns';

/** Who signs in: users and their roles, ended browser sessions, API idempotency keys. */

export const roleEnum = pgEnum('role', ['viewer', 'operator', 'admin']);
export type Role = (typeof roleEnum.enumValues)[number];

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  /** `issuer|subject` from the identity provider: stable across e-mail changes. */
  subject: text('subject').notNull().unique(),
  email: text('email'),
  name: text('name').notNull(),
  role: roleEnum('role').notNull().default('viewer'),
  disabled: boolean('disabled').notNull().default(false),
  /** Sign-out ends every session started before this moment (JWT sessions cannot be deleted). */
  sessionsValidAfter: tstz('sessions_valid_after'),
  createdAt: createdAt(),
  lastSeenAt: tstz('last_seen_at'),
  /**
   * What the audit trail names this user by (`user.<key>.role`): the e-mail, unless another user
   * holds or held it (an address given to a new hire), then the e-mail and the start of the id;
   * the id without an e-mail. Set at first sign-in, moved with an e-mail changed at the identity
   * provider (lib/auth/users.ts). Unique: two people's rows never merge.
   */
  auditKey: text('audit_key').unique(),
});
export type User = typeof users.$inferSelect;

/** Sign-out of one browser: that session's id, until the session would have expired anyway. */
export const endedSessions = pgTable(
  'ended_sessions',
  {
    sessionId: uuid('session_id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    endedAt: tstz('ended_at').notNull().defaultNow(),
  },
  (t) => [index('ended_sessions_ended_idx').on(t.endedAt)],
);
export type EndedSession = typeof endedSessions.$inferSelect;

/**
 * Idempotency-Key of the JSON API: per user and route, the hash of the request it came with and
 * the answer it got, written in the request's own transaction; kept 24 hours.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    route: text('route').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    status: integer('status').notNull(),
    response: jsonb('response').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.route, t.key] }), index('idempotency_keys_created_idx').on(t.createdAt)],
);
export type IdempotencyKey = typeof idempotencyKeys.$inferSelect;

/**
 * API tokens for scripts: a bearer token with a role (viewer or operator, never admin) and an
 * expiry. Only the SHA-256 of the value is stored; `prefix` (e.g. "jct_AbCd") tells tokens apart.
 */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    role: roleEnum('role').notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    prefix: text('prefix').notNull(),
    createdByUserId: uuid('created_by_user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The admin who created it, as the audit trail names them. */
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    expiresAt: tstz('expires_at').notNull(),
    lastUsedAt: tstz('last_used_at'),
    revokedAt: tstz('revoked_at'),
    revokedBy: text('revoked_by'),
  },
  (t) => [
    index('api_tokens_created_idx').on(t.createdAt),
    uniqueIndex('api_tokens_live_name_idx')
      .on(t.name)
      .where(sql`revoked_at is null`),
    check('api_tokens_role_check', sql`${t.role} in ('viewer', 'operator')`),
  ],
);
export type ApiToken = typeof apiTokens.$inferSelect;
