import { and, eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { Database, Transaction } from '../../../db/client';
import { webhookEvents } from '../../../db/schema';
import { AppError } from '../errors';
import { emitPlatformEvent } from '../execution/events';
import { txEventSender } from '../execution/queue';
import { recordAction } from '../governance/audit';
import { eventRunWaits, failedOrReplayingFailed } from './waiting';

/**
 * Dismissing a failed event: the operator's answer to an event that can never be applied (it
 * refers to something deleted upstream, say), which Replay cannot fix and which would otherwise
 * keep the integration's events_failed incident open for ever. The event becomes 'dismissed' with
 * who, when and why (shown on the Events tab), no replay ever picks it up again (replayEvents skips
 * it), and in the same transaction the action is audited and, when no failed event of the
 * integration is left, events.cleared is announced so alerting closes the incident with a recovery
 * message that says it was dismissed.
 */

export const ZDismissReason = z
  .string()
  .trim()
  .min(1, 'is required: say why this event will never be applied')
  .max(500, 'must be at most 500 characters');

/**
 * Serialises, per integration, what decides whether failed events are left: marking events failed
 * (intake/process.ts) and dismissing one. Without it a dismissal could count "none left" while a
 * run's transaction marking another event failed has not committed, and announce a recovery older
 * than that failure (which alerting would then ignore as superseded).
 */
export async function lockFailedEvents(tx: Transaction, integration: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`junction-events-failed:${integration}`}, 0))`);
}

export async function dismissFailedEvent(
  db: Database,
  boss: PgBoss,
  params: { integration: string; eventId: string; reason: string; actor: string; correlationId?: string },
): Promise<{ eventId: string; failedLeft: number }> {
  const reason = ZDismissReason.safeParse(params.reason);
  if (!reason.success)
    throw new AppError('invalid_input', `Reason ${reason.error.issues[0].message}`, {
      fieldErrors: { reason: reason.error.issues[0].message },
    });
  return db.transaction(async (tx) => {
    await lockFailedEvents(tx, params.integration);
    const [event] = await tx
      .select()
      .from(webhookEvents)
      .where(and(eq(webhookEvents.integration, params.integration), eq(webhookEvents.eventId, params.eventId)))
      .for('update');
    if (!event) throw new AppError('not_found', `No event ${params.eventId} was received by ${params.integration}`);
    if (event.status !== 'failed') {
      let why = `it is ${event.status}`;
      if (event.status === 'dismissed') why = `it was already dismissed by ${event.dismissedBy ?? 'someone'}`;
      else if (event.status === 'pending') {
        const [waits] = await tx.execute<{ waits: boolean }>(sql`select ${eventRunWaits(params.integration)} as waits`);
        why = waits?.waits
          ? 'it is pending (a run is queued to apply it)'
          : 'it is pending and no run is queued to apply it (its event run was cancelled): Replay it to apply it';
      }
      throw new AppError('invalid_state', `Event ${params.eventId} cannot be dismissed: ${why}. Only a failed event can be dismissed.`);
    }
    await tx
      .update(webhookEvents)
      .set({ status: 'dismissed', dismissedAt: sql`now()`, dismissedBy: params.actor, dismissReason: reason.data })
      .where(eq(webhookEvents.id, event.id));
    await recordAction(tx, {
      actor: params.actor,
      integration: params.integration,
      action: 'events.dismiss',
      correlationId: params.correlationId,
      details: { eventId: event.eventId, eventType: event.eventType, reason: reason.data, failedWith: event.outcome },
    });
    const [left] = await tx.execute<{ n: number; replaying: number }>(
      sql`select count(*) filter (where status = 'failed')::int as n,
                 count(*) filter (where status = 'pending' and replayed_from = 'failed')::int as replaying
            from webhook_events where integration = ${params.integration} and ${failedOrReplayingFailed}`,
    );
    // Failed events being replayed still have the incident's cause ahead of them.
    if (left.n === 0 && left.replaying === 0)
      await emitPlatformEvent(txEventSender(boss, tx), {
        type: 'events.cleared',
        at: new Date().toISOString(),
        integration: params.integration,
        correlationId: params.correlationId,
        dismissed: { eventId: event.eventId, by: params.actor, reason: reason.data },
      });
    return { eventId: event.eventId, failedLeft: left.n };
  });
}
