import { sql, type SQL } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { DatabaseOrTransaction, Transaction } from '../../../db/client';
import { webhookEvents, type Run } from '../../../db/schema';
import { emitPlatformEvent, FAILED_EVENT_IDS } from '../execution/events';
import { txEventSender } from '../execution/queue';
import { ACTIVE_RUN_STATUSES } from '../run-status';
import { lockFailedEvents } from './dismiss';

/**
 * Whether the run `retryOf` names (a retry's original) is an event run, or a retry whose chain
 * starts at one: the first run of the chain that is not itself a retry decides. A retry of an
 * event run is an event run (it applies events), also for an integration that has an `execute`.
 * Bounded walk (a run is retried once, so a chain is a list).
 */
function retriesEventRun(retryOf: SQL): SQL {
  return sql`coalesce((with recursive chain(trigger, retry_of, depth) as (
       select o.trigger, o.retry_of, 1 from runs o where o.id = ${retryOf}
       union all
       select p.trigger, p.retry_of, c.depth + 1 from chain c join runs p on p.id = c.retry_of
        where c.trigger = 'retry' and c.depth < 1000)
     select trigger = 'event' from chain where trigger <> 'retry' limit 1), false)`;
}

/** Whether a run (trigger 'retry') retries an event run: see retriesEventRun. */
export async function isRetryOfEventRun(tx: DatabaseOrTransaction, run: Pick<Run, 'trigger' | 'retryOf'>): Promise<boolean> {
  if (run.trigger !== 'retry' || !run.retryOf) return false;
  const [row] = await tx.execute<{ event: boolean }>(sql`select ${retriesEventRun(sql`${run.retryOf}::uuid`)} as event`);
  return Boolean(row?.event);
}

/**
 * Whether a run will apply an integration's pending events. Any active (not finished) run that is
 * not a dry-run and applies events does: an event run or a retry of one, or any run of an
 * integration with no `execute` (`anyTrigger`: the runner applies its events whatever the
 * trigger). A pending event with no such run waits for nothing: its run was cancelled (the
 * operator's choice, kept) or failed.
 * A failed event run marks such events failed (markEventsOfFailedRun); after a cancel they stay
 * pending, are counted as waiting with no run (eventCounts) and Replay applies them.
 */
export function eventRunWaits(integration: string, opts: { anyTrigger?: boolean; except?: string } = {}): SQL {
  return sql`exists (select 1 from runs r where ${waitingRunWhere(integration, opts)})`;
}

/** The runs eventRunWaits looks for, as `r`. */
function waitingRunWhere(integration: string, opts: { anyTrigger?: boolean; except?: string }): SQL {
  const statuses = sql.join(
    ACTIVE_RUN_STATUSES.map((s) => sql`${s}`),
    sql`, `,
  );
  return sql`r.integration = ${integration} and r.status in (${statuses}) and not r.dry_run
       and (r.trigger = 'event' or ${opts.anyTrigger ?? false}::boolean
            or (r.trigger = 'retry' and ${retriesEventRun(sql`r.retry_of`)}))
       ${opts.except ? sql`and r.id <> ${opts.except}` : sql``}`;
}

/**
 * Whether the run `runId` (of `integration`) is an event run or a retry of one: alerting folds the
 * events_failed of a later event run into such a run's run_failed incident (alerts/incidents.ts).
 */
export function isEventRunSql(runId: SQL, integration: string): SQL {
  return sql`exists (select 1 from runs e where e.id = ${runId} and e.integration = ${integration}
     and (e.trigger = 'event' or (e.trigger = 'retry' and ${retriesEventRun(sql`e.retry_of`)})))`;
}

/** What markEventsOfFailedRun did: events it marked failed, or the run it left them to. */
export type FailedRunEvents = { marked: number; leftTo: { runId: string; count: number } | null };

/**
 * In the transaction that fails an event run for good: the integration's pending events that no
 * other run will apply are marked 'failed' with the run's reason and announced in ONE events.failed
 * (their count, the first few ids, the run's failure), however many there are: the events_failed
 * incident, Replay and Dismiss apply to them as to an event its handler refused, and that incident
 * is the run's only one (the runner emits no run.failed when this marked any). No run is queued
 * for them: a poison event would fail it again, for ever. Serialised with the intake creating an
 * event run (the same lock as ensureEventRun), so an event stored with a new run meanwhile is left
 * to that run. Returns how many it marked; or, when another run will apply them, that run and how
 * many events are pending (the failed run's run.failed says so: if that run fails too, alerting
 * counts its events_failed on this run's incident).
 */
export async function markEventsOfFailedRun(
  tx: Transaction,
  boss: PgBoss,
  p: {
    integration: string;
    runId: string;
    correlationId: string;
    attempts: number;
    error: string;
    errorClass: string;
    startedAt: string;
    anyTrigger?: boolean;
  },
): Promise<FailedRunEvents> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`junction-event-run:${p.integration}`}, 0))`);
  // The oldest such run takes the integration's turn first: it applies them.
  const [other] = await tx.execute<{ id: string; pending: number }>(
    sql`select r.id, (select count(*)::int from ${webhookEvents} w where w.integration = ${p.integration} and w.status = 'pending') as pending
          from runs r where ${waitingRunWhere(p.integration, { anyTrigger: p.anyTrigger, except: p.runId })}
         order by r.created_at limit 1`,
  );
  if (other) return { marked: 0, leftTo: { runId: other.id, count: other.pending } };
  await lockFailedEvents(tx, p.integration);
  const reason =
    `not applied: its event run failed after ${p.attempts} attempt${p.attempts === 1 ? '' : 's'}: ${p.error}. Replay it once the cause is fixed`.slice(
      0,
      2000,
    );
  // One statement, and only the first few rows come back: a backlog of any size is one round trip.
  const [marked] = await tx.execute<{ count: number; first: { eventId: string; eventType: string }[] | null }>(sql`
    with marked as (
      update ${webhookEvents} set status = 'failed', outcome = ${reason}, run_id = ${p.runId}, processed_at = now()
       where integration = ${p.integration} and status = 'pending'
      returning id, event_id, event_type)
    select count(*)::int as count,
           (select json_agg(json_build_object('eventId', f.event_id, 'eventType', f.event_type) order by f.id)
              from (select id, event_id, event_type from marked order by id limit ${FAILED_EVENT_IDS}) f) as first
      from marked`);
  const first = marked?.first ?? [];
  if (!marked || marked.count === 0 || first.length === 0) return { marked: 0, leftTo: null };
  await emitPlatformEvent(txEventSender(boss, tx), {
    type: 'events.failed',
    at: new Date().toISOString(),
    integration: p.integration,
    runId: p.runId,
    eventId: first[0].eventId,
    eventType: first[0].eventType,
    reason,
    count: marked.count,
    eventIds: first.map((e) => e.eventId),
    runFailure: { attempts: p.attempts, error: p.error.slice(0, 2000), errorClass: p.errorClass, startedAt: p.startedAt },
    correlationId: p.correlationId,
  });
  return { marked: marked.count, leftTo: null };
}

/** Failed events, and events replayed from failed whose replay run has not applied them yet. */
export const failedOrReplayingFailed = sql`(${webhookEvents.status} = 'failed' or (${webhookEvents.status} = 'pending' and ${webhookEvents.replayedFrom} = 'failed'))`;
