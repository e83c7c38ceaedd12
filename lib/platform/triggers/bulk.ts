import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { bulkOperations, integrations, runs, type BulkOperation, type Integration, type Run } from '../../../db/schema';
import { parseDuration, zDuration } from '../duration';
import { AppError } from '../errors';
import { bossDb, RUNS_QUEUE, sendRunJob } from '../execution/queue';
import { insertRun, loadIntegration, parseTriggerInput, ZActor, ZReason, ZRunId } from '../execution/run-create';
import { recordAction } from '../governance/audit';
import { breakerDeferral, getBreaker } from '../resilience/breaker';
import { ACTIVE_RUN_STATUSES } from '../run-status';

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
 */

export const BULK_LIMIT = 500;
export const DEFAULT_BULK_PACE = { runs: 5, per: '1m' } as const;

const ZPace = z.object({
  runs: z.number().int().min(1, 'must be at least 1').max(500),
  per: zDuration({ min: '100ms', max: '1h' }),
});

export interface BulkProgress {
  /** Not started yet: held (pace or breaker) or on the queue waiting. */
  queued: number;
  /** Of `queued`: waiting because the integration's breaker is open. */
  behindBreaker: number;
  /** Running, retrying or deferred. */
  started: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface BulkOperationView {
  id: string;
  kind: 'retry';
  createdBy: string;
  createdAt: Date;
  reason: string | null;
  total: number;
  pace: { runs: number; perMs: number };
  /** 'active' while any run has not finished; 'done' when all have; 'cancelled' after cancelBulkOperation. */
  status: 'active' | 'done' | 'cancelled';
  cancelledAt: Date | null;
  cancelledBy: string | null;
  progress: BulkProgress;
  integrations: string[];
  runIds: string[];
  retriedRunIds: string[];
}

const ZRetryRuns = z
  .object({
    runIds: z.array(ZRunId).max(BULK_LIMIT, `may list at most ${BULK_LIMIT} runs`).optional(),
    filter: z.object({ integration: z.string().min(1).optional(), status: z.literal('failed').optional() }).optional(),
    triggeredBy: ZActor,
    reason: ZReason,
    pace: ZPace.optional(),
  })
  .refine((v) => v.runIds !== undefined || v.filter !== undefined, { message: 'give runIds or a filter' });

/**
 * Bulk retry: the given runs (all must be failed or cancelled and not retried yet: all or nothing),
 * or every failed run matching the filter that has not been retried yet (at most 500, oldest first).
 * The new runs are held and released by the dispatcher at `pace` (default 5 per minute per
 * integration); the first ones are released before this returns when the breaker is closed.
 */
export async function retryRuns(
  db: DatabaseOrTransaction,
  boss: PgBoss,
  params: {
    runIds?: string[];
    filter?: { integration?: string; status?: 'failed' };
    triggeredBy: string;
    reason?: string;
    pace?: { runs: number; per: string };
  },
): Promise<{ runIds: string[]; bulkOperationId: string | null }> {
  const p = parseTriggerInput(ZRetryRuns, params);
  const pace = p.pace ?? DEFAULT_BULK_PACE;
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
      const retried = await tx.select({ id: runs.id, retryOf: runs.retryOf }).from(runs).where(inArray(runs.retryOf, ids));
      if (retried.length) {
        throw new AppError(
          'invalid_state',
          `A run is retried once; already retried: ${retried.map((r) => `${r.retryOf} as ${r.id}`).join(', ')}. Retry the newest run of each chain instead.`,
        );
      }
      originals.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    } else {
      originals = await tx
        .select()
        .from(runs)
        .where(
          and(
            eq(runs.status, 'failed'),
            p.filter?.integration ? eq(runs.integration, p.filter.integration) : undefined,
            sql`not exists (select 1 from runs r2 where r2.retry_of = ${runs.id})`,
            sql`exists (select 1 from integrations i where i.name = ${runs.integration} and i.registered)`,
          ),
        )
        .orderBy(runs.createdAt)
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
    for (const original of originals) {
      const runId = await insertRun(tx, boss, {
        integration: cache.get(original.integration)!,
        trigger: 'retry',
        triggeredBy: p.triggeredBy,
        dryRun: original.dryRun,
        retryOf: original.id,
        reason: p.reason || null,
        input: original.input,
        bulkOperationId,
        hold: 'pace',
      });
      runIds.push(runId);
      byIntegration.set(original.integration, [...(byIntegration.get(original.integration) ?? []), { runId, retryOf: original.id }]);
    }
    await tx.update(bulkOperations).set({ runIds }).where(eq(bulkOperations.id, bulkOperationId));
    for (const [integration, retried] of byIntegration) {
      await recordAction(tx, {
        actor: p.triggeredBy,
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

export interface DispatchResult {
  released: number;
  behindBreaker: number;
}

/** Releases held runs that may go now, for every integration with held runs (or one). */
export async function dispatchHeldRuns(db: Database, boss: PgBoss, params: { integration?: string } = {}): Promise<DispatchResult> {
  const names = params.integration
    ? [params.integration]
    : (
        await db
          .selectDistinct({ integration: runs.integration })
          .from(runs)
          .where(and(isNotNull(runs.hold), eq(runs.status, 'queued')))
      ).map((r) => r.integration);
  const total: DispatchResult = { released: 0, behindBreaker: 0 };
  for (const name of names) {
    const one = await dispatchIntegration(db, boss, name);
    total.released += one.released;
    total.behindBreaker += one.behindBreaker;
  }
  return total;
}

async function dispatchIntegration(db: DatabaseOrTransaction, boss: PgBoss, name: string): Promise<DispatchResult> {
  return db.transaction(async (tx) => {
    const [lock] = await tx.execute<{ ok: boolean }>(
      sql`select pg_try_advisory_xact_lock(hashtext('junction.bulk-dispatch'), hashtext(${name})) as ok`,
    );
    if (!lock.ok) return { released: 0, behindBreaker: 0 };
    const [integration] = await tx.select().from(integrations).where(eq(integrations.name, name));
    if (!integration) return { released: 0, behindBreaker: 0 };
    const held = and(eq(runs.integration, name), eq(runs.status, 'queued'), isNotNull(runs.hold));

    // The pace of the oldest held run's operation applies to the integration.
    const [oldest] = await tx
      .select({ paceRuns: bulkOperations.paceRuns, pacePeriodMs: bulkOperations.pacePeriodMs })
      .from(runs)
      .innerJoin(bulkOperations, eq(bulkOperations.id, runs.bulkOperationId))
      .where(held)
      .orderBy(asc(runs.createdAt))
      .limit(1);
    if (!oldest) return { released: 0, behindBreaker: 0 };

    let allowed: number;
    const breaker = await getBreaker(tx, { key: integration.breakerKey });
    if (breaker && breaker.state !== 'closed') {
      const deferUntil = await breakerDeferral(tx, { key: integration.breakerKey, cooldownMs: parseDuration(integration.breakerCooldown) });
      const [inFlight] = await tx
        .select({ n: sql<number>`count(*)::int` })
        .from(runs)
        .where(and(eq(runs.integration, name), isNotNull(runs.releasedAt), inArray(runs.status, ACTIVE_RUN_STATUSES)));
      // Due for its half-open trial: one run may be that trial; the rest wait for the breaker to close.
      allowed = deferUntil === null && inFlight.n === 0 ? 1 : 0;
      if (allowed === 0) {
        const marked = await tx.update(runs).set({ hold: 'breaker' }).where(held).returning({ id: runs.id });
        return { released: 0, behindBreaker: marked.length };
      }
    } else {
      const [recent] = await tx
        .select({ n: sql<number>`count(*)::int` })
        .from(runs)
        .where(and(eq(runs.integration, name), sql`${runs.releasedAt} > now() - make_interval(secs => ${oldest.pacePeriodMs / 1000})`));
      allowed = Math.max(0, oldest.paceRuns - recent.n);
    }

    let released = 0;
    if (allowed > 0) {
      const next = await tx
        .select({ id: runs.id })
        .from(runs)
        .where(held)
        .orderBy(asc(runs.createdAt), asc(runs.id))
        .limit(allowed)
        .for('update', { skipLocked: true });
      for (const { id } of next) {
        const jobId = randomUUID();
        await tx
          .update(runs)
          .set({ hold: null, releasedAt: sql`now()`, jobId })
          .where(eq(runs.id, id));
        await sendRunJob(boss, tx, { runId: id, jobId, integration: name });
        released += 1;
      }
    }
    // What is left waits for its turn (a breaker that closed turns 'breaker' back into 'pace').
    await tx
      .update(runs)
      .set({ hold: 'pace' })
      .where(and(held, eq(runs.hold, 'breaker')));
    return { released, behindBreaker: 0 };
  });
}

/** Runs dispatchHeldRuns every `intervalMs` until stopped (each worker runs one; they take turns by lock). */
export function startBulkDispatcher(db: Database, boss: PgBoss, params: { intervalMs?: number } = {}): { stop(): Promise<void> } {
  let stopped = false;
  let current: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    current = current.then(() =>
      stopped
        ? undefined
        : dispatchHeldRuns(db, boss).catch((error) => console.error(`[bulk] dispatch failed: ${(error as Error).message}`)),
    );
  }, params.intervalMs ?? 2_000);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}

async function progressOf(db: DatabaseOrTransaction, ids: string[]) {
  if (ids.length === 0) return new Map<string, { progress: BulkProgress; integrations: string[] }>();
  const rows = await db
    .select({
      id: runs.bulkOperationId,
      queued: sql<number>`count(*) filter (where ${runs.status} = 'queued' and ${runs.startedAt} is null)::int`,
      behindBreaker: sql<number>`count(*) filter (where ${runs.status} = 'queued' and ${runs.hold} = 'breaker')::int`,
      started: sql<number>`count(*) filter (where ${runs.status} in ('running', 'retrying', 'deferred') or (${runs.status} = 'queued' and ${runs.startedAt} is not null))::int`,
      succeeded: sql<number>`count(*) filter (where ${runs.status} = 'succeeded')::int`,
      failed: sql<number>`count(*) filter (where ${runs.status} = 'failed')::int`,
      cancelled: sql<number>`count(*) filter (where ${runs.status} = 'cancelled')::int`,
      integrations: sql<string[]>`array_agg(distinct ${runs.integration})`,
    })
    .from(runs)
    .where(inArray(runs.bulkOperationId, ids))
    .groupBy(runs.bulkOperationId);
  return new Map(
    rows.map(({ id, integrations: names, ...progress }) => [id as string, { progress, integrations: [...(names ?? [])].sort() }]),
  );
}

function view(row: BulkOperation, found: { progress: BulkProgress; integrations: string[] } | undefined): BulkOperationView {
  const progress = found?.progress ?? { queued: 0, behindBreaker: 0, started: 0, succeeded: 0, failed: 0, cancelled: 0 };
  const finished = progress.succeeded + progress.failed + progress.cancelled;
  return {
    id: row.id,
    kind: row.kind,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    reason: row.reason,
    total: row.total,
    pace: { runs: row.paceRuns, perMs: row.pacePeriodMs },
    status: row.cancelledAt ? 'cancelled' : finished >= row.total ? 'done' : 'active',
    cancelledAt: row.cancelledAt,
    cancelledBy: row.cancelledBy,
    progress,
    integrations: found?.integrations ?? [],
    runIds: row.runIds,
    retriedRunIds: row.retriedRunIds,
  };
}

/** One bulk operation with its progress; null when it does not exist (or its runs were pruned). */
export async function getBulkOperation(db: DatabaseOrTransaction, params: { id: string }): Promise<BulkOperationView | null> {
  const id = parseTriggerInput(z.string().uuid('must be a bulk operation id (uuid)'), params.id);
  const [row] = await db.select().from(bulkOperations).where(eq(bulkOperations.id, id));
  if (!row) return null;
  return view(row, (await progressOf(db, [id])).get(id));
}

/** The newest bulk operations first, with progress. */
export async function listBulkOperations(db: DatabaseOrTransaction, params: { limit?: number } = {}): Promise<BulkOperationView[]> {
  const limit = parseTriggerInput(z.number().int().min(1).max(200).default(20), params.limit);
  const rows = await db.select().from(bulkOperations).orderBy(desc(bulkOperations.createdAt), desc(bulkOperations.id)).limit(limit);
  const progress = await progressOf(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((row) => view(row, progress.get(row.id)));
}

/**
 * Cancels what has not started of a bulk operation (held runs and runs still waiting on the queue);
 * runs already started go on. Audited as 'bulk_cancel'.
 */
export async function cancelBulkOperation(db: Database, boss: PgBoss, params: { id: string; by: string }): Promise<{ cancelled: number }> {
  const p = parseTriggerInput(z.object({ id: z.string().uuid('must be a bulk operation id (uuid)'), by: ZActor }), params);
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(bulkOperations).where(eq(bulkOperations.id, p.id)).for('update');
    if (!row) throw new AppError('not_found', `Bulk operation ${p.id} does not exist`);
    if (row.cancelledAt) {
      throw new AppError(
        'invalid_state',
        `Bulk operation ${p.id} was already cancelled by ${row.cancelledBy} at ${row.cancelledAt.toISOString()}`,
      );
    }
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
      .where(and(eq(runs.bulkOperationId, p.id), eq(runs.status, 'queued'), sql`${runs.startedAt} is null`))
      .returning({ id: runs.id, jobId: runs.jobId, integration: runs.integration });
    const jobIds = cancelled.map((r) => r.jobId).filter((id): id is string => id !== null);
    if (jobIds.length) await boss.cancel(RUNS_QUEUE, jobIds, { db: bossDb(tx) });
    await tx
      .update(bulkOperations)
      .set({ cancelledAt: sql`now()`, cancelledBy: p.by })
      .where(eq(bulkOperations.id, p.id));
    const names = [...new Set(cancelled.map((r) => r.integration))];
    await recordAction(tx, {
      actor: p.by,
      integration: names.length === 1 ? names[0] : undefined,
      action: 'bulk_cancel',
      details: { bulkOperationId: p.id, cancelled: cancelled.length, runIds: cancelled.map((r) => r.id) },
    });
    return { cancelled: cancelled.length };
  });
}
