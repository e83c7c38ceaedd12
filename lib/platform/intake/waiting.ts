import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Transaction } from '../../../db/client';
import { webhookEvents } from '../../../db/schema';
import { emitPlatformEvent } from '../execution/events';
import { txEventSender } from '../execution/queue';
import { ACTIVE_RUN_STATUSES } from '../run-status';
import { lockFailedEvents } from './dismiss';

/**
 * Whether a run will apply an integration's pending events. Any active (not finished) run that is
 * not a dry-run and applies events does: an event run, or any run of an integration with no
 * `execute` (`anyTrigger`: the runner applies its events whatever the trigger). A pending event
 * with no such run waits for nothing: its run was cancelled (the operator's choice, kept) or failed.
 * A failed event run marks such events failed (markEventsOfFailedRun); after a cancel they stay
 * pending, are counted as waiting with no run (eventCounts) and Replay applies them.
 */
export function eventRunWaits(integration: string, opts: { anyTrigger?: boolean; except?: string } = {}): SQL {
  const statuses = sql.join(
    ACTIVE_RUN_STATUSES.map((s) => sql`${s}`),
    sql`, `,
  );
  return sql`exists (select 1 from runs r
     where r.integration = ${integration} and r.status in (${statuses}) and not r.dry_run
       and (r.trigger = 'event' or ${opts.anyTrigger ?? false}::boolean)
       ${opts.except ? sql`and r.id <> ${opts.except}` : sql``})`;
}

/**
 * In the transaction that fails an event run for good: the integration's pending events that no
 * other run will apply are marked 'failed' with the run's reason and announced (events.failed),
 * so the events_failed incident, Replay and Dismiss apply to them as to an event its handler
 * refused. No run is queued for them: a poison event would fail it again, for ever. Serialised
 * with the intake creating an event run (the same lock as ensureEventRun), so an event stored
 * with a new run meanwhile is left to that run.
 */
export async function markEventsOfFailedRun(
  tx: Transaction,
  boss: PgBoss,
  p: { integration: string; runId: string; correlationId: string; attempts: number; error: string; anyTrigger?: boolean },
): Promise<number> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`junction-event-run:${p.integration}`}, 0))`);
  const [other] = await tx.execute<{ waits: boolean }>(
    sql`select ${eventRunWaits(p.integration, { anyTrigger: p.anyTrigger, except: p.runId })} as waits`,
  );
  if (other?.waits) return 0;
  await lockFailedEvents(tx, p.integration);
  const reason =
    `not applied: its event run failed after ${p.attempts} attempt${p.attempts === 1 ? '' : 's'}: ${p.error}. Replay it once the cause is fixed`.slice(
      0,
      2000,
    );
  const marked = await tx
    .update(webhookEvents)
    .set({ status: 'failed', outcome: reason, runId: p.runId, processedAt: sql`now()` })
    .where(and(eq(webhookEvents.integration, p.integration), eq(webhookEvents.status, 'pending')))
    .returning({ eventId: webhookEvents.eventId, eventType: webhookEvents.eventType });
  // As for a refused event: the first failure alerts, the others are counted on its incident.
  for (const e of marked)
    await emitPlatformEvent(txEventSender(boss, tx), {
      type: 'events.failed',
      at: new Date().toISOString(),
      integration: p.integration,
      runId: p.runId,
      eventId: e.eventId,
      eventType: e.eventType,
      reason,
      correlationId: p.correlationId,
    });
  return marked.length;
}
