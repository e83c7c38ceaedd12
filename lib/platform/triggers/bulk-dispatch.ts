import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { bulkOperations, integrations, runs } from '../../../db/schema';
import { parseDuration } from '../duration';
import { databaseReason } from '../errors';
import { sendRunJob } from '../execution/queue';
import { breakerDeferral, getBreaker } from '../resilience/breaker';
import { ACTIVE_RUN_STATUSES } from '../run-status';

/**
 * The bulk dispatcher: releases held runs of bulk operations to the run queue at their pace, and
 * not while the integration's breaker is open (see bulk.ts). Every worker runs it
 * (`startBulkDispatcher`); retryRuns releases the first slot at once.
 */

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

export async function dispatchIntegration(db: DatabaseOrTransaction, boss: PgBoss, name: string): Promise<DispatchResult> {
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
      stopped ? undefined : dispatchHeldRuns(db, boss).catch((error) => console.error(`[bulk] dispatch failed: ${databaseReason(error)}`)),
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
