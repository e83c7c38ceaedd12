import { desc, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { DatabaseOrTransaction } from '../../../db/client';
import { bulkOperations, runs, type BulkOperation } from '../../../db/schema';
import { parseTriggerInput } from '../execution/run-create';

/** What the console reads of bulk operations: each with its progress, read from its runs. */

export interface BulkProgress {
  /** Not started yet: held (pace or breaker) or on the queue waiting. */
  queued: number;
  /** Of `queued`: waiting because the integration's breaker is open. */
  behindBreaker: number;
  /** Of `queued`: held by the dispatcher (pace or breaker), not released to the queue yet: what a pace change affects. */
  held: number;
  /** Running, retrying or deferred. */
  started: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface BulkOperationView {
  id: string;
  kind: 'retry' | 'replay';
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
async function progressOf(db: DatabaseOrTransaction, ids: string[]) {
  if (ids.length === 0) return new Map<string, { progress: BulkProgress; integrations: string[] }>();
  const rows = await db
    .select({
      id: runs.bulkOperationId,
      queued: sql<number>`count(*) filter (where ${runs.status} = 'queued' and ${runs.startedAt} is null)::int`,
      behindBreaker: sql<number>`count(*) filter (where ${runs.status} = 'queued' and ${runs.hold} = 'breaker')::int`,
      held: sql<number>`count(*) filter (where ${runs.status} = 'queued' and ${runs.hold} is not null)::int`,
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
  const progress = found?.progress ?? { queued: 0, behindBreaker: 0, held: 0, started: 0, succeeded: 0, failed: 0, cancelled: 0 };
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
