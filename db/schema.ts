import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
// Types only (no runtime import): the shapes the platform stores in jsonb columns.
import type { AlertMessage } from '../lib/platform/alerts/messages';
import type { RunResult } from '../lib/platform/contract';
import type { PlannedRequest } from '../lib/platform/resilience/dry-run';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const tstz = (name: string) => timestamp(name, { withTimezone: true });

// ---------------------------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Integrations and their configuration
// ---------------------------------------------------------------------------------------------

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
  /** Delays between attempts, as duration strings ('30s', '2m'). Length + 1 = max attempts. */
  retryDelays: jsonb('retry_delays').$type<string[]>().notNull().default(['30s', '2m', '5m']),
  breakerKey: text('breaker_key').notNull(),
  breakerFailures: integer('breaker_failures').notNull().default(3),
  breakerCooldown: text('breaker_cooldown').notNull().default('1m'),
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

/** Durable watermark per integration, advanced only when an attempt succeeds outside dry-run. */
export const cursors = pgTable('cursors', {
  integration: text('integration')
    .primaryKey()
    .references(() => integrations.name),
  value: jsonb('value').$type<unknown>(),
  runId: uuid('run_id'),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

// ---------------------------------------------------------------------------------------------
// Runs, attempts and their logs
// ---------------------------------------------------------------------------------------------

export const runTriggerEnum = pgEnum('run_trigger', ['schedule', 'manual', 'retry', 'api', 'event']);
export const runStatusEnum = pgEnum('run_status', ['queued', 'running', 'retrying', 'deferred', 'succeeded', 'failed', 'cancelled']);
export type RunTrigger = (typeof runTriggerEnum.enumValues)[number];
export type RunStatus = (typeof runStatusEnum.enumValues)[number];

export const runs = pgTable(
  'runs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    integration: text('integration')
      .notNull()
      .references(() => integrations.name),
    trigger: runTriggerEnum('trigger').notNull(),
    dryRun: boolean('dry_run').notNull().default(false),
    status: runStatusEnum('status').notNull().default('queued'),
    triggeredBy: text('triggered_by').notNull(),
    retryOf: uuid('retry_of'),
    reason: text('reason'),
    correlationId: text('correlation_id').notNull(),
    /** W3C traceparent of the request that created the run: its attempts continue that trace. */
    traceParent: text('trace_parent'),
    input: jsonb('input').$type<unknown>(),
    /** The pg-boss job that carries the run's next attempt; a job with another id is stale and ignored. */
    jobId: uuid('job_id'),
    attemptCount: integer('attempt_count').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull(),
    /** Attempts interrupted by infrastructure (worker lost, database unavailable): not counted in attemptCount, capped separately. */
    interruptions: integer('interruptions').notNull().default(0),
    nextAttemptAt: tstz('next_attempt_at'),
    progressDone: integer('progress_done'),
    progressTotal: integer('progress_total'),
    result: jsonb('result').$type<RunResult>(),
    errorMessage: text('error_message'),
    errorClass: text('error_class'),
    /** Dry-run: the mutating requests that were captured instead of sent. */
    plan: jsonb('plan').$type<PlannedRequest[]>(),
    /**
     * The handler's durable progress (ctx.cursor.checkpoint), written after each acknowledged unit of
     * work: a retried attempt resumes from it; when the run ends it becomes the integration's cursor.
     */
    checkpoint: jsonb('checkpoint').$type<unknown>(),
    checkpointAt: tstz('checkpoint_at'),
    /** The bulk operation that created this run (bulk retry), if any. */
    bulkOperationId: uuid('bulk_operation_id'),
    /**
     * Queued but held back, with no job yet: 'pace' (waiting for its turn in a staggered bulk retry)
     * or 'breaker' (queued behind the integration's open breaker). Null once released to the queue.
     */
    hold: text('hold').$type<RunHold>(),
    /** When a held run was released to the queue (the bulk pace counts these). */
    releasedAt: tstz('released_at'),
    createdAt: createdAt(),
    startedAt: tstz('started_at'),
    finishedAt: tstz('finished_at'),
  },
  (t) => [
    index('runs_held_idx')
      .on(t.integration, t.createdAt)
      .where(sql`hold is not null`),
    index('runs_released_idx')
      .on(t.integration, t.releasedAt)
      .where(sql`released_at is not null`),
    index('runs_bulk_operation_idx')
      .on(t.bulkOperationId)
      .where(sql`bulk_operation_id is not null`),
    index('runs_created_idx').on(t.createdAt.desc(), t.id.desc()),
    index('runs_integration_created_idx').on(t.integration, t.createdAt.desc(), t.id.desc()),
    index('runs_status_created_idx').on(t.status, t.createdAt.desc(), t.id.desc()),
    index('runs_retry_of_idx').on(t.retryOf),
  ],
);
export type Run = typeof runs.$inferSelect;
export type RunHold = 'pace' | 'breaker';

/** A bulk retry as one item: its runs (runs.bulk_operation_id) carry the progress. */
export const bulkOperations = pgTable(
  'bulk_operations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: text('kind').$type<'retry'>().notNull().default('retry'),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    /** The new runs, in the order they are released. */
    runIds: jsonb('run_ids').$type<string[]>().notNull(),
    /** The runs they retry, in the same order. */
    retriedRunIds: jsonb('retried_run_ids').$type<string[]>().notNull(),
    total: integer('total').notNull(),
    /** Pace: at most `pace_runs` released per `pace_period_ms` per integration. */
    paceRuns: integer('pace_runs').notNull(),
    pacePeriodMs: integer('pace_period_ms').notNull(),
    reason: text('reason'),
    cancelledAt: tstz('cancelled_at'),
    cancelledBy: text('cancelled_by'),
  },
  (t) => [index('bulk_operations_created_idx').on(t.createdAt.desc(), t.id.desc())],
);
export type BulkOperation = typeof bulkOperations.$inferSelect;

/** 'interrupted': the attempt's worker was lost or the database was unavailable; it did not use up an attempt. */
export const attemptOutcomeEnum = pgEnum('attempt_outcome', ['running', 'succeeded', 'failed', 'deferred', 'cancelled', 'interrupted']);
export type AttemptOutcome = (typeof attemptOutcomeEnum.enumValues)[number];

export const attempts = pgTable(
  'attempts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    runId: uuid('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    number: integer('number').notNull(),
    jobId: text('job_id'),
    worker: text('worker'),
    outcome: attemptOutcomeEnum('outcome').notNull().default('running'),
    errorMessage: text('error_message'),
    errorClass: text('error_class'),
    /** The run's checkpoint this attempt resumed from (null: it started from the integration's cursor). */
    resumedFrom: jsonb('resumed_from').$type<unknown>(),
    startedAt: tstz('started_at').notNull().defaultNow(),
    finishedAt: tstz('finished_at'),
  },
  (t) => [
    index('attempts_run_idx').on(t.runId, t.number),
    index('attempts_started_idx').on(t.startedAt),
    index('attempts_running_idx')
      .on(t.startedAt)
      .where(sql`outcome = 'running'`),
  ],
);
export type Attempt = typeof attempts.$inferSelect;

export const attemptLogs = pgTable(
  'attempt_logs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    attemptId: uuid('attempt_id')
      .notNull()
      .references(() => attempts.id, { onDelete: 'cascade' }),
    at: tstz('at').notNull().defaultNow(),
    level: text('level').notNull(),
    message: text('message').notNull(),
    data: jsonb('data').$type<unknown>(),
  },
  (t) => [index('attempt_logs_attempt_idx').on(t.attemptId, t.id)],
);
export type AttemptLog = typeof attemptLogs.$inferSelect;

// ---------------------------------------------------------------------------------------------
// Circuit breakers, shared by every worker through the database
// ---------------------------------------------------------------------------------------------

export const breakers = pgTable('breakers', {
  key: text('key').primaryKey(),
  state: text('state').$type<'closed' | 'open' | 'half_open'>().notNull().default('closed'),
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
  openedAt: tstz('opened_at'),
  openUntil: tstz('open_until'),
  /** Set while a half-open trial request is in flight, so only one goes through. */
  trialStartedAt: tstz('trial_started_at'),
  /** Held open by an operator: stays open until reset. */
  forcedOpen: boolean('forced_open').notNull().default(false),
  lastError: text('last_error'),
  lastFailureAt: tstz('last_failure_at'),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});
export type Breaker = typeof breakers.$inferSelect;

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
});
export type AuditChainState = typeof auditChainState.$inferSelect;

// ---------------------------------------------------------------------------------------------
// Alerting
// ---------------------------------------------------------------------------------------------

export const alertChannels = pgTable('alert_channels', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  type: text('type').$type<'webhook' | 'slack' | 'email'>().notNull(),
  /** webhook/slack: { url, hmacSecretSet }; email: { to, from, smtpUrl }. Secrets sealed apart. */
  config: jsonb('config').$type<Record<string, unknown>>().notNull(),
  /** Sealed secret for the channel (HMAC key, SMTP password), never sent to the browser. */
  sealedSecret: text('sealed_secret'),
  enabled: boolean('enabled').notNull().default(true),
  version: integer('version').notNull().default(1),
  createdAt: createdAt(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
  /** Who made the last change: a stale editor is told "changed by X at T; reload". */
  updatedBy: text('updated_by').notNull().default('system'),
});
export type AlertChannel = typeof alertChannels.$inferSelect;

export const incidents = pgTable(
  'incidents',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    integration: text('integration').notNull(),
    /** 'run_failed' | 'breaker_open' | 'credentials' | 'retry_budget'. */
    kind: text('kind').notNull(),
    openedAt: tstz('opened_at').notNull().defaultNow(),
    closedAt: tstz('closed_at'),
    eventCount: integer('event_count').notNull().default(1),
    lastEventAt: tstz('last_event_at').notNull().defaultNow(),
    lastError: text('last_error'),
    runId: uuid('run_id'),
    undelivered: boolean('undelivered').notNull().default(false),
  },
  (t) => [
    index('incidents_open_idx')
      .on(t.integration, t.kind)
      .where(sql`closed_at is null`),
    uniqueIndex('incidents_one_open_idx')
      .on(t.integration, t.kind)
      .where(sql`closed_at is null`),
  ],
);
export type Incident = typeof incidents.$inferSelect;

export const alerts = pgTable(
  'alerts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    incidentId: uuid('incident_id').references(() => incidents.id),
    /** 'opened' | 'recovered' | 'test'. */
    event: text('event').notNull(),
    integration: text('integration'),
    title: text('title').notNull(),
    body: jsonb('body').$type<AlertMessage>().notNull(),
    /** 'pending' | 'delivered' | 'partial' | 'undelivered'. */
    status: text('status').notNull().default('pending'),
    /** The channels chosen when the alert was raised: one delivery job each; the status is final once each has a final attempt. */
    channelIds: jsonb('channel_ids').$type<string[]>().notNull().default([]),
    createdAt: createdAt(),
  },
  (t) => [
    index('alerts_created_id_idx').on(t.createdAt.desc(), t.id.desc()),
    index('alerts_integration_created_idx').on(t.integration, t.createdAt.desc(), t.id.desc()),
    index('alerts_incident_idx').on(t.incidentId),
  ],
);
export type Alert = typeof alerts.$inferSelect;

export const alertDeliveries = pgTable(
  'alert_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    alertId: uuid('alert_id')
      .notNull()
      .references(() => alerts.id),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => alertChannels.id),
    attempt: integer('attempt').notNull(),
    status: text('status').$type<'delivered' | 'failed'>().notNull(),
    responseCode: integer('response_code'),
    error: text('error'),
    /** The channel's last attempt for this alert: delivered, or failed with no retry left. */
    final: boolean('final').notNull().default(false),
    at: tstz('at').notNull().defaultNow(),
  },
  (t) => [index('alert_deliveries_alert_idx').on(t.alertId)],
);
export type AlertDelivery = typeof alertDeliveries.$inferSelect;

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

export const workerHeartbeats = pgTable('worker_heartbeats', {
  workerId: text('worker_id').primaryKey(),
  hostname: text('hostname').notNull(),
  pid: integer('pid').notNull(),
  startedAt: tstz('started_at').notNull().defaultNow(),
  beatAt: tstz('beat_at').notNull().defaultNow(),
  stoppedAt: tstz('stopped_at'),
});

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

export const appMeta = pgTable('app_meta', {
  key: text('key').primaryKey(),
  value: jsonb('value').$type<unknown>(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

// ---------------------------------------------------------------------------------------------
// Webhook intake (lib/platform/intake)
// ---------------------------------------------------------------------------------------------

export type WebhookEventStatus = 'pending' | 'processed' | 'stale' | 'failed';

/** One event pushed by an external system, stored with its processing run in one transaction. */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    integration: text('integration')
      .notNull()
      .references(() => integrations.name),
    /** The sender's event id: a delivery with a known id is a duplicate (answered 2xx, nothing created). */
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    /** Events with the same key (say a payment id) are applied in order; an older version is stale. */
    orderingKey: text('ordering_key'),
    version: bigint('version', { mode: 'number' }),
    status: text('status').$type<WebhookEventStatus>().notNull().default('pending'),
    payload: jsonb('payload').$type<unknown>().notNull(),
    /** The signature's timestamp (when the sender signed this delivery). */
    signedAt: tstz('signed_at'),
    duplicates: integer('duplicates').notNull().default(0),
    lastDuplicateAt: tstz('last_duplicate_at'),
    receivedAt: tstz('received_at')
      .notNull()
      .default(sql`clock_timestamp()`),
    /** When the handler was first given the event. */
    startedAt: tstz('started_at'),
    processedAt: tstz('processed_at'),
    /** The run that processed (or last tried) it. */
    runId: uuid('run_id'),
    /** Why it is stale or failed, in words. */
    outcome: text('outcome'),
    replays: integer('replays').notNull().default(0),
  },
  (t) => [
    uniqueIndex('webhook_events_integration_event_id_unique').on(t.integration, t.eventId),
    index('webhook_events_pending_idx')
      .on(t.integration, t.id)
      .where(sql`status = 'pending'`),
    index('webhook_events_received_idx').on(t.integration, t.receivedAt.desc(), t.id.desc()),
  ],
);
export type WebhookEvent = typeof webhookEvents.$inferSelect;

/** Per ordering key, the newest version applied. */
export const webhookOrdering = pgTable(
  'webhook_ordering',
  {
    integration: text('integration').notNull(),
    orderingKey: text('ordering_key').notNull(),
    version: bigint('version', { mode: 'number' }).notNull(),
    eventId: text('event_id').notNull(),
    appliedAt: tstz('applied_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'webhook_ordering_pk', columns: [t.integration, t.orderingKey] })],
);

/** A refused delivery: metadata only, never the body or a signature. */
export const webhookRejections = pgTable(
  'webhook_rejections',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    integration: text('integration').notNull(),
    status: integer('status').notNull(),
    reason: text('reason').notNull(),
    eventId: text('event_id'),
    contentType: text('content_type'),
    contentLength: integer('content_length'),
    remote: text('remote'),
    receivedAt: tstz('received_at').notNull().defaultNow(),
  },
  (t) => [index('webhook_rejections_received_idx').on(t.integration, t.receivedAt.desc(), t.id.desc())],
);
export type WebhookRejection = typeof webhookRejections.$inferSelect;

/** Signing secrets of an integration's endpoint: several active at once for rotation, sealed like integration secrets. */
export const webhookSecrets = pgTable(
  'webhook_secrets',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    integration: text('integration')
      .notNull()
      .references(() => integrations.name),
    label: text('label').notNull(),
    sealed: text('sealed').notNull(),
    keyId: text('key_id').notNull(),
    createdAt: createdAt(),
    createdBy: text('created_by').notNull(),
    revokedAt: tstz('revoked_at'),
    revokedBy: text('revoked_by'),
  },
  (t) => [
    index('webhook_secrets_integration_idx')
      .on(t.integration)
      .where(sql`revoked_at IS NULL`),
  ],
);
export type WebhookSecret = typeof webhookSecrets.$inferSelect;

// ---------------------------------------------------------------------------------------------
// Host platform data: the business the integrations move data for
// ---------------------------------------------------------------------------------------------

export const customers = pgTable('customers', {
  id: uuid('id').primaryKey().defaultRandom(),
  externalId: text('external_id').unique(),
  name: text('name').notNull(),
  email: text('email'),
  country: text('country').notNull().default('US'),
  currency: text('currency').notNull().default('USD'),
  /** The external system's version (updated_at) of the record last applied (crm-sync): older versions are never applied over it. */
  externalUpdatedAt: tstz('external_updated_at'),
  createdAt: createdAt(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});
export type Customer = typeof customers.$inferSelect;

export const invoices = pgTable(
  'invoices',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    number: text('number').notNull().unique(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id),
    currency: text('currency').notNull(),
    status: text('status').$type<'draft' | 'posted' | 'void'>().notNull().default('posted'),
    issuedOn: text('issued_on').notNull(),
    dueOn: text('due_on').notNull(),
    netTotal: numeric('net_total', { precision: 14, scale: 2 }).notNull(),
    taxTotal: numeric('tax_total', { precision: 14, scale: 2 }).notNull(),
    grossTotal: numeric('gross_total', { precision: 14, scale: 2 }).notNull(),
    postedAt: tstz('posted_at'),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    /** Payment state from the payment provider's events (payment-events): 'paid' | 'refunded'. */
    paymentStatus: text('payment_status').$type<'paid' | 'refunded'>(),
    paymentId: text('payment_id'),
    /** The provider's sequence of the payment event applied last: an older one never overwrites it. */
    paymentVersion: bigint('payment_version', { mode: 'number' }),
    paidAt: tstz('paid_at'),
    refundedAt: tstz('refunded_at'),
    payoutId: text('payout_id'),
    paidOutAt: tstz('paid_out_at'),
  },
  (t) => [
    index('invoices_updated_idx').on(t.updatedAt, t.id),
    index('invoices_payment_id_idx')
      .on(t.paymentId)
      .where(sql`payment_id IS NOT NULL`),
  ],
);
export type Invoice = typeof invoices.$inferSelect;

/** The host's payment timeline: one row per payment event applied to an invoice. */
export const invoicePaymentHistory = pgTable(
  'invoice_payment_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    invoiceId: uuid('invoice_id')
      .notNull()
      .references(() => invoices.id, { onDelete: 'cascade' }),
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    paymentId: text('payment_id'),
    payoutId: text('payout_id'),
    version: bigint('version', { mode: 'number' }),
    amount: numeric('amount', { precision: 14, scale: 2 }),
    currency: text('currency'),
    appliedAt: tstz('applied_at')
      .notNull()
      .default(sql`clock_timestamp()`),
  },
  (t) => [index('invoice_payment_history_invoice_idx').on(t.invoiceId, t.id)],
);
export type InvoicePaymentHistory = typeof invoicePaymentHistory.$inferSelect;

export const invoiceLines = pgTable(
  'invoice_lines',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    invoiceId: uuid('invoice_id')
      .notNull()
      .references(() => invoices.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    description: text('description').notNull(),
    quantity: numeric('quantity', { precision: 12, scale: 3 }).notNull(),
    unitPrice: numeric('unit_price', { precision: 14, scale: 2 }).notNull(),
    taxRate: numeric('tax_rate', { precision: 5, scale: 4 }).notNull(),
    account: text('account').notNull(),
  },
  (t) => [index('invoice_lines_invoice_idx').on(t.invoiceId, t.position)],
);
export type InvoiceLine = typeof invoiceLines.$inferSelect;
