import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
// Types only (no runtime import): the shape of an alert's message.
import type { AlertMessage } from '../../lib/platform/alerts/messages';
import { createdAt, tstz } from './columns';

/** Alerting: channels, incidents, alerts and their deliveries. */

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
    /** An IncidentKind (lib/platform/alerts/messages.ts): 'run_failed', 'breaker_open', 'credentials', 'events_failed', 'audit_chain'. */
    kind: text('kind').notNull(),
    openedAt: tstz('opened_at').notNull().defaultNow(),
    closedAt: tstz('closed_at'),
    eventCount: integer('event_count').notNull().default(1),
    lastEventAt: tstz('last_event_at').notNull().defaultNow(),
    lastError: text('last_error'),
    runId: uuid('run_id'),
    undelivered: boolean('undelivered').notNull().default(false),
    /**
     * run_failed and events_failed: runs that failed for good and inbound events marked failed,
     * counted apart (event_count is their platform events). Null for the other kinds and for
     * events_failed incidents from before migration 0029 (not known apart).
     */
    failedRuns: integer('failed_runs'),
    failedEvents: integer('failed_events'),
    /** A run_failed incident opened by a run that applies the integration's events (incidents.ts). */
    eventRun: boolean('event_run').notNull().default(false),
    /** run_failed: the causes of failure alerted so far (failureCause), the opening one first (migration 0038). */
    alertedCauses: text('alerted_causes')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
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

/**
 * The latest recovery handled per (integration, kind), whether or not it closed an incident: a
 * failure older than it never leaves an incident open, however late it is handled (migration
 * 0027); one no incident spans is recorded closed at this time (incidents.ts).
 */
export const incidentRecoveries = pgTable(
  'incident_recoveries',
  {
    integration: text('integration').notNull(),
    kind: text('kind').notNull(),
    recoveredAt: tstz('recovered_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.integration, t.kind] })],
);

/**
 * Integrations with a failed run whose recovery alerting has not been told of yet: a success is
 * announced (run.succeeded) only for these and for integrations with an open run_failed incident,
 * and takes its integration off the list (migration 0022, runner.ts AttemptInputs.announce).
 */
export const runRecoveries = pgTable('run_recoveries', {
  integration: text('integration').primaryKey(),
  failedAt: tstz('failed_at').notNull().defaultNow(),
});

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
