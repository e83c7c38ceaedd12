import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAt, tstz } from './columns';
import { integrations } from './governance';

/** Webhook intake (lib/platform/intake): events pushed by external systems, their ordering, refusals. */

/** 'dismissed': a failed event an operator chose not to apply (with a reason); never replayed. */
export type WebhookEventStatus = 'pending' | 'processed' | 'stale' | 'failed' | 'dismissed';

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
    /**
     * The W3C traceparent of the delivery that stored it (its webhook.receive span): the attempt that
     * applies it links to that trace when it is not the run's own (a delivery that joined a queued run).
     */
    traceParent: text('trace_parent'),
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
    /** A replay's held run: until the bulk dispatcher releases it (pace, breaker), no run applies the event. */
    replayRunId: uuid('replay_run_id'),
    /** The status before the pending replay (put back if its bulk operation is cancelled). */
    replayedFrom: text('replayed_from').$type<WebhookEventStatus>(),
    /** A failed event dismissed by an operator (status 'dismissed'): who, when and why. */
    dismissedAt: tstz('dismissed_at'),
    dismissedBy: text('dismissed_by'),
    dismissReason: text('dismiss_reason'),
    /**
     * When the handler refused it, until alerting has counted that refusal: a burst of refusals is
     * announced by one queued job per integration, which counts (and clears) these when handled.
     */
    refusalUnannouncedAt: tstz('refusal_unannounced_at'),
  },
  (t) => [
    uniqueIndex('webhook_events_integration_event_id_unique').on(t.integration, t.eventId),
    index('webhook_events_pending_idx')
      .on(t.integration, t.id)
      .where(sql`status = 'pending'`),
    index('webhook_events_received_idx').on(t.integration, t.receivedAt.desc(), t.id.desc()),
    // The inventory counts an integration's failed events now (not since its incident opened).
    index('webhook_events_failed_idx')
      .on(t.integration)
      .where(sql`status = 'failed'`),
    index('webhook_events_unannounced_idx')
      .on(t.integration, t.id)
      .where(sql`refusal_unannounced_at is not null`),
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
