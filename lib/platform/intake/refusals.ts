import { sql } from 'drizzle-orm';
import type { Transaction } from '../../../db/client';
import { webhookEvents } from '../../../db/schema';
import { FAILED_EVENT_IDS, type PlatformEvent } from '../execution/events';

type EventsFailed = Extract<PlatformEvent, { type: 'events.failed' }>;

/**
 * The refusals a coalesced events.failed job stands for (`collect`, see announceRefusal): every
 * event of the integration refused and not yet announced, claimed (refusal_unannounced_at cleared)
 * in alerting's transaction, so they are counted once, and together with the incident they open or
 * count. The event it returns names the first of them (its reason while it is still failed or
 * dismissed), their count, the first few ids, and the time of the latest refusal: a refusal after
 * a recovery keeps the incident open. Null when there is none left (a job queued while the one
 * before it was being handled, which counted its refusal already).
 */
export async function collectRefusals(tx: Transaction, event: EventsFailed): Promise<EventsFailed | null> {
  const [row] = await tx.execute<{
    count: number;
    last_ms: number | null;
    first: { eventId: string; eventType: string; outcome: string | null; status: string; runId: string | null }[] | null;
  }>(sql`
    with pending as (
      select id, event_id, event_type, outcome, status, run_id, refusal_unannounced_at as refused_at
        from ${webhookEvents}
       where integration = ${event.integration} and refusal_unannounced_at is not null
         for update),
    claimed as (
      update ${webhookEvents} w set refusal_unannounced_at = null from pending p where w.id = p.id
      returning p.id, p.event_id, p.event_type, p.outcome, p.status, p.run_id, p.refused_at)
    select count(*)::int as count,
           (extract(epoch from max(refused_at)) * 1000)::float8 as last_ms,
           (select json_agg(json_build_object('eventId', f.event_id, 'eventType', f.event_type, 'outcome', f.outcome,
                                              'status', f.status, 'runId', f.run_id) order by f.id)
              from (select id, event_id, event_type, outcome, status, run_id from claimed order by id limit ${FAILED_EVENT_IDS}) f) as first
      from claimed`);
  const first = row?.first ?? [];
  if (!row || row.count === 0 || first.length === 0) return null;
  const [head] = first;
  const stillRefused = head.status === 'failed' || head.status === 'dismissed';
  return {
    type: 'events.failed',
    at: row.last_ms === null ? event.at : new Date(row.last_ms).toISOString(),
    integration: event.integration,
    runId: head.runId ?? event.runId,
    eventId: head.eventId,
    eventType: head.eventType,
    reason: stillRefused && head.outcome ? head.outcome : event.reason,
    count: row.count,
    eventIds: first.map((f) => f.eventId),
    correlationId: event.correlationId,
  };
}
