import { bigint, bigserial, boolean, index, integer, jsonb, numeric, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { createdAt, tstz } from './columns';

/** Integrations and their configuration, encrypted secrets, the audit trail and the secrets key check. */

export const integrations = pgTable('integrations', {
  name: text('name').primaryKey(),
  description: text('description').notNull().default(''),
  /** False when the handler is no longer registered: shown as orphaned, never deleted. */
  registered: boolean('registered').notNull().default(true),
  orphanedAt: tstz('orphaned_at'),
  paused: boolean('paused').notNull().default(false),
  pausedAt: tstz('paused_at'),
  /** What resume does with schedules missed while paused: 'skip' | 'run_once'. */
  resumePolicy: text('resume_policy').notNull().default('skip'),
  schedule: text('schedule'),
  timezone: text('timezone').notNull().default('UTC'),
  /**
   * Scheduled ticks at or before this start no run: set when the row is created, when the schedule
   * or its time zone changes and on resume (pg-boss sends a tick up to a minute late, by then it may
   * be a tick of the old schedule or of the pause).
   */
  scheduleSince: tstz('schedule_since').notNull().defaultNow(),
  /**
   * The latest scheduled tick that started a run: a tick at or before it starts none (pg-boss
   * delivers a schedule job again when its worker stopped before completing it).
   */
  lastScheduleTick: tstz('last_schedule_tick'),
  /** Delays between attempts, as duration strings ('30s', '2m'). Length + 1 = max attempts. */
  retryDelays: jsonb('retry_delays').$type<string[]>().notNull().default(['30s', '2m', '5m']),
  breakerKey: text('breaker_key').notNull(),
  breakerFailures: integer('breaker_failures').notNull().default(3),
  breakerCooldown: text('breaker_cooldown').notNull().default('1m'),
  /**
   * The longest one attempt may run, as a duration string ('1h', '90m'; 1s to 3h). Filled from the
   * code (defaults.attemptTimeout, else 1h) when the registry inserts the row, and for rows from
   * before migration 0030 (NULL) at the registry's next sync; NULL until then reads as the code's
   * value (registry.ts attemptTimeoutMs).
   */
  attemptTimeout: text('attempt_timeout'),
  /** Share of attempts in the last hour that may be automatic retries (0..1); null = no budget. */
  retryBudget: numeric('retry_budget', { precision: 4, scale: 3, mode: 'number' }),
  /** Token health: the provider's error while the OAuth2 token cannot be obtained; null when healthy. */
  credentialsError: text('credentials_error'),
  /** Since when tokens fail (set by the first failure of an incident, cleared by the next success). */
  credentialsFailingSince: tstz('credentials_failing_since'),
  settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
  mapping: jsonb('mapping').$type<unknown>(),
  alertRouting: jsonb('alert_routing').$type<{ channelIds: string[] | 'all' }>().notNull().default({ channelIds: 'all' }),
  /** Optimistic concurrency: every config change increments it; a stale editor is refused. */
  version: integer('version').notNull().default(1),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
  updatedBy: text('updated_by').notNull().default('system'),
  createdAt: createdAt(),
});
export type Integration = typeof integrations.$inferSelect;

export const integrationSecrets = pgTable(
  'integration_secrets',
  {
    integration: text('integration')
      .notNull()
      .references(() => integrations.name),
    name: text('name').notNull(),
    /** AES-256-GCM: base64 of iv | ciphertext | tag, with the id of the key that sealed it. */
    sealed: text('sealed').notNull(),
    keyId: text('key_id').notNull(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    updatedBy: text('updated_by').notNull(),
  },
  (t) => [primaryKey({ columns: [t.integration, t.name] })],
);
export type IntegrationSecret = typeof integrationSecrets.$inferSelect;

// ---------------------------------------------------------------------------------------------
// Audit trail (append-only: a trigger in its own migration rejects UPDATE, DELETE, TRUNCATE)
// ---------------------------------------------------------------------------------------------

export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    changedAt: tstz('changed_at').notNull().defaultNow(),
    changedBy: text('changed_by').notNull(),
    /** 'config' for a field change, 'action' for an operator action, 'user' for role changes. */
    kind: text('kind').notNull(),
    integration: text('integration'),
    /** The changed field for 'config', the action name for 'action'. */
    fieldName: text('field_name').notNull(),
    oldValue: jsonb('old_value').$type<unknown>(),
    newValue: jsonb('new_value').$type<unknown>(),
    correlationId: text('correlation_id').notNull(),
    prevHash: text('prev_hash').notNull().default(''),
    hash: text('hash').notNull().default(''),
  },
  (t) => [
    index('audit_changed_at_idx').on(t.changedAt.desc(), t.id.desc()),
    index('audit_integration_changed_at_idx').on(t.integration, t.changedAt.desc(), t.id.desc()),
    index('audit_field_idx').on(t.integration, t.fieldName, t.changedAt.desc()),
  ],
);
export type AuditRow = typeof auditLog.$inferSelect;

/**
 * Where audit verification stands (one row, id 1): the last row verified, so the Audit page checks
 * only the rows after it, and the outcome of the last full verification against the signed anchors
 * (lib/platform/governance/audit-anchors.ts). The application role may write it: anchors outside the database,
 * not this row, are what a tampering owner cannot forge.
 */
export const auditChainState = pgTable('audit_chain_state', {
  id: integer('id').primaryKey().default(1),
  verifiedId: bigint('verified_id', { mode: 'number' }).notNull().default(0),
  verifiedHash: text('verified_hash').notNull().default('genesis'),
  verifiedRows: bigint('verified_rows', { mode: 'number' }).notNull().default(0),
  verifiedAt: tstz('verified_at'),
  fullCheckedAt: tstz('full_checked_at'),
  fullOk: boolean('full_ok'),
  /** What the last full verification found (AuditFinding[]), empty when it passed. */
  fullFindings: jsonb('full_findings').$type<unknown[]>().notNull().default([]),
  /** The newest anchor the last full verification trusted. */
  anchorSeq: integer('anchor_seq'),
  anchorAt: tstz('anchor_at'),
  anchorLastId: bigint('anchor_last_id', { mode: 'number' }),
  /** An admin asked for a full verification now (pending while after full_checked_at): migration 0037. */
  checkRequestedAt: tstz('check_requested_at'),
  checkRequestedBy: text('check_requested_by'),
});
export type AuditChainState = typeof auditChainState.$inferSelect;

/**
 * One key check value per secrets key id (HMAC of a constant under the key): web and worker refuse
 * to start with a JUNCTION_SECRETS_KEY that does not match it (lib/platform/governance/secrets-key-check.ts).
 */
export const secretKeyChecks = pgTable('secret_key_checks', {
  keyId: text('key_id').primaryKey(),
  checkValue: text('check_value').notNull(),
  createdAt: createdAt(),
});
export type SecretKeyCheck = typeof secretKeyChecks.$inferSelect;
