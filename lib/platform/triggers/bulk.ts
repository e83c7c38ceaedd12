import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { bulkOperations, runs, runTriggerEnum, webhookEvents, type Integration, type Run } from '../../../db/schema';
import { formatDuration, parseDuration, zDuration } from '../duration';
import { AppError } from '../errors';
import { bossDb, RUNS_QUEUE } from '../execution/queue';
import { insertRun, loadIntegration, parseTriggerInput, ZActor, ZCorrelationId, ZReason, ZRunId } from '../execution/run-create';
import { recordAction } from '../governance/audit';
import { ZInstant, ZUrlText } from '../params';
import { retryableRunConditions, reversedTimeRange, type RetryableRunFilter } from '../read-models/run-queries';
import { paceWords } from '../words';
import { dispatchIntegration } from './bulk-dispatch';

/**
 * Bulk retry as one operation, staggered and breaker-aware.
 *
 * retryRuns writes the new runs HELD (status 'queued', `hold = 'pace'`, no job) under one
 * `bulk_operations` row. The dispatcher (every worker runs it; `dispatchHeldRuns`) releases held
 * runs to the run queue at the operation's pace — at most `pace.runs` per `pace.per` per
 * integration, counted over a sliding window of `runs.released_at` — and not at all while the
 * integration's breaker is open: those runs are marked `hold = 'breaker'` ("queued behind
 * breaker") and released, at the pace, once it closes. When an open breaker is due for its
 * half-open trial, one run is released as the trial. Progress is read from the runs themselves.
 *
 * This file holds the commands (retryRuns, setBulkPace, cancelBulkOperation); bulk-dispatch.ts the dispatcher,
 * bulk-views.ts what the console reads. Outside triggers/, the console reaches them through
 * triggers.ts and the worker starts the dispatcher from bulk-dispatch.ts.
 */

export const BULK_LIMIT = 500;
export const DEFAULT_BULK_PACE = { runs: 5, per: '1m' } as const;

/** A bulk operation's pace: at most `runs` per `per` per integration. */
export const ZBulkPace = z.object({
  runs: z.number().int().min(1, 'must be at least 1').max(500),
  per: zDuration({ min: '100ms', max: '1h' }),
});

/** The Runs list's filter fields a bulk retry takes besides integration and status (ZRetryMatchingFilter, ZRetryFilter). */
const filterIntegration = ZUrlText(100).min(1).optional();
const retryFilterFields = {
  trigger: z.enum(runTriggerEnum.enumValues).optional(),
  dryRun: z.enum(['only', 'exclude']).optional().meta({ description: '`only`: dry-runs only; `exclude`: real runs only' }),
  /** Runs retried already are never taken: the list's "not retried" filter is accepted, nothing else. */
  retried: z
    .literal('exclude', { error: "may only be 'exclude': a run is retried once" })
    .optional()
    .meta({ description: 'Runs retried already are never taken, with or without it' }),
  bulk: z.string().uuid('must be a bulk retry id').optional().meta({ description: 'Only the retries of this bulk retry' }),
  from: ZInstant.optional().meta({ description: 'Created at or after (ISO 8601: 2026-11-30 or 2026-11-30T08:00:00Z)' }),
  to: ZInstant.optional().meta({ description: 'Created at or before (ISO 8601), not before `from`' }),
};

function refuseReversedRange(f: { from?: Date; to?: Date }, ctx: z.RefinementCtx) {
  const reversed = reversedTimeRange(f.from, f.to);
  if (reversed) ctx.addIssue({ code: 'custom', path: ['to'], message: reversed });
}

/**
 * "Retry all matching" as a person or a script asks for it: the Runs list's filter with its status,
 * failed or cancelled. The one schema of the console's action (retryMatchingAction) and the JSON
 * API (`POST /api/runs/retry {"filter": …}`), so both accept and refuse the same filters.
 */
export const ZRetryMatchingFilter = z
  .object({
    integration: filterIntegration,
    status: z.enum(['failed', 'cancelled'], { error: 'Filter by status failed or cancelled to retry all matching runs.' }),
    ...retryFilterFields,
  })
  .strict()
  .superRefine(refuseReversedRange);
export type TRetryMatchingFilter = z.input<typeof ZRetryMatchingFilter>;

/**
 * A bulk retry's filter as retryRuns takes it: ZRetryMatchingFilter's fields, but the status is
 * checked by retryFilter. The older shape, `{ integration? }` with no status, still means its
 * failed runs; a filter naming any other status, or the list's other fields without a status, is
 * refused: a bulk retry never takes succeeded or active runs.
 */
const ZRetryFilter = z
  .object({ integration: filterIntegration, status: z.string().max(100).optional(), ...retryFilterFields })
  .strict()
  .superRefine(refuseReversedRange);

/** The filter's runs, or why a bulk retry refuses it. */
function retryFilter(f: z.output<typeof ZRetryFilter>): RetryableRunFilter {
  const { status, retried: _retried, ...rest } = f;
  if (status === 'failed' || status === 'cancelled') return { ...rest, status };
  const legacy = status === undefined && Object.keys(rest).every((k) => k === 'integration');
  if (legacy) return { ...rest, status: 'failed' };
  throw new AppError(
    'invalid_input',
    status === undefined
      ? 'A bulk retry by filter must filter by status failed or cancelled: it never retries runs of other statuses.'
      : `A bulk retry by filter retries failed or cancelled runs only, not ${status} runs: filter by status failed or cancelled.`,
  );
}

function unknownFilterIntegration(error: unknown): never {
  if (error instanceof AppError && error.code === 'not_found') throw new AppError('invalid_input', error.message);
  throw error;
}

const ZRetryRuns = z
  .object({
    runIds: z.array(ZRunId).max(BULK_LIMIT, `may list at most ${BULK_LIMIT} runs`).optional(),
    filter: ZRetryFilter.optional(),
    triggeredBy: ZActor,
    reason: ZReason,
    pace: ZBulkPace.optional(),
    correlationId: ZCorrelationId,
  })
  .refine((v) => v.runIds !== undefined || v.filter !== undefined, { message: 'give runIds or a filter' });

/**
 * Bulk retry: the given runs (all must be failed or cancelled and not retried yet: all or nothing),
 * or every run matching the filter (the Runs list's, status failed or cancelled) that has not been
 * retried yet, of registered integrations (at most 500, oldest first; runs locked by a concurrent
 * retry are skipped).
 * The new runs are held and released by the dispatcher at `pace` (default 5 per minute per
 * integration); the first ones are released before this returns when the breaker is closed.
 */
export async function retryRuns(
  db: DatabaseOrTransaction,
  boss: PgBoss,
  params: {
    runIds?: string[];
    /** The Runs list's filter, status failed or cancelled (no status, with only `integration`: failed). */
    filter?: {
      integration?: string;
      status?: string;
      trigger?: string;
      dryRun?: 'only' | 'exclude';
      retried?: 'exclude';
      bulk?: string;
      from?: Date | string;
      to?: Date | string;
    };
    triggeredBy: string;
    reason?: string;
    pace?: { runs: number; per: string };
    /** Shared by every run of the bulk retry: one click, one id to follow. */
    correlationId?: string;
  },
): Promise<{ runIds: string[]; bulkOperationId: string | null }> {
  const p = parseTriggerInput(ZRetryRuns, params);
  const pace = p.pace ?? DEFAULT_BULK_PACE;
  const filter = p.filter && !p.runIds ? retryFilter(p.filter) : undefined;
  const result = await db.transaction(async (tx) => {
    let originals: Run[];
    if (p.runIds) {
      const ids = [...new Set(p.runIds)].sort();
      if (ids.length === 0) return { runIds: [], bulkOperationId: null, integrations: [] };
      // Locked in id order: a concurrent single retry of one of these waits, then sees our retry.
      originals = await tx.select().from(runs).where(inArray(runs.id, ids)).orderBy(asc(runs.id)).for('update');
      const found = new Set(originals.map((r) => r.id));
      const missing = ids.filter((id) => !found.has(id));
      if (missing.length) throw new AppError('not_found', `Runs do not exist: ${missing.join(', ')}`);
      const wrong = originals.filter((r) => r.status !== 'failed' && r.status !== 'cancelled');
      if (wrong.length) {
        throw new AppError(
          'invalid_state',
          `Only failed or cancelled runs can be retried: ${wrong.map((r) => `${r.id} is ${r.status}`).join(', ')}`,
        );
      }
      // retried_at (migration 0019) on the rows just locked; their retries only for the message.
      const retriedIds = originals.filter((r) => r.retriedAt).map((r) => r.id);
      if (retriedIds.length) {
        const retried = await tx
          .select({ id: runs.id, retryOf: runs.retryOf, by: runs.triggeredBy })
          .from(runs)
          .where(inArray(runs.retryOf, retriedIds));
        throw new AppError(
          'invalid_state',
          `A run is retried once; already retried: ${retried.map((r) => `${r.retryOf} as ${r.id} by ${r.by}`).join(', ')}. Retry the newest run of each chain instead.`,
        );
      }
      originals.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    } else {
      // An unknown or unregistered integration is said, not answered with "nothing to retry". An
      // unknown one is a wrong filter (400), as a bad status is: the filter names nothing to retry.
      if (filter!.integration) await loadIntegration(tx, filter!.integration).catch(unknownFilterIntegration);
      originals = await tx
        .select()
        .from(runs)
        .where(and(...retryableRunConditions(filter!)))
        .orderBy(asc(runs.createdAt), asc(runs.id))
        .limit(BULK_LIMIT)
        .for('update', { skipLocked: true });
    }
    if (originals.length === 0) return { runIds: [], bulkOperationId: null, integrations: [] };

    const bulkOperationId = randomUUID();
    const cache = new Map<string, Integration>();
    for (const original of originals) {
      if (!cache.has(original.integration)) cache.set(original.integration, await loadIntegration(tx, original.integration));
    }
    await tx.insert(bulkOperations).values({
      id: bulkOperationId,
      createdBy: p.triggeredBy,
      runIds: [],
      retriedRunIds: originals.map((r) => r.id),
      total: originals.length,
      paceRuns: pace.runs,
      pacePeriodMs: parseDuration(pace.per),
      reason: p.reason || null,
    });
    const runIds: string[] = [];
    const byIntegration = new Map<string, { runId: string; retryOf: string }[]>();
    for (const [sequence, original] of originals.entries()) {
      const runId = await insertRun(tx, boss, {
        sequence,
        integration: cache.get(original.integration)!,
        trigger: 'retry',
        triggeredBy: p.triggeredBy,
        dryRun: original.dryRun,
        retryOf: original.id,
        reason: p.reason || null,
        input: original.input,
        bulkOperationId,
        hold: 'pace',
        correlationId: p.correlationId,
      });
      runIds.push(runId);
      byIntegration.set(original.integration, [...(byIntegration.get(original.integration) ?? []), { runId, retryOf: original.id }]);
    }
    await tx.update(bulkOperations).set({ runIds }).where(eq(bulkOperations.id, bulkOperationId));
    for (const [integration, retried] of byIntegration) {
      await recordAction(tx, {
        actor: p.triggeredBy,
        correlationId: p.correlationId,
        integration,
        action: 'bulk_retry',
        details: { bulkOperationId, runs: retried, pace: { runs: pace.runs, per: pace.per }, ...(p.reason ? { reason: p.reason } : {}) },
      });
    }
    return { runIds, bulkOperationId, integrations: [...byIntegration.keys()] };
  });
  if (result.bulkOperationId) {
    // Release the first slot now; the workers' dispatcher does the rest (and this, if it fails).
    for (const integration of result.integrations) await dispatchIntegration(db, boss, integration).catch(() => undefined);
  }
  return { runIds: result.runIds, bulkOperationId: result.bulkOperationId };
}
/**
 * Cancels what has not started of a bulk operation (held runs and runs still waiting on the queue);
 * runs already started go on. Audited as 'bulk_cancel'.
 */
export async function cancelBulkOperation(
  db: Database,
  boss: PgBoss,
  params: { id: string; by: string; correlationId?: string },
): Promise<{ cancelled: number }> {
  const p = parseTriggerInput(
    z.object({ id: z.string().uuid('must be a bulk operation id (uuid)'), by: ZActor, correlationId: ZCorrelationId }),
    params,
  );
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(bulkOperations).where(eq(bulkOperations.id, p.id)).for('update');
    if (!row) throw new AppError('not_found', `Bulk operation ${p.id} does not exist`);
    if (row.cancelledAt) {
      throw new AppError(
        'invalid_state',
        `Bulk operation ${p.id} was already cancelled by ${row.cancelledBy} at ${row.cancelledAt.toISOString()}`,
      );
    }
    const notStarted = and(eq(runs.bulkOperationId, p.id), eq(runs.status, 'queued'), sql`${runs.startedAt} is null`);
    // Locked in the order the runs take turns, earlier first, as a worker deferring a later run
    // behind an earlier one does (runner.ts): in the scan's order the two could deadlock.
    await tx.select({ id: runs.id }).from(runs).where(notStarted).orderBy(asc(runs.createdAt), asc(runs.id)).for('update');
    const cancelled = await tx
      .update(runs)
      .set({
        status: 'cancelled',
        hold: null,
        nextAttemptAt: null,
        finishedAt: sql`now()`,
        errorMessage: `cancelled by ${p.by} with bulk operation ${p.id}`,
        errorClass: 'Cancelled',
      })
      .where(notStarted)
      .returning({ id: runs.id, jobId: runs.jobId, integration: runs.integration });
    if (cancelled.length === 0) {
      // Every run has started (a stale page's button, or a script): nothing to cancel, and the
      // operation must not be relabelled 'cancelled' (and audited) for work that ran.
      const [counts] = await tx
        .select({ total: sql<number>`count(*)::int`, finished: sql<number>`count(*) filter (where ${runs.finishedAt} is not null)::int` })
        .from(runs)
        .where(eq(runs.bulkOperationId, p.id));
      throw new AppError(
        'invalid_state',
        `Bulk operation ${p.id} has no run left to cancel: all ${counts.total} have started (${counts.finished} finished); cancel a running one from its run page`,
      );
    }
    if (row.kind === 'replay' && cancelled.length) {
      // The events of replay runs that never went back to what they were before the replay.
      await tx
        .update(webhookEvents)
        .set({
          status: sql`coalesce(${webhookEvents.replayedFrom}, 'failed')`,
          outcome: `replay cancelled by ${p.by} (bulk operation ${p.id}); not applied again`,
          replayRunId: null,
          replayedFrom: null,
        })
        .where(
          and(
            inArray(
              webhookEvents.replayRunId,
              cancelled.map((r) => r.id),
            ),
            eq(webhookEvents.status, 'pending'),
          ),
        );
    }
    const jobIds = cancelled.map((r) => r.jobId).filter((id): id is string => id !== null);
    if (jobIds.length) await boss.cancel(RUNS_QUEUE, jobIds, { db: bossDb(tx) });
    await tx
      .update(bulkOperations)
      .set({ cancelledAt: sql`now()`, cancelledBy: p.by })
      .where(eq(bulkOperations.id, p.id));
    const names = [...new Set(cancelled.map((r) => r.integration))];
    await recordAction(tx, {
      actor: p.by,
      correlationId: p.correlationId,
      integration: names.length === 1 ? names[0] : undefined,
      action: 'bulk_cancel',
      details: { bulkOperationId: p.id, cancelled: cancelled.length, runIds: cancelled.map((r) => r.id) },
    });
    return { cancelled: cancelled.length };
  });
}

const ZSetBulkPace = z.object({
  bulkOperationId: z.string().uuid('must be a bulk operation id (uuid)'),
  pace: ZBulkPace,
  actor: ZActor,
  correlationId: ZCorrelationId,
});

/**
 * Changes the pace of a bulk operation's runs not released yet: the dispatcher reads the pace from
 * the operation on every tick, so the next one honours it. Refused once nothing is left to release
 * (every run released, or the operation cancelled). Audited as 'bulk_pace' with the old and new pace.
 */
export async function setBulkPace(
  db: DatabaseOrTransaction,
  params: { bulkOperationId: string; pace: { runs: number; per: string }; actor: string; correlationId?: string },
): Promise<{ bulkOperationId: string; pace: { runs: number; per: string }; previous: { runs: number; per: string } }> {
  const p = parseTriggerInput(ZSetBulkPace, params);
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(bulkOperations).where(eq(bulkOperations.id, p.bulkOperationId)).for('update');
    if (!row) throw new AppError('not_found', `Bulk operation ${p.bulkOperationId} does not exist`);
    if (row.cancelledAt) {
      throw new AppError(
        'invalid_state',
        `Bulk operation ${p.bulkOperationId} was cancelled by ${row.cancelledBy} at ${row.cancelledAt.toISOString()}: no run of it is left to pace; to run them, retry the cancelled runs`,
      );
    }
    const held = await tx
      .select({ integration: runs.integration })
      .from(runs)
      .where(and(eq(runs.bulkOperationId, p.bulkOperationId), eq(runs.status, 'queued'), isNotNull(runs.hold)));
    if (held.length === 0) {
      throw new AppError(
        'invalid_state',
        `Bulk operation ${p.bulkOperationId} has no run left to release: all ${row.total} have been released or have finished, so its pace no longer applies`,
      );
    }
    const previous = { runs: row.paceRuns, per: formatDuration(row.pacePeriodMs) };
    const pace = { runs: p.pace.runs, per: p.pace.per };
    if (pace.runs === row.paceRuns && parseDuration(pace.per) === row.pacePeriodMs) {
      // As a save with no change writes no audit row: an audit row "from 20 per hour to 20 per hour" says nothing.
      throw new AppError(
        'invalid_state',
        `Bulk operation ${p.bulkOperationId} already starts at most ${paceWords(row.paceRuns, row.pacePeriodMs)} per integration: nothing changed`,
      );
    }
    await tx
      .update(bulkOperations)
      .set({ paceRuns: pace.runs, pacePeriodMs: parseDuration(pace.per) })
      .where(eq(bulkOperations.id, p.bulkOperationId));
    const names = [...new Set(held.map((r) => r.integration))];
    await recordAction(tx, {
      actor: p.actor,
      correlationId: p.correlationId,
      integration: names.length === 1 ? names[0] : undefined,
      action: 'bulk_pace',
      details: { bulkOperationId: p.bulkOperationId, previous, pace, held: held.length },
    });
    return { bulkOperationId: p.bulkOperationId, pace, previous };
  });
}
