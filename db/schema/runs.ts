import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  foreignKey,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  pgView,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
// Types only (no runtime import): the shapes the platform stores in jsonb columns.
import type { RunResult } from '../../lib/platform/contract';
import type { PlannedRequest } from '../../lib/platform/resilience/dry-run';
import { createdAt, tstz } from './columns';
import { integrations } from './governance';

/**
 * Runs, attempts and their logs, bulk retries, and each integration's cursor.
 *
 * runs, attempts and attempt_logs are partitioned by week of the RUN's created_at (migration 0016):
 * attempts and attempt_logs carry a copy of it (run_created_at), so a run and everything under it
 * live in the same week and retention drops whole weeks (lib/platform/execution/retention.ts).
 * Their keys contain the partition key, as PostgreSQL requires: (id, created_at), (id, run_created_at).
 */

/** Durable watermark per integration, advanced only when an attempt succeeds outside dry-run. */
export const cursors = pgTable('cursors', {
  integration: text('integration')
    .primaryKey()
    .references(() => integrations.name),
  value: jsonb('value').$type<unknown>(),
  runId: uuid('run_id'),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

export const runTriggerEnum = pgEnum('run_trigger', ['schedule', 'manual', 'retry', 'api', 'event']);
export const runStatusEnum = pgEnum('run_status', ['queued', 'running', 'retrying', 'deferred', 'succeeded', 'failed', 'cancelled']);
export type RunTrigger = (typeof runTriggerEnum.enumValues)[number];
export type RunStatus = (typeof runStatusEnum.enumValues)[number];

export const runs = pgTable(
  'runs',
  {
    id: uuid('id').notNull().defaultRandom(),
    integration: text('integration')
      .notNull()
      .references(() => integrations.name),
    trigger: runTriggerEnum('trigger').notNull(),
    dryRun: boolean('dry_run').notNull().default(false),
    status: runStatusEnum('status').notNull().default('queued'),
    triggeredBy: text('triggered_by').notNull(),
    retryOf: uuid('retry_of'),
    /** When this run was first retried (its first retry's created_at), kept by the trigger runs_mark_retried (migration 0019). */
    retriedAt: tstz('retried_at'),
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
    /**
     * The partition key, to the millisecond (migration 0016): attempts and attempt_logs copy it from
     * a JavaScript Date, and their foreign keys compare it exactly.
     */
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    startedAt: tstz('started_at'),
    finishedAt: tstz('finished_at'),
  },
  (t) => [
    primaryKey({ name: 'runs_pkey', columns: [t.id, t.createdAt] }),
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
    index('runs_retry_of_idx')
      .on(t.retryOf)
      .where(sql`retry_of is not null`),
    // The Overview's failed runs awaiting action, by created_at (migration 0019): an index-only count.
    index('runs_awaiting_action_idx')
      .on(t.createdAt)
      .where(sql`status = 'failed' and not dry_run and retried_at is null`),
    // The same runs by integration (migration 0039): a run_failed incident's "not retried yet" on the inventory.
    index('runs_awaiting_retry_by_integration_idx')
      .on(t.integration, t.createdAt)
      .where(sql`status = 'failed' and not dry_run and retried_at is null`),
    // A run's turn (run-order.ts, migration 0020): the unfinished runs of an integration only, started
    // or waiting, so the turn check reads one entry instead of the integration's whole week.
    index('runs_started_turn_idx')
      .on(t.integration, t.createdAt, t.id)
      .where(sql`status in ('queued', 'running', 'retrying', 'deferred') and not dry_run and started_at is not null`),
    index('runs_waiting_turn_idx')
      .on(t.integration, t.createdAt, t.id)
      .where(sql`status in ('queued', 'running', 'retrying', 'deferred') and not dry_run and started_at is null and hold is null`),
  ],
);
export type Run = typeof runs.$inferSelect;
export type RunHold = 'pace' | 'breaker';

/** A bulk retry as one item: its runs (runs.bulk_operation_id) carry the progress. */
export const bulkOperations = pgTable(
  'bulk_operations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: text('kind').$type<'retry' | 'replay'>().notNull().default('retry'),
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
    id: uuid('id').notNull().defaultRandom(),
    runId: uuid('run_id').notNull(),
    /** The run's created_at: the partition key, so an attempt lives in its run's week. */
    runCreatedAt: timestamp('run_created_at', { withTimezone: true, precision: 3 }).notNull(),
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
    primaryKey({ name: 'attempts_pkey', columns: [t.id, t.runCreatedAt] }),
    foreignKey({ name: 'attempts_run_fk', columns: [t.runId, t.runCreatedAt], foreignColumns: [runs.id, runs.createdAt] }).onDelete(
      'cascade',
    ),
    index('attempts_run_idx').on(t.runId, t.number),
    index('attempts_started_idx').on(t.startedAt),
    index('attempts_running_idx')
      .on(t.startedAt)
      .where(sql`outcome = 'running'`),
  ],
);
export type Attempt = typeof attempts.$inferSelect;

/**
 * An attempt's log, one row per flush (migration 0018, lib/platform/log.ts): the lines column-wise.
 * Line k (from 1) was logged at `at` + offsets[k] ms, at level levels[k] (d, i, w, e), with message
 * messages[k] and data data[k - 1] (data is null when no line of the row has any). `dropped`: the
 * lines not kept before this row's (past the attempt's cap), per level: debug, info, warn, error.
 */
export const attemptLogBatches = pgTable(
  'attempt_log_batches',
  {
    id: bigserial('id', { mode: 'number' }).notNull(),
    attemptId: uuid('attempt_id').notNull(),
    /** The run's created_at: the partition key, so a log lives in its run's week. */
    runCreatedAt: timestamp('run_created_at', { withTimezone: true, precision: 3 }).notNull(),
    at: timestamp('at', { withTimezone: true, precision: 3 }).notNull(),
    /** Null when every line was logged at `at` (a row of one line). */
    offsets: integer('offsets').array(),
    levels: text('levels').notNull(),
    messages: text('messages').array().notNull(),
    data: jsonb('data').$type<unknown[]>(),
    dropped: integer('dropped').array(),
  },
  (t) => [
    primaryKey({ name: 'attempt_log_batches_pkey', columns: [t.id, t.runCreatedAt] }),
    foreignKey({
      name: 'attempt_log_batches_attempt_fk',
      columns: [t.attemptId, t.runCreatedAt],
      foreignColumns: [attempts.id, attempts.runCreatedAt],
    }).onDelete('cascade'),
    index('attempt_log_batches_attempt_idx').on(t.attemptId, t.id),
  ],
);

/** The lines of attempt_log_batches, one per row, ordered by id (a view: for tests and ad-hoc queries). */
export const attemptLogs = pgView('attempt_logs', {
  id: bigint('id', { mode: 'number' }).notNull(),
  batchId: bigint('batch_id', { mode: 'number' }).notNull(),
  attemptId: uuid('attempt_id').notNull(),
  runCreatedAt: timestamp('run_created_at', { withTimezone: true, precision: 3 }).notNull(),
  at: tstz('at').notNull(),
  level: text('level').notNull(),
  message: text('message').notNull(),
  data: jsonb('data').$type<unknown>(),
}).existing();
export type AttemptLog = typeof attemptLogs.$inferSelect;

/**
 * The inventory's hourly rollup (migration 0017): an hour (UTC, by created_at) is here once it has
 * closed and every non-dry run created in it has finished, so its counts never change again.
 */
export const runRollupHours = pgTable('run_rollup_hours', {
  hour: tstz('hour').primaryKey(),
  sealedAt: tstz('sealed_at').notNull().defaultNow(),
});

/** Finished and succeeded non-dry runs per integration and sealed hour (none for an hour without runs). */
export const runRollupCounts = pgTable(
  'run_rollup_counts',
  {
    hour: tstz('hour')
      .notNull()
      .references(() => runRollupHours.hour, { onDelete: 'cascade' }),
    integration: text('integration').notNull(),
    finished: integer('finished').notNull(),
    succeeded: integer('succeeded').notNull(),
  },
  (t) => [primaryKey({ name: 'run_rollup_counts_pkey', columns: [t.hour, t.integration] })],
);

/**
 * One row: a bound at or below the created_at of every unfinished run (migration 0032), which the
 * turn subqueries use to skip older weeks. Raised by `raise_run_active_floor()` (runFloor.ts),
 * lowered by a trigger on runs written unfinished in the past.
 */
export const runActiveFloor = pgTable('run_active_floor', {
  id: integer('id').primaryKey().default(1),
  since: tstz('since').notNull(),
  raisedAt: tstz('raised_at'),
});
