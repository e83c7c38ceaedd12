import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { auditLog, integrations, runs, type Integration } from '../../../db/schema';
import { AppError } from '../errors';
import { commitCheckpointAsCursor } from '../execution/checkpoint';
import { bossDb, RUNS_QUEUE } from '../execution/queue';
import { insertRun, loadIntegration, parseTriggerInput, ZActor, ZCorrelationId, ZReason, ZRunId } from '../execution/run-create';
import { recordAction } from '../governance/audit';
import { platformMetrics } from '../observability/metrics';
import { isRetryableRunStatus, isTerminalRunStatus, isWaitingRunStatus } from '../run-status';
import { exactTime } from '../when';
import { lastRunAtOrBefore, repeatsWallClock, storedSchedule } from './cron';
import { missedWhilePaused } from './resume-policy';
import { applySchedule } from './schedules';

export { openBreaker, resetBreaker } from '../resilience/breaker';
export { cancelBulkOperation, retryRuns, setBulkPace, ZBulkPace, ZRetryMatchingFilter, type TRetryMatchingFilter } from './bulk';
export { getBulkOperation, listBulkOperations } from './bulk-views';

/**
 * The triggering API for the console, the API and scripts. Each call validates its input, checks
 * that the integration exists and is registered (not orphaned), writes the run row and enqueues its
 * pg-boss job in ONE transaction together with the audit record of who did it. No worker needs to
 * run in the calling process; `boss` only has to be started.
 *
 * Public surface of triggers/: the console and the API start, retry, cancel and pause runs and
 * retry in bulk through this file (it re-exports the breaker commands and bulk operations).
 * Besides it, only cron.ts, schedules.ts, idempotency.ts, resume-policy.ts and trigger-text.ts are
 * imported from outside the folder (and bulk-dispatch.ts by the worker loop).
 */

const parse = parseTriggerInput;

const ZRunNow = z.object({
  // As given, not trimmed: 'crm-sync ' is not crm-sync (the runs list would not find its runs).
  integration: z.string().min(1, 'is required'),
  dryRun: z.boolean().optional(),
  triggeredBy: ZActor,
  trigger: z.enum(['manual', 'api', 'schedule']).optional(),
  reason: ZReason,
  dedupe: z.boolean().optional(),
  correlationId: ZCorrelationId,
});

/**
 * Starts a run now (or a dry-run). Scheduled runs are not written to the audit trail (they are not
 * an operator's action).
 *
 * Idempotent for people: a manual Run now (the console's button; `dedupe` defaults to true for the
 * 'manual' trigger only) while a manual run of the same integration and dry-run flag is queued and
 * not started yet returns that run with `deduplicated: true` instead of starting a second one — a
 * double click or two operators at once start one run. Concurrent calls are serialised per
 * integration by a transaction-scoped advisory lock, so the check and the insert cannot interleave.
 *
 * "Queued and not started" is judged when the call arrived, not when it got the lock: a worker
 * starts a run within milliseconds of its commit, so a second simultaneous call that waited for the
 * first one's lock would otherwise find the first run already started and start another. A run
 * whose first attempt began after this transaction did joins the call too (waitingOfSameKind).
 */
export async function runNow(
  db: DatabaseOrTransaction,
  boss: PgBoss,
  params: {
    integration: string;
    dryRun?: boolean;
    triggeredBy: string;
    trigger?: 'manual' | 'api' | 'schedule';
    reason?: string;
    dedupe?: boolean;
    correlationId?: string;
  },
): Promise<{ runId: string; deduplicated: boolean }> {
  const p = parse(ZRunNow, params);
  const trigger = p.trigger ?? 'manual';
  const dryRun = p.dryRun ?? false;
  const dedupe = p.dedupe ?? trigger === 'manual';
  return db.transaction(async (tx) => {
    // Each step sends its statements together (postgres.js pipelines a transaction's statements):
    // a start from the API (no duplicate check) waits for one round trip between BEGIN and COMMIT,
    // a Run now from the console for three (start latency, issue 18).
    let integration: Integration | undefined;
    if (dedupe) {
      // The lock does not need the row: both go out together. The check is a statement of its
      // own, sent once the lock is held, so its snapshot sees every run committed before.
      [integration] = await Promise.all([loadIntegration(tx, p.integration), tx.execute(runNowLock(p.integration))]);
      const joined = await waitingOfSameKind(tx, { integration: integration.name, dryRun, trigger });
      if (joined) return { runId: joined, deduplicated: true };
    }
    // Without the check, the run, its job and its audit row go out with the integration's lookup.
    // A missing or orphaned integration fails the lookup, reported as such whatever the writes
    // behind it did, and the transaction rolls them back.
    const lookup = integration ?? loadIntegration(tx, p.integration);
    const runId = randomUUID();
    const writes = Promise.all([
      insertRun(tx, boss, {
        runId,
        integration: integration ?? { name: p.integration },
        trigger,
        triggeredBy: p.triggeredBy,
        dryRun,
        reason: p.reason,
        correlationId: p.correlationId,
      }),
      trigger !== 'schedule'
        ? recordAction(tx, {
            actor: p.triggeredBy,
            correlationId: p.correlationId,
            integration: p.integration,
            action: dryRun ? 'dry_run' : 'run_now',
            details: { runId, trigger, ...(p.reason ? { reason: p.reason } : {}) },
          })
        : undefined,
    ]);
    writes.catch(() => {});
    await lookup;
    await writes;
    return { runId, deduplicated: false };
  });
}

/** The lock runNow holds, per integration, from its duplicate check to its commit (exported for the tests). */
export const runNowLock = (integration: string) =>
  sql`select pg_advisory_xact_lock(hashtext('junction.run-now'), hashtext(${integration}))`;

/**
 * The run a Run now joins: the oldest run of this kind queued and not started, or else the oldest
 * whose first attempt started after the calling transaction began (it was still queued when the
 * call arrived), in one statement. The second is read through attempts_started_idx (the few
 * attempts started since), each joined to its run by primary key, so the common case (none) costs
 * one short index range, however many runs the integration has.
 */
async function waitingOfSameKind(
  tx: DatabaseOrTransaction,
  kind: { integration: string; dryRun: boolean; trigger: string },
): Promise<string | undefined> {
  const [row] = await tx.execute<{ id: string | null }>(sql`
    select coalesce(
      (select id from runs
        where integration = ${kind.integration} and dry_run = ${kind.dryRun} and trigger = ${kind.trigger}
          and status = 'queued' and started_at is null and hold is null
        order by created_at limit 1),
      (select r.id from attempts a
         join runs r on r.id = a.run_id and r.created_at = a.run_created_at
        where a.started_at >= transaction_timestamp() and a.number = 1
          and r.integration = ${kind.integration} and r.dry_run = ${kind.dryRun} and r.trigger = ${kind.trigger}
        order by r.created_at, r.id limit 1)) as id`);
  return row?.id ?? undefined;
}

/**
 * How late after its tick a schedule job may be sent. pg-boss sends the latest tick that fell in the
 * last 60 s (its cron pass runs every 30 s) and its send-it worker turns it into our job within
 * seconds; a job whose latest tick under the current schedule is older was sent for another one.
 */
export const SCHEDULE_TICK_LATENESS_MS = 5 * 60_000;

/**
 * A schedule tick: starts a run unless the integration is paused, orphaned or gone, or the tick is
 * not one to run (then null, and a log line says why).
 *
 * pg-boss's job says when it was sent (`sentAt`, the job's createdOn), not for which tick, and sends
 * a tick up to a minute after it fell: by the time it is handled the schedule may have changed or
 * the integration been resumed. The tick is taken to be the latest one of the schedule as
 * configured now at or before `sentAt` (the end of a spring-forward gap that skipped one of its
 * times is one: the patched pass sends it, see skippedRuns in ./cron); it starts no run when it
 * fell at or before `schedule_since` (the last schedule or time zone change, or resume: what resume
 * does with ticks missed while paused is its resume policy's business) or too long before the job
 * was sent (then the job was sent for another schedule).
 *
 * Each tick starts one run: the run's insert records the tick as `last_schedule_tick`, and a tick at
 * or before it starts none. pg-boss delivers a job again when the worker that took it stopped
 * before completing it (after the run was committed), and two jobs sent for one tick are both
 * delivered; the integration's row is locked (no key update: run inserts elsewhere are not held
 * up) so that concurrent deliveries take turns.
 */
export async function startScheduledRun(
  db: Database,
  boss: PgBoss,
  params: { integration: string; sentAt: Date },
): Promise<{ runId: string } | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(integrations).where(eq(integrations.name, params.integration)).for('no key update');
    if (!row || !row.registered || row.paused || !row.schedule) return null;
    const tick = dueTick({ ...row, schedule: row.schedule }, params.sentAt);
    if (typeof tick === 'string') {
      console.info(`[schedule] ${row.name}: the tick sent at ${params.sentAt.toISOString()} starts no run: ${tick}`);
      return null;
    }
    const runId = await insertRun(tx, boss, { integration: row, trigger: 'schedule', triggeredBy: 'schedule', dryRun: false });
    await tx.update(integrations).set({ lastScheduleTick: tick }).where(eq(integrations.name, row.name));
    return { runId };
  });
}

/** The tick a schedule job sent at `sentAt` is for, or why it starts no run. */
function dueTick(row: Integration & { schedule: string }, sentAt: Date): Date | string {
  let tick: Date | null;
  try {
    tick = lastRunAtOrBefore(row.schedule, row.timezone, sentAt);
  } catch (error) {
    return (error as Error).message;
  }
  const schedule = `'${row.schedule}' (${row.timezone})`;
  if (!tick) return `schedule ${schedule} has no tick before it`;
  if (tick.getTime() <= row.scheduleSince.getTime()) {
    return `its tick ${tick.toISOString()} is not after ${row.scheduleSince.toISOString()}, when schedule ${schedule} took effect or the integration was resumed`;
  }
  if (row.lastScheduleTick && tick.getTime() <= row.lastScheduleTick.getTime()) {
    return `a run was already started for tick ${row.lastScheduleTick.toISOString()}${tick.getTime() === row.lastScheduleTick.getTime() ? '' : `, after its tick ${tick.toISOString()}`} (the job was delivered again or sent twice)`;
  }
  const stored = storedSchedule(row.schedule, row.timezone);
  if (stored.ok && repeatsWallClock(stored.cron, stored.tz, tick)) {
    return `its tick ${tick.toISOString()} repeats a time the clocks already showed (they went back): schedule ${schedule} runs once at that time`;
  }
  if (sentAt.getTime() - tick.getTime() > SCHEDULE_TICK_LATENESS_MS) {
    return `schedule ${schedule} has no tick in the ${SCHEDULE_TICK_LATENESS_MS / 60_000} minutes before it (the job was sent for another schedule)`;
  }
  return tick;
}

/** The original run of a retry, locked: concurrent retries of one run wait for each other here. */
export async function lockRetryableRun(tx: DatabaseOrTransaction, runId: string) {
  const [run] = await tx.select().from(runs).where(eq(runs.id, runId)).for('update');
  if (!run) throw new AppError('not_found', `Run ${runId} does not exist`);
  if (!isRetryableRunStatus(run.status)) {
    throw new AppError('invalid_state', `Run ${runId} is ${run.status}: only failed or cancelled runs can be retried`);
  }
  // retried_at is set by the insert of its first retry (migration 0019), on this locked row: a
  // concurrent retry that committed first has set it by the time this lock is granted.
  if (run.retriedAt) {
    const [existing] = await tx
      .select({ id: runs.id, status: runs.status, by: runs.triggeredBy, at: runs.createdAt })
      .from(runs)
      .where(eq(runs.retryOf, run.id))
      .orderBy(asc(runs.createdAt))
      .limit(1);
    throw new AppError(
      'invalid_state',
      existing
        ? // Who and when: a second operator's click is refused, and they need to know whom to ask.
          `Run ${runId} was already retried as run ${existing.id} (${existing.status}) by ${existing.by} at ${exactTime(existing.at)}: a run is retried once; retry the newest run of the chain instead`
        : `Run ${runId} was already retried at ${run.retriedAt.toISOString()}: a run is retried once`,
      existing ? { details: { existingRetryId: existing.id } } : undefined,
    );
  }
  return run;
}

/**
 * A new run linked to a failed (or cancelled) one, with the same input and dry-run flag. A run is
 * retried once: a second retry — also one racing the first — is refused with AppError
 * 'invalid_state' naming the existing retry (`error.details.existingRetryId`). `reason` is stored
 * on the new run and in the audit action.
 */
export async function retryRun(
  db: DatabaseOrTransaction,
  boss: PgBoss,
  params: { runId: string; triggeredBy: string; reason?: string; correlationId?: string },
): Promise<{ runId: string }> {
  const p = parse(z.object({ runId: ZRunId, triggeredBy: ZActor, reason: ZReason, correlationId: ZCorrelationId }), params);
  return db.transaction(async (tx) => {
    const original = await lockRetryableRun(tx, p.runId);
    const integration = await loadIntegration(tx, original.integration);
    const runId = await insertRun(tx, boss, {
      integration,
      trigger: 'retry',
      triggeredBy: p.triggeredBy,
      dryRun: original.dryRun,
      retryOf: original.id,
      reason: p.reason || null,
      input: original.input,
      correlationId: p.correlationId,
    });
    await recordAction(tx, {
      actor: p.triggeredBy,
      correlationId: p.correlationId,
      integration: integration.name,
      action: 'retry',
      details: { runId, retryOf: original.id, ...(p.reason ? { reason: p.reason } : {}) },
    });
    return { runId };
  });
}

/**
 * Brings forward the runs of `run`'s integration that the runner deferred to its next attempt
 * (run-order.ts: a run waits for a started one, to the time that one tries again): with `run`
 * cancelled they would wait that long for nothing. Their next_attempt_at is that time, as the
 * runner copied it (to the millisecond). They may have started themselves (a started run waits
 * for the started runs requested before it, between its own attempts: 'deferred', or 'queued'
 * after an interruption); a run's own retry delay ('retrying') is its own. Runs deferred for
 * another reason (an open breaker, a bulk retry's pace) have other times, or a hold, and stay as
 * they are.
 */
async function wakeRunsDeferredBehind(tx: DatabaseOrTransaction, run: { id: string; integration: string; nextAttemptAt: Date }) {
  const due = run.nextAttemptAt.toISOString();
  await tx.execute(sql`
    with woken as (
      update runs set next_attempt_at = now()
       where integration = ${run.integration} and id <> ${run.id} and not dry_run
         and (started_at is not null or (started_at is null and hold is null))
         and status in ('queued', 'deferred')
         and next_attempt_at >= ${due}::timestamptz and next_attempt_at < ${due}::timestamptz + interval '1 millisecond'
      returning job_id)
    update pgboss.job set start_after = now()
     where name = ${RUNS_QUEUE} and state = 'created' and id in (select job_id from woken)`);
}

/**
 * Cancels a run. Waiting (queued, retrying, deferred): its job is cancelled and the run ends now.
 * Running: the run is marked cancelled and the worker executing it aborts ctx.signal (it polls
 * for cancellations), then records the attempt as cancelled.
 */
export async function cancelRun(
  db: DatabaseOrTransaction,
  boss: PgBoss,
  params: { runId: string; by: string; reason?: string; correlationId?: string },
): Promise<void> {
  const p = parse(z.object({ runId: ZRunId, by: ZActor, reason: ZReason, correlationId: ZCorrelationId }), params);
  const ended = await db.transaction(async (tx) => {
    const [run] = await tx.select().from(runs).where(eq(runs.id, p.runId)).for('update');
    if (!run) throw new AppError('not_found', `Run ${p.runId} does not exist`);
    if (isTerminalRunStatus(run.status)) {
      throw new AppError('invalid_state', `Run ${p.runId} is already ${run.status}: only queued, waiting or running runs can be cancelled`);
    }
    const waiting = isWaitingRunStatus(run.status);
    await tx
      .update(runs)
      .set({
        status: 'cancelled',
        hold: null,
        nextAttemptAt: null,
        errorMessage: `cancelled by ${p.by}${p.reason ? `: ${p.reason}` : ''}`,
        errorClass: 'Cancelled',
        ...(waiting ? { finishedAt: sql`now()` } : {}),
      })
      .where(eq(runs.id, run.id));
    if (waiting && run.jobId) await boss.cancel(RUNS_QUEUE, run.jobId, { db: bossDb(tx) });
    // The runs deferred behind it (runs take turns) were due when its next attempt was: now.
    if (waiting && run.nextAttemptAt && run.nextAttemptAt.getTime() > Date.now())
      await wakeRunsDeferredBehind(tx, { ...run, nextAttemptAt: run.nextAttemptAt });
    // Between attempts: what the run acknowledged becomes the cursor (a running run does it when its attempt ends).
    if (waiting) await commitCheckpointAsCursor(tx, run);
    await recordAction(tx, {
      actor: p.by,
      correlationId: p.correlationId,
      integration: run.integration,
      action: 'cancel',
      details: { runId: run.id, previousStatus: run.status, ...(p.reason ? { reason: p.reason } : {}) },
    });
    // Ended here, in this process, only when it was waiting; a running run ends in its worker,
    // which counts it when it records the attempt cancelled.
    return waiting ? run : null;
  });
  // A started run (counted in junction_runs_started_total by the worker that started it) that
  // ended here, waiting for its next attempt, is counted finished here, once committed: no worker
  // will see it end (its job is cancelled; a job delivered anyway finds it ended and counts nothing).
  if (ended?.startedAt) {
    platformMetrics().runsFinished.inc({ integration: ended.integration, trigger: ended.trigger, outcome: 'cancelled' });
  }
}

/** Who last did an operator action (pause, resume) to an integration, and when: for "already paused by …". */
async function lastAction(tx: DatabaseOrTransaction, integration: string, action: string): Promise<{ by: string; at: Date } | null> {
  const [row] = await tx
    .select({ by: auditLog.changedBy, at: auditLog.changedAt })
    .from(auditLog)
    .where(and(eq(auditLog.integration, integration), eq(auditLog.fieldName, action), eq(auditLog.kind, 'action')))
    .orderBy(desc(auditLog.changedAt))
    .limit(1);
  return row ?? null;
}

/**
 * Pauses an integration: no scheduled runs (its pg-boss schedule is removed); manual runs still work.
 * Already paused: nothing changes, and `already` says who paused it and when (null if unrecorded).
 */
export async function pauseIntegration(
  db: Database,
  boss: PgBoss,
  params: { integration: string; by: string; correlationId?: string },
): Promise<{ paused: boolean; already: { by: string; at: Date } | null }> {
  const p = parse(z.object({ integration: z.string().min(1), by: ZActor, correlationId: ZCorrelationId }), params);
  let already: { by: string; at: Date } | null = null;
  const changed = await db.transaction(async (tx) => {
    const row = await loadIntegration(tx, p.integration);
    if (row.paused) {
      already = await lastAction(tx, row.name, 'pause');
      return false;
    }
    await tx
      .update(integrations)
      .set({ paused: true, pausedAt: sql`now()` })
      .where(eq(integrations.name, row.name));
    await recordAction(tx, { actor: p.by, correlationId: p.correlationId, integration: row.name, action: 'pause' });
    return true;
  });
  if (changed) await applySchedule(db, boss, { integration: p.integration });
  return { paused: changed, already };
}

/**
 * Resumes a paused integration and re-applies its schedule. With resume policy 'run_once' and at
 * least one schedule tick missed while paused, exactly one run starts (trigger 'schedule', reason
 * 'missed while paused'); with 'skip' none. Returns what happened for the console.
 */
export async function resumeIntegration(
  db: Database,
  boss: PgBoss,
  params: { integration: string; by: string; correlationId?: string },
): Promise<{ resumed: boolean; missed: number; runId: string | null; already?: { by: string; at: Date } | null }> {
  const p = parse(z.object({ integration: z.string().min(1), by: ZActor, correlationId: ZCorrelationId }), params);
  const result = await db.transaction(async (tx) => {
    await loadIntegration(tx, p.integration);
    // Two resumes at once: the second waits here and then sees the integration already resumed.
    const [row] = await tx.select().from(integrations).where(eq(integrations.name, p.integration)).for('no key update');
    if (!row.paused) return { resumed: false, missed: 0, runId: null, already: await lastAction(tx, row.name, 'resume') };
    const summary = await missedWhilePaused(tx, { integration: row.name });
    // Ticks that fell before now were missed: the policy above decided about them (none, or the one
    // run below), so one that pg-boss sends late must not start a run of its own.
    await tx
      .update(integrations)
      .set({ paused: false, pausedAt: null, scheduleSince: sql`now()` })
      .where(eq(integrations.name, row.name));
    let runId: string | null = null;
    if (summary.resumeWillStartRun) {
      runId = await insertRun(tx, boss, {
        integration: { ...row, paused: false },
        trigger: 'schedule',
        triggeredBy: p.by,
        dryRun: false,
        reason: `missed while paused (${summary.missed}${summary.capped ? '+' : ''} scheduled runs): run once on resume`,
        correlationId: p.correlationId,
      });
    }
    await recordAction(tx, {
      actor: p.by,
      correlationId: p.correlationId,
      integration: row.name,
      action: 'resume',
      details: { resumePolicy: summary.resumePolicy, missed: summary.missed, ...(runId ? { runId } : {}) },
    });
    return { resumed: true, missed: summary.missed, runId };
  });
  if (result.resumed) await applySchedule(db, boss, { integration: p.integration });
  return result;
}
