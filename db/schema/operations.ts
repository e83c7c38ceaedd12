import { boolean, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns';

/** Shared operational state: circuit breakers, worker heartbeats, application metadata. */

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

export const workerHeartbeats = pgTable('worker_heartbeats', {
  workerId: text('worker_id').primaryKey(),
  hostname: text('hostname').notNull(),
  pid: integer('pid').notNull(),
  startedAt: tstz('started_at').notNull().defaultNow(),
  beatAt: tstz('beat_at').notNull().defaultNow(),
  stoppedAt: tstz('stopped_at'),
});

export const appMeta = pgTable('app_meta', {
  key: text('key').primaryKey(),
  value: jsonb('value').$type<unknown>(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});
