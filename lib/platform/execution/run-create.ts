import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { DatabaseOrTransaction } from '../../../db/client';
import { integrations, runs, type Integration, type RunHold, type RunTrigger } from '../../../db/schema';
import { AppError } from '../errors';
import { activeTraceparent, CORRELATION_ATTRIBUTE, withSpan } from '../observability/tracing';
import { sendRunJob } from './queue';

/** What every trigger shares: input parsing, the integration check and writing a run with its job. */

export const ZActor = z.string().trim().min(1, 'is required: say who triggers it').max(200);
/** A run id; lower case, as PostgreSQL writes uuids back (ids are compared as text in places). */
export const ZRunId = z
  .string()
  .uuid('must be a run id (uuid)')
  .transform((id) => id.toLowerCase());
export const ZReason = z.string().trim().max(500, 'must be at most 500 characters').optional();
/** The request's correlation id, carried to the run, its audit row, its attempt logs and outbound calls. */
export const ZCorrelationId = z.string().trim().min(1).max(200).optional();

export function parseTriggerInput<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new AppError('invalid_input', `${issue.path.join('.') || 'input'} ${issue.message}`);
  }
  return result.data;
}

export async function loadIntegration(
  db: DatabaseOrTransaction,
  name: string,
  opts: { allowOrphaned?: boolean } = {},
): Promise<Integration> {
  const [row] = await db.select().from(integrations).where(eq(integrations.name, name));
  if (!row) throw new AppError('not_found', `Integration '${name}' does not exist: check the name in the integrations list`);
  if (!row.registered && !opts.allowOrphaned) {
    throw new AppError(
      'orphaned',
      `Integration '${name}' is orphaned: its handler is no longer registered, so it cannot run. Its history is kept; register the handler again to use it.`,
    );
  }
  return row;
}

export interface CreateRunParams {
  /**
   * The integration's row, or only its name when the caller's lookup of the row goes out with the
   * insert (runNow): the run's attempt limit is then read from the row by the insert itself.
   */
  integration: Integration | Pick<Integration, 'name'>;
  trigger: RunTrigger;
  triggeredBy: string;
  dryRun: boolean;
  retryOf?: string | null;
  reason?: string | null;
  input?: unknown;
  bulkOperationId?: string | null;
  /** Held runs get no job yet: the bulk dispatcher releases them (see bulk.ts). */
  hold?: RunHold | null;
  /** The id of the request that asked for the run (a new one when none is given). */
  correlationId?: string;
  /** The new run's id, when the caller needs it before the run is written (a new one when none is given). */
  runId?: string;
  /**
   * Its place among runs written in one transaction (a bulk retry, a replay): created_at (kept to
   * the millisecond) is the transaction's time plus that many milliseconds, so they take turns, and
   * the bulk dispatcher releases them, in that order (both go by created_at, then id, which is
   * random).
   */
  sequence?: number;
}

/**
 * Inserts a run and (unless held) enqueues its first job in the caller's transaction, inside a
 * `run.create` span whose traceparent is stored on the run for its attempts to continue.
 */
export async function insertRun(tx: DatabaseOrTransaction, boss: PgBoss, params: CreateRunParams): Promise<string> {
  const runId = params.runId ?? randomUUID();
  const jobId = params.hold ? null : randomUUID();
  const correlationId = params.correlationId ?? randomUUID();
  const attributes = {
    'junction.integration': params.integration.name,
    'junction.run_id': runId,
    'junction.trigger': params.trigger,
    'junction.dry_run': params.dryRun,
    [CORRELATION_ATTRIBUTE]: correlationId,
  };
  return withSpan('run.create', { attributes }, async () => {
    // The run and its job are sent together (postgres.js pipelines statements of one transaction):
    // one wait instead of two; the job row does not refer to the run row.
    const insert = tx.insert(runs).values({
      id: runId,
      integration: params.integration.name,
      trigger: params.trigger,
      dryRun: params.dryRun,
      triggeredBy: params.triggeredBy,
      retryOf: params.retryOf ?? null,
      reason: params.reason ?? null,
      correlationId,
      traceParent: activeTraceparent(),
      input: params.input ?? null,
      maxAttempts:
        'retryDelays' in params.integration
          ? params.integration.retryDelays.length + 1
          : sql<number>`(select jsonb_array_length(retry_delays) + 1 from integrations where name = ${params.integration.name})`,
      jobId,
      bulkOperationId: params.bulkOperationId ?? null,
      hold: params.hold ?? null,
      ...(params.sequence ? { createdAt: sql`now() + ${params.sequence} * interval '1 millisecond'` } : {}),
    });
    await Promise.all([insert, jobId ? sendRunJob(boss, tx, { runId, jobId, integration: params.integration.name }) : undefined]);
    return runId;
  });
}
