import { randomUUID } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { Database, DatabaseOrTransaction } from '../../db/client';
import { integrations, runs, type Integration, type RunStatus, type RunTrigger } from '../../db/schema';
import { recordAction } from './audit';
import { TriggerError } from './errors';
import { bossDb, RUNS_QUEUE, sendRunJob } from './queue';
import { applySchedule } from './schedules';

export { openBreaker, resetBreaker } from './breaker';

/**
 * The triggering API for the console, the API and scripts. Each call validates its input, checks
 * that the integration exists and is registered (not orphaned), writes the run row and enqueues its
 * pg-boss job in ONE transaction together with the audit record of who did it. No worker needs to
 * run in the calling process; `boss` only has to be started.
 */

const TERMINAL: RunStatus[] = ['succeeded', 'failed', 'cancelled'];
const WAITING: RunStatus[] = ['queued', 'retrying', 'deferred'];
const RETRYABLE: RunStatus[] = ['failed', 'cancelled'];
const BULK_LIMIT = 500;

const ZActor = z.string().trim().min(1, 'is required: say who triggers it').max(200);
const ZRunId = z.string().uuid('must be a run id (uuid)');

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new TriggerError('invalid_input', `${issue.path.join('.') || 'input'} ${issue.message}`);
  }
  return result.data;
}

async function loadIntegration(db: DatabaseOrTransaction, name: string, opts: { allowOrphaned?: boolean } = {}): Promise<Integration> {
  const [row] = await db.select().from(integrations).where(eq(integrations.name, name));
  if (!row) throw new TriggerError('not_found', `Integration '${name}' does not exist: check the name in the integrations list`);
  if (!row.registered && !opts.allowOrphaned) {
    throw new TriggerError(
      'orphaned',
      `Integration '${name}' is orphaned: its handler is no longer registered, so it cannot run. Its history is kept; register the handler again to use it.`,
    );
  }
  return row;
}

interface CreateRunParams {
  integration: Integration;
  trigger: RunTrigger;
  triggeredBy: string;
  dryRun: boolean;
  retryOf?: string | null;
  reason?: string | null;
  input?: unknown;
}

/** Inserts a run and enqueues its first job in the caller's transaction. */
async function insertRun(tx: DatabaseOrTransaction, boss: PgBoss, params: CreateRunParams): Promise<string> {
  const runId = randomUUID();
  const jobId = randomUUID();
  await tx.insert(runs).values({
    id: runId,
    integration: params.integration.name,
    trigger: params.trigger,
    dryRun: params.dryRun,
    triggeredBy: params.triggeredBy,
    retryOf: params.retryOf ?? null,
    reason: params.reason ?? null,
    correlationId: randomUUID(),
    input: params.input ?? null,
    maxAttempts: params.integration.retryDelays.length + 1,
    jobId,
  });
  await sendRunJob(boss, tx, { runId, jobId, integration: params.integration.name });
  return runId;
}

const ZRunNow = z.object({
  integration: z.string().trim().min(1, 'is required'),
  dryRun: z.boolean().optional(),
  triggeredBy: ZActor,
  trigger: z.enum(['manual', 'api', 'schedule']).optional(),
  reason: z.string().max(500).optional(),
});

/** Starts a run now (or a dry-run). Scheduled runs are not written to the audit trail (they are not an operator's action). */
export async function runNow(
  db: Database,
  boss: PgBoss,
  params: { integration: string; dryRun?: boolean; triggeredBy: string; trigger?: 'manual' | 'api' | 'schedule'; reason?: string },
): Promise<{ runId: string }> {
  const p = parse(ZRunNow, params);
  const trigger = p.trigger ?? 'manual';
  return db.transaction(async (tx) => {
    const integration = await loadIntegration(tx, p.integration);
    const runId = await insertRun(tx, boss, {
      integration,
      trigger,
      triggeredBy: p.triggeredBy,
      dryRun: p.dryRun ?? false,
      reason: p.reason,
    });
    if (trigger !== 'schedule') {
      await recordAction(tx, {
        actor: p.triggeredBy,
        integration: integration.name,
        action: p.dryRun ? 'dry_run' : 'run_now',
        details: { runId, trigger, ...(p.reason ? { reason: p.reason } : {}) },
      });
    }
    return { runId };
  });
}

/** A schedule tick: starts a run unless the integration is paused, orphaned or gone (then null). */
export async function startScheduledRun(db: Database, boss: PgBoss, params: { integration: string }): Promise<{ runId: string } | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(integrations).where(eq(integrations.name, params.integration));
    if (!row || !row.registered || row.paused || !row.schedule) return null;
    const runId = await insertRun(tx, boss, { integration: row, trigger: 'schedule', triggeredBy: 'schedule', dryRun: false });
    return { runId };
  });
}

async function retryableRun(tx: DatabaseOrTransaction, runId: string) {
  const [run] = await tx.select().from(runs).where(eq(runs.id, runId));
  if (!run) throw new TriggerError('not_found', `Run ${runId} does not exist`);
  if (!RETRYABLE.includes(run.status)) {
    throw new TriggerError('invalid_state', `Run ${runId} is ${run.status}: only failed or cancelled runs can be retried`);
  }
  return run;
}

/** A new run linked to a failed (or cancelled) one, with the same input and dry-run flag. */
export async function retryRun(
  db: Database,
  boss: PgBoss,
  params: { runId: string; triggeredBy: string; reason?: string },
): Promise<{ runId: string }> {
  const p = parse(z.object({ runId: ZRunId, triggeredBy: ZActor, reason: z.string().max(500).optional() }), params);
  return db.transaction(async (tx) => {
    const original = await retryableRun(tx, p.runId);
    const integration = await loadIntegration(tx, original.integration);
    const runId = await insertRun(tx, boss, {
      integration,
      trigger: 'retry',
      triggeredBy: p.triggeredBy,
      dryRun: original.dryRun,
      retryOf: original.id,
      reason: p.reason,
      input: original.input,
    });
    await recordAction(tx, {
      actor: p.triggeredBy,
      integration: integration.name,
      action: 'retry',
      details: { runId, retryOf: original.id, ...(p.reason ? { reason: p.reason } : {}) },
    });
    return { runId };
  });
}

/**
 * Bulk retry: the given runs (all must be failed or cancelled, all or nothing), or every failed run
 * matching the filter that has not been retried yet (at most 500, oldest first).
 */
export async function retryRuns(
  db: Database,
  boss: PgBoss,
  params: { runIds?: string[]; filter?: { integration?: string; status?: 'failed' }; triggeredBy: string },
): Promise<{ runIds: string[] }> {
  const p = parse(
    z
      .object({
        runIds: z.array(ZRunId).max(BULK_LIMIT, `may list at most ${BULK_LIMIT} runs`).optional(),
        filter: z.object({ integration: z.string().min(1).optional(), status: z.literal('failed').optional() }).optional(),
        triggeredBy: ZActor,
      })
      .refine((v) => v.runIds !== undefined || v.filter !== undefined, { message: 'give runIds or a filter' }),
    params,
  );
  return db.transaction(async (tx) => {
    let originals;
    if (p.runIds) {
      const ids = [...new Set(p.runIds)];
      if (ids.length === 0) return { runIds: [] };
      originals = await tx.select().from(runs).where(inArray(runs.id, ids)).orderBy(runs.createdAt);
      const found = new Set(originals.map((r) => r.id));
      const missing = ids.filter((id) => !found.has(id));
      if (missing.length) throw new TriggerError('not_found', `Runs do not exist: ${missing.join(', ')}`);
      const wrong = originals.filter((r) => !RETRYABLE.includes(r.status));
      if (wrong.length) {
        throw new TriggerError(
          'invalid_state',
          `Only failed or cancelled runs can be retried: ${wrong.map((r) => `${r.id} is ${r.status}`).join(', ')}`,
        );
      }
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
        .limit(BULK_LIMIT);
    }
    const created: string[] = [];
    const byIntegration = new Map<string, { runId: string; retryOf: string }[]>();
    const cache = new Map<string, Integration>();
    for (const original of originals) {
      let integration = cache.get(original.integration);
      if (!integration) {
        integration = await loadIntegration(tx, original.integration);
        cache.set(integration.name, integration);
      }
      const runId = await insertRun(tx, boss, {
        integration,
        trigger: 'retry',
        triggeredBy: p.triggeredBy,
        dryRun: original.dryRun,
        retryOf: original.id,
        input: original.input,
      });
      created.push(runId);
      const list = byIntegration.get(integration.name) ?? [];
      list.push({ runId, retryOf: original.id });
      byIntegration.set(integration.name, list);
    }
    for (const [integration, retried] of byIntegration) {
      await recordAction(tx, { actor: p.triggeredBy, integration, action: 'bulk_retry', details: { runs: retried } });
    }
    return { runIds: created };
  });
}

/**
 * Cancels a run. Waiting (queued, retrying, deferred): its job is cancelled and the run ends now.
 * Running: the run is marked cancelled and the worker executing it aborts ctx.signal (it polls
 * for cancellations), then records the attempt as cancelled.
 */
export async function cancelRun(db: Database, boss: PgBoss, params: { runId: string; by: string }): Promise<void> {
  const p = parse(z.object({ runId: ZRunId, by: ZActor }), params);
  await db.transaction(async (tx) => {
    const [run] = await tx.select().from(runs).where(eq(runs.id, p.runId)).for('update');
    if (!run) throw new TriggerError('not_found', `Run ${p.runId} does not exist`);
    if (TERMINAL.includes(run.status)) {
      throw new TriggerError('invalid_state', `Run ${p.runId} is already ${run.status}: only queued, waiting or running runs can be cancelled`);
    }
    const waiting = WAITING.includes(run.status);
    await tx
      .update(runs)
      .set({
        status: 'cancelled',
        nextAttemptAt: null,
        errorMessage: `cancelled by ${p.by}`,
        errorClass: 'Cancelled',
        ...(waiting ? { finishedAt: sql`now()` } : {}),
      })
      .where(eq(runs.id, run.id));
    if (waiting && run.jobId) await boss.cancel(RUNS_QUEUE, run.jobId, { db: bossDb(tx) });
    await recordAction(tx, {
      actor: p.by,
      integration: run.integration,
      action: 'cancel',
      details: { runId: run.id, previousStatus: run.status },
    });
  });
}

/** Pauses an integration: no scheduled runs (its pg-boss schedule is removed); manual runs still work. */
export async function pauseIntegration(db: Database, boss: PgBoss, params: { integration: string; by: string }): Promise<void> {
  const p = parse(z.object({ integration: z.string().min(1), by: ZActor }), params);
  const changed = await db.transaction(async (tx) => {
    const row = await loadIntegration(tx, p.integration);
    if (row.paused) return false;
    await tx.update(integrations).set({ paused: true, pausedAt: sql`now()` }).where(eq(integrations.name, row.name));
    await recordAction(tx, { actor: p.by, integration: row.name, action: 'pause' });
    return true;
  });
  if (changed) await applySchedule(db, boss, { integration: p.integration });
}

/**
 * Resumes a paused integration and re-applies its schedule. With resume policy 'run_once', one run
 * starts for the schedule ticks missed while paused.
 */
export async function resumeIntegration(db: Database, boss: PgBoss, params: { integration: string; by: string }): Promise<void> {
  const p = parse(z.object({ integration: z.string().min(1), by: ZActor }), params);
  const changed = await db.transaction(async (tx) => {
    const row = await loadIntegration(tx, p.integration);
    if (!row.paused) return false;
    await tx.update(integrations).set({ paused: false, pausedAt: null }).where(eq(integrations.name, row.name));
    const missed = row.resumePolicy === 'run_once' && missedTick(row);
    let runId: string | undefined;
    if (missed) {
      runId = await insertRun(tx, boss, { integration: { ...row, paused: false }, trigger: 'schedule', triggeredBy: p.by, dryRun: false, reason: 'missed while paused' });
    }
    await recordAction(tx, { actor: p.by, integration: row.name, action: 'resume', details: runId ? { runId } : undefined });
    return true;
  });
  if (changed) await applySchedule(db, boss, { integration: p.integration });
}

/** True when the integration's schedule had a tick between its pause and now. */
function missedTick(row: Integration): boolean {
  if (!row.schedule || !row.pausedAt) return false;
  try {
    const previous = CronExpressionParser.parse(row.schedule, { tz: row.timezone }).prev().toDate();
    return previous.getTime() >= row.pausedAt.getTime();
  } catch {
    return false;
  }
}
