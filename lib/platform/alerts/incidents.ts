import { and, eq, getTableColumns, gt, gte, isNull, lte, or, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Database, DatabaseOrTransaction, Transaction } from '../../../db/client';
import { incidentRecoveries, incidents, type Incident } from '../../../db/schema';
import { emitPlatformEvent, type PlatformEvent } from '../execution/events';
import { txEventSender } from '../execution/queue';
import { collectRefusals } from '../intake/refusals';
import { isEventRunSql } from '../intake/waiting';
import { raiseAlert } from './delivery';
import {
  alreadyRecoveredMessage,
  auditChainBrokenMessage,
  auditFindingsAddedMessage,
  breakerOpenedMessage,
  credentialsFailingMessage,
  eventsFailedMessage,
  failedEventsText,
  failureCause,
  MAX_ALERTED_CAUSES,
  recoveredMessage,
  runFailedMessage,
  runFailingDifferentlyMessage,
  shortError,
  type AlertMessage,
  type IncidentKind,
} from './messages';

/**
 * Platform events become incidents: one open incident per (integration, kind), and ONE alert when
 * it opens. More failures while it is open only count (event_count, last_event_at, last_error);
 * except that an audit incident's verification naming findings it has not named before (a second
 * direct write, more rows changed: newProblems), and a run_failed incident's run failing for good of
 * a permanent cause it has not alerted (failureCause: a 403 after an outage's 503s), send one
 * update alert of it ('updated').
 * The matching recovery closes it and sends one recovery message.
 *
 * Recovery hold (flap damping): with `recoveryHoldSeconds` > 0 a recovery does not close the
 * incident at once. It is sent back to the events queue to arrive after the hold, and then closes
 * the incident (closed_at = the recovery's time, one recovery message) only if no failure was
 * counted after it. A system that keeps failing and recovering — a breaker that re-opens right
 * after its trial succeeded, a run that fails again after one success — stays ONE incident with
 * one alert, instead of an opened/recovered pair per cycle.
 *
 * Race-safe across worker processes: the unique partial index incidents_one_open_idx admits one
 * open incident per (integration, kind), and opening is `insert ... on conflict do update`, so two
 * workers handling failures of the same integration at once open one incident and alert once.
 * The events of one (integration, kind) are applied one transaction at a time (an advisory lock),
 * so a failure and its recovery handled at once by two workers see each other.
 * Events can arrive late (a retried event job, a batch another worker fetched, a worker that was
 * down): every recovery handled is remembered per (integration, kind) (incident_recoveries), and a
 * failure older than the latest one never opens an incident, however late it is handled (a breaker
 * announces its closing once, so an incident opened by it would stay open for good and the next
 * outage would only be counted on it, without an alert). Unless an incident of its kind already
 * spans it (a duplicate or retried event: ignored, or counted while that incident is open), such a
 * failure is an outage nobody was told of: it is recorded as an incident opened at its time and
 * closed at once at that recovery's, with ONE alert saying both. A recovery older than the open
 * incident does not close it.
 *
 * Two event runs failing one after the other are one outage, one incident: the first left its
 * events to the second (queued meanwhile) and alerted run_failed; the second's events.failed is
 * counted on that incident, which becomes the events_failed one (foldIntoEventRunIncident). The
 * platform events queue keeps no order, so the events.failed may be handled first: the run.failed
 * is then counted on the events_failed incident it opened (countOnEventsIncident), with no second
 * alert; both take both kinds' locks, so two workers handling them at once end the same way.
 * Runs and events are counted apart on such an incident (failed_runs, failed_events).
 */

export type IncidentChange =
  | { change: 'opened'; incidentId: string; integration: string; kind: IncidentKind; alertId: string }
  | { change: 'held'; incidentId: string; integration: string; kind: IncidentKind; closesAfter: string }
  | { change: 'counted'; incidentId: string; integration: string; kind: IncidentKind }
  /** Counted on the open audit incident, with findings its alerts did not name: one update alert. */
  | { change: 'updated'; incidentId: string; integration: string; kind: IncidentKind; alertId: string }
  /**
   * A failure of kind `from` counted on the open incident of kind `kind`: a run_failed incident that
   * becomes events_failed (foldIntoEventRunIncident), or an events_failed one (countOnEventsIncident).
   */
  | { change: 'folded'; incidentId: string; integration: string; kind: IncidentKind; from: IncidentKind }
  /** A failure handled after its recovery: its incident is recorded closed, with one alert. */
  | { change: 'reported_late'; incidentId: string; integration: string; kind: IncidentKind; alertId: string }
  | { change: 'closed'; incidentId: string; integration: string; kind: IncidentKind; alertId: string }
  | { change: 'none'; integration: string; kind: IncidentKind };

interface Opening {
  integration: string;
  kind: IncidentKind;
  at: Date;
  error: string | null;
  runId: string | null;
  /** Failures this event counts (events.failed carries how many events it marked). */
  count: number;
  /** run_failed and events_failed: runs failed for good and events marked failed (else null). */
  failedRuns: number | null;
  failedEvents: number | null;
  /** A run.failed of a run that applies the integration's events (the runner says so). */
  eventRun: boolean;
  /** run.failed: its cause (failureCause), recorded as alerted when it opens the incident. */
  cause?: string;
}

const OPENING_KIND: Record<string, IncidentKind> = {
  'run.failed': 'run_failed',
  'breaker.opened': 'breaker_open',
  'credentials.failing': 'credentials',
  'events.failed': 'events_failed',
  'audit.chain_broken': 'audit_chain',
};

const CLOSING_KIND: Record<string, IncidentKind> = {
  'run.succeeded': 'run_failed',
  'breaker.closed': 'breaker_open',
  'credentials.recovered': 'credentials',
  'events.cleared': 'events_failed',
  'audit.chain_verified': 'audit_chain',
};

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

function integrationsOf(event: PlatformEvent): string[] {
  return 'integrations' in event ? [...new Set(event.integrations)] : [event.integration];
}

type Applied =
  { change: 'opened' | 'counted'; incident: Incident } | { change: 'reported_late'; incident: Incident; recoveredAt: Date } | null;

/**
 * Opens the incident or counts one more event on the open one. A failure older than the latest
 * recovery is recorded closed at that recovery ('reported_late') unless an incident already spans
 * it: null when that one is closed.
 */
async function openOrCount(tx: DatabaseOrTransaction, o: Opening): Promise<Applied> {
  // A recovery after the failure ended it, whether or not it closed anything, however long ago.
  const [superseded] = await tx
    .select({ at: incidentRecoveries.recoveredAt })
    .from(incidentRecoveries)
    .where(
      and(eq(incidentRecoveries.integration, o.integration), eq(incidentRecoveries.kind, o.kind), gt(incidentRecoveries.recoveredAt, o.at)),
    );
  if (superseded) {
    // Spanned by an incident: already alerted. Counted on it while it is open (its recovery held).
    const [spanning] = await tx
      .select({ closedAt: incidents.closedAt })
      .from(incidents)
      .where(
        and(
          eq(incidents.integration, o.integration),
          eq(incidents.kind, o.kind),
          lte(incidents.openedAt, o.at),
          or(isNull(incidents.closedAt), gte(incidents.closedAt, o.at)),
        ),
      )
      .limit(1);
    if (spanning?.closedAt) return null;
    if (!spanning) {
      const [incident] = await tx
        .insert(incidents)
        .values({
          integration: o.integration,
          kind: o.kind,
          openedAt: o.at,
          closedAt: superseded.at,
          lastEventAt: o.at,
          lastError: o.error,
          runId: o.runId,
          eventCount: o.count,
          failedRuns: o.failedRuns,
          failedEvents: o.failedEvents,
          eventRun: o.eventRun,
        })
        .returning();
      return { change: 'reported_late', incident, recoveredAt: superseded.at };
    }
  }
  const [row] = await tx
    .insert(incidents)
    .values({
      integration: o.integration,
      kind: o.kind,
      openedAt: o.at,
      lastEventAt: o.at,
      lastError: o.error,
      runId: o.runId,
      eventCount: o.count,
      failedRuns: o.failedRuns,
      failedEvents: o.failedEvents,
      eventRun: o.eventRun,
      alertedCauses: o.cause ? [o.cause] : [],
    })
    .onConflictDoUpdate({
      target: [incidents.integration, incidents.kind],
      targetWhere: sql`closed_at is null`,
      set: {
        // From its oldest failure: that failure's retry, handled after the recovery, is covered by it.
        openedAt: sql`least(${incidents.openedAt}, excluded.opened_at)`,
        eventCount: sql`${incidents.eventCount} + excluded.event_count`,
        failedRuns: sql`${incidents.failedRuns} + excluded.failed_runs`,
        failedEvents: sql`${incidents.failedEvents} + excluded.failed_events`,
        lastEventAt: sql`greatest(${incidents.lastEventAt}, excluded.last_event_at)`,
        lastError: sql`case when excluded.last_event_at >= ${incidents.lastEventAt} then coalesce(excluded.last_error, ${incidents.lastError}) else ${incidents.lastError} end`,
      },
    })
    .returning({ ...getTableColumns(incidents), inserted: sql<boolean>`(xmax = 0)` });
  const { inserted, ...incident } = row;
  return { change: inserted ? 'opened' : 'counted', incident };
}

/**
 * The events.failed of an event run that failed for good (runFailure), when the integration has an
 * open run_failed incident opened (no later than it) by an event run or a retry of one: that run
 * left its events to this one, or failed just before it, and alerted (its error, the events it
 * left). This failure is counted on that incident, which becomes the events_failed incident: no
 * second alert, and the replay (or the last dismissal) closes it with one recovery; a run's success
 * no longer closes it, the events still wait. Not when an events_failed incident is open (counted
 * there, as before) or a recovery of failed events came after this failure (openOrCount decides),
 * and never a run_failed incident opened by a run that applies no events (a schedule, a Run now of
 * an integration with an execute) or of another integration. An integration with no execute
 * applies its events in every run, a Run now too: such a run's incident is marked event_run (the
 * runner's appliesEvents). Both kinds' keys are locked by the caller.
 */
async function foldIntoEventRunIncident(tx: DatabaseOrTransaction, o: Opening): Promise<Incident | null> {
  const at = sql`${o.at.toISOString()}::timestamptz`;
  const [row] = await tx
    .update(incidents)
    .set({ kind: 'events_failed', ...counting(o) })
    .where(
      and(
        eq(incidents.integration, o.integration),
        eq(incidents.kind, 'run_failed'),
        isNull(incidents.closedAt),
        lte(incidents.openedAt, o.at),
        or(eq(incidents.eventRun, true), isEventRunSql(sql`${incidents.runId}`, o.integration)),
        sql`not exists (select 1 from incidents f where f.integration = ${o.integration} and f.kind = 'events_failed' and f.closed_at is null)`,
        sql`not exists (select 1 from incident_recoveries v where v.integration = ${o.integration} and v.kind = 'events_failed' and v.recovered_at > ${at})`,
      ),
    )
    .returning();
  return row ?? null;
}

/** Counts one more failure `o` on an incident (the set of an update). */
function counting(o: Opening) {
  const at = sql`${o.at.toISOString()}::timestamptz`;
  return {
    eventCount: sql`${incidents.eventCount} + ${o.count}`,
    // Null (an events_failed incident from before they were counted apart) stays null.
    failedRuns: sql`${incidents.failedRuns} + ${o.failedRuns ?? 0}`,
    failedEvents: sql`${incidents.failedEvents} + ${o.failedEvents ?? 0}`,
    openedAt: sql`least(${incidents.openedAt}, ${at})`,
    lastEventAt: sql`greatest(${incidents.lastEventAt}, ${at})`,
    lastError: sql`case when ${at} >= ${incidents.lastEventAt} then coalesce(${o.error}, ${incidents.lastError}) else ${incidents.lastError} end`,
  };
}

/**
 * The run.failed of a run that applies the integration's events (o.eventRun, or an event run or a
 * retry of one), when the events_failed incident of an event-run outage (a run failure counted on
 * it, not only refused events) already covers it: the mirror of foldIntoEventRunIncident, for
 * the order the events queue does not promise (the later run's events.failed handled first), and
 * for a failed Run now of an integration with no execute while its events incident is open.
 * That incident is open, or closed no earlier than this failure; it was opened no later than this
 * failure, or after it with no run recovery in between (a success between them ended this
 * outage). Open: the failure is counted on it ('counted'), no alert. Closed: it was alerted and
 * recovered ('covered'), nothing more. Not while a run_failed incident is open (counted there, as
 * in the other order). Both kinds' keys are locked by the caller.
 */
async function countOnEventsIncident(
  tx: DatabaseOrTransaction,
  o: Opening,
): Promise<{ change: 'counted' | 'covered'; incident: Incident } | null> {
  const at = sql`${o.at.toISOString()}::timestamptz`;
  if (!o.eventRun) {
    if (!o.runId) return null;
    const [row] = await tx.execute<{ event: boolean }>(sql`select ${isEventRunSql(sql`${o.runId}::uuid`, o.integration)} as event`);
    if (!row?.event) return null;
  }
  const [openRun] = await tx
    .select({ id: incidents.id })
    .from(incidents)
    .where(and(eq(incidents.integration, o.integration), eq(incidents.kind, 'run_failed'), isNull(incidents.closedAt)));
  if (openRun) return null;
  const [covering] = await tx
    .select()
    .from(incidents)
    .where(
      and(
        eq(incidents.integration, o.integration),
        eq(incidents.kind, 'events_failed'),
        gt(incidents.failedRuns, 0),
        or(isNull(incidents.closedAt), gte(incidents.closedAt, o.at)),
        or(
          lte(incidents.openedAt, o.at),
          sql`not exists (select 1 from incident_recoveries v where v.integration = ${o.integration} and v.kind = 'run_failed'
                and v.recovered_at > ${at} and v.recovered_at < ${incidents.openedAt})`,
        ),
      ),
    )
    .orderBy(incidents.openedAt)
    .limit(1);
  if (!covering) return null;
  if (covering.closedAt) return { change: 'covered', incident: covering };
  const [incident] = await tx.update(incidents).set(counting(o)).where(eq(incidents.id, covering.id)).returning();
  return { change: 'counted', incident };
}

/** Remembers the latest recovery of (integration, kind): no failure older than it leaves an incident open. */
async function noteRecovery(tx: DatabaseOrTransaction, p: { integration: string; kind: IncidentKind; at: Date }): Promise<void> {
  await tx
    .insert(incidentRecoveries)
    .values({ integration: p.integration, kind: p.kind, recoveredAt: p.at })
    .onConflictDoUpdate({
      target: [incidentRecoveries.integration, incidentRecoveries.kind],
      set: { recoveredAt: sql`greatest(${incidentRecoveries.recoveredAt}, excluded.recovered_at)` },
    });
}

/** The open incident a recovery at `at` ends: opened before it, and nothing counted after it. */
function recoverable(p: { integration: string; kind: IncidentKind; at: Date }) {
  return and(
    eq(incidents.integration, p.integration),
    eq(incidents.kind, p.kind),
    isNull(incidents.closedAt),
    lte(incidents.openedAt, p.at),
    lte(incidents.lastEventAt, p.at),
  );
}

async function close(tx: DatabaseOrTransaction, p: { integration: string; kind: IncidentKind; at: Date }): Promise<Incident | null> {
  const [row] = await tx.update(incidents).set({ closedAt: p.at }).where(recoverable(p)).returning();
  return row ?? null;
}

/** Applies the events of one (integration, kind) one transaction at a time, across worker processes. */
async function lockIncidentKeys(tx: DatabaseOrTransaction, keys: string[]): Promise<void> {
  for (const key of [...new Set(keys)].sort()) {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`junction-incident:${key}`}, 0))`);
  }
}

function openingMessage(event: PlatformEvent, incident: Incident, integration: string, appUrl: string): AlertMessage {
  const common = { incidentId: incident.id, appUrl, integration, correlationId: event.correlationId ?? null };
  switch (event.type) {
    case 'run.failed':
      return runFailedMessage({
        ...common,
        runId: event.runId,
        attempts: event.attempts,
        error: event.error,
        errorClass: event.errorClass,
        reason: event.reason,
        startedAt: event.startedAt,
        at: event.at,
        pendingEvents: event.pendingEvents,
      });
    case 'breaker.opened':
      return breakerOpenedMessage({
        ...common,
        breakerKey: event.breakerKey,
        error: event.error,
        openUntil: event.openUntil,
        openedBy: event.openedBy,
        at: event.at,
      });
    case 'credentials.failing':
      return credentialsFailingMessage({ ...common, error: event.error, at: event.at });
    case 'events.failed':
      return eventsFailedMessage({
        ...common,
        runId: event.runId,
        eventId: event.eventId,
        eventType: event.eventType,
        reason: event.reason,
        count: event.count ?? 1,
        eventIds: event.eventIds,
        runFailure: event.runFailure,
        at: event.at,
      });
    case 'audit.chain_broken':
      return auditChainBrokenMessage({
        incidentId: incident.id,
        appUrl,
        integration,
        problem: event.problem,
        at: event.at,
        configDriftOnly: event.configDriftOnly,
      });
    default:
      throw new Error(`${event.type} does not open an incident`);
  }
}

function openingDetails(event: PlatformEvent): Pick<Opening, 'error' | 'runId' | 'count' | 'failedRuns' | 'failedEvents' | 'eventRun'> {
  const counts =
    event.type === 'run.failed'
      ? { failedRuns: 1, failedEvents: 0, eventRun: Boolean(event.appliesEvents) }
      : event.type === 'events.failed'
        ? { failedRuns: event.runFailure ? 1 : 0, failedEvents: Math.max(1, event.count ?? 1), eventRun: false }
        : { failedRuns: null, failedEvents: null, eventRun: false };
  return {
    count: event.type === 'events.failed' ? Math.max(1, event.count ?? 1) : 1,
    ...counts,
    ...openingError(event),
    ...(event.type === 'run.failed' ? { cause: failureCause(event) } : {}),
  };
}

function openingError(event: PlatformEvent): { error: string | null; runId: string | null } {
  switch (event.type) {
    case 'run.failed':
      return {
        error: shortError(event.errorClass ? `${event.errorClass}: ${event.error}` : event.error, 2000),
        runId: isUuid(event.runId) ? event.runId : null,
      };
    case 'breaker.opened':
      // Held open by hand with no failure of the system on record: the incident says who did it.
      return { error: shortError(event.error, 2000) || (event.openedBy ? `opened by hand by ${event.openedBy}` : null), runId: null };
    case 'credentials.failing':
      return { error: shortError(event.error, 2000), runId: null };
    case 'events.failed':
      return {
        error: shortError(
          event.runFailure
            ? `event run failed after ${event.runFailure.attempts} attempt${event.runFailure.attempts === 1 ? '' : 's'} (${event.runFailure.errorClass}: ${event.runFailure.error}); ${failedEventsText(event)} not applied`
            : `event ${event.eventId} (${event.eventType}): ${event.reason}`,
          2000,
        ),
        runId: isUuid(event.runId) ? event.runId : null,
      };
    case 'audit.chain_broken':
      return { error: shortError(event.problem, 2000), runId: null };
    default:
      return { error: null, runId: null };
  }
}

/**
 * Applies one platform event in one transaction: incidents, alerts and their delivery jobs commit
 * together (a crash in between leaves the event job to be retried, with nothing half-done).
 */
export async function handlePlatformEvent(
  db: Database,
  params: { boss: PgBoss; event: PlatformEvent; appUrl: string; recoveryHoldSeconds?: number },
): Promise<IncidentChange[]> {
  const { boss, appUrl } = params;
  const holdMs = Math.max(0, params.recoveryHoldSeconds ?? 0) * 1000;
  return db.transaction(async (tx) => {
    let event = params.event;
    const changes: IncidentChange[] = [];
    const openingKind = OPENING_KIND[event.type];
    const closingKind = CLOSING_KIND[event.type];
    const kind = openingKind ?? closingKind;
    // An event run's failure may be counted on the run_failed incident of the event run before it,
    // and a run's failure on the events_failed incident of the event run after it (handled first).
    const foldable = (event.type === 'events.failed' && Boolean(event.runFailure)) || event.type === 'run.failed';
    if (kind)
      await lockIncidentKeys(
        tx,
        integrationsOf(event).flatMap((integration) => [
          `${integration}:${kind}`,
          ...(foldable
            ? [`${integration}:${'run_failed' satisfies IncidentKind}`, `${integration}:${'events_failed' satisfies IncidentKind}`]
            : []),
        ]),
      );
    // A coalesced announcement of refused events: it counts every refusal not yet announced (under
    // the incident lock), or none, when the job before it counted them already.
    if (event.type === 'events.failed' && event.collect) {
      const collected = await collectRefusals(tx, event);
      if (!collected) return [{ change: 'none', integration: event.integration, kind: 'events_failed' }];
      event = collected;
    }
    const at = new Date(event.at);
    for (const integration of integrationsOf(event)) {
      if (openingKind) {
        const failure = { integration, kind: openingKind, at, ...openingDetails(event) };
        const folded = foldable && event.type === 'events.failed' ? await foldIntoEventRunIncident(tx, failure) : null;
        if (folded) {
          changes.push({ change: 'folded', incidentId: folded.id, integration, kind: openingKind, from: 'run_failed' });
          continue;
        }
        const onEvents = event.type === 'run.failed' ? await countOnEventsIncident(tx, failure) : null;
        if (onEvents?.change === 'counted') {
          changes.push({ change: 'folded', incidentId: onEvents.incident.id, integration, kind: 'events_failed', from: openingKind });
          continue;
        }
        if (onEvents?.change === 'covered') {
          changes.push({ change: 'none', integration, kind: openingKind });
          continue;
        }
        const result = await openOrCount(tx, failure);
        if (!result) {
          changes.push({ change: 'none', integration, kind: openingKind });
        } else if (
          result.change === 'counted' &&
          event.type === 'run.failed' &&
          event.reason === 'permanent' &&
          openingKind === 'run_failed'
        ) {
          // A permanent failure of another cause than the ones alerted is news (a 403 while it opened
          // on a 503: no longer an outage to wait out, someone must act): one update alert per new
          // cause, a few at most. Transient causes (a 503, a timeout, a 429 in turn) are one outage.
          const cause = failureCause(event);
          const [noted] = await tx.execute<{ causes: string[] }>(sql`
            update incidents set alerted_causes = alerted_causes || ${cause}::text
             where id = ${result.incident.id} and not (${cause} = any(alerted_causes))
               and cardinality(alerted_causes) < ${MAX_ALERTED_CAUSES}
            returning alerted_causes as causes`);
          // An incident from before the causes were recorded: its first failure since records one, quietly.
          if (!noted || noted.causes.length < 2) {
            changes.push({ change: 'counted', incidentId: result.incident.id, integration, kind: openingKind });
            continue;
          }
          const { alertId } = await raiseAlert(tx, {
            boss,
            incidentId: result.incident.id,
            message: runFailingDifferentlyMessage({
              incidentId: result.incident.id,
              appUrl,
              integration,
              runId: event.runId,
              attempts: event.attempts,
              error: event.error,
              errorClass: event.errorClass,
              reason: event.reason,
              earlierCauses: noted.causes.slice(0, -1),
              openedAt: result.incident.openedAt.toISOString(),
              failedRuns: result.incident.failedRuns ?? result.incident.eventCount,
              eventCount: result.incident.eventCount,
              at: event.at,
              correlationId: event.correlationId ?? null,
            }),
          });
          changes.push({ change: 'updated', incidentId: result.incident.id, integration, kind: openingKind, alertId });
        } else if (result.change === 'counted') {
          const news = event.type === 'audit.chain_broken' ? (event.newProblems ?? []) : [];
          if (event.type !== 'audit.chain_broken' || news.length === 0) {
            changes.push({ change: 'counted', incidentId: result.incident.id, integration, kind: openingKind });
            continue;
          }
          const { alertId } = await raiseAlert(tx, {
            boss,
            incidentId: result.incident.id,
            message: auditFindingsAddedMessage({
              incidentId: result.incident.id,
              appUrl,
              integration,
              problems: news,
              openedAt: result.incident.openedAt.toISOString(),
              eventCount: result.incident.eventCount,
              at: event.at,
              configDriftOnly: event.configDriftOnly,
            }),
          });
          changes.push({ change: 'updated', incidentId: result.incident.id, integration, kind: openingKind, alertId });
        } else {
          const opening = openingMessage(event, result.incident, integration, appUrl);
          const { alertId } = await raiseAlert(tx, {
            boss,
            incidentId: result.incident.id,
            message:
              result.change === 'reported_late'
                ? alreadyRecoveredMessage(opening, { kind: openingKind, recoveredAt: result.recoveredAt.toISOString() })
                : opening,
          });
          changes.push({ change: result.change, incidentId: result.incident.id, integration, kind: openingKind, alertId });
        }
      } else if (closingKind) {
        await noteRecovery(tx, { integration, kind: closingKind, at });
        const held = holdMs > 0 && !('confirmsRecovery' in event && event.confirmsRecovery);
        if (held) {
          const [open] = await tx
            .select({ id: incidents.id })
            .from(incidents)
            .where(recoverable({ integration, kind: closingKind, at }));
          if (!open) {
            changes.push({ change: 'none', integration, kind: closingKind });
            continue;
          }
          const closesAfter = new Date(Math.max(Date.now(), at.getTime()) + holdMs);
          changes.push({ change: 'held', incidentId: open.id, integration, kind: closingKind, closesAfter: closesAfter.toISOString() });
          continue;
        }
        const closed = await close(tx, { integration, kind: closingKind, at });
        if (!closed) {
          changes.push({ change: 'none', integration, kind: closingKind });
          continue;
        }
        const runId = event.type === 'run.succeeded' || event.type === 'events.cleared' ? (event.runId ?? null) : null;
        const dismissed = event.type === 'events.cleared' ? event.dismissed : undefined;
        const { alertId } = await raiseAlert(tx, {
          boss,
          incidentId: closed.id,
          message: recoveredMessage({
            incidentId: closed.id,
            kind: closingKind,
            appUrl,
            integration,
            openedAt: closed.openedAt.toISOString(),
            eventCount: closed.eventCount,
            failedRuns: closed.failedRuns,
            failedEvents: closed.failedEvents,
            lastError: closed.lastError,
            runId,
            at: event.at,
            correlationId: event.correlationId ?? null,
            dismissed,
          }),
        });
        changes.push({ change: 'closed', incidentId: closed.id, integration, kind: closingKind, alertId });
      }
    }
    // A held recovery comes back once for all the integrations it holds (a breaker event names several).
    const [closesAfter] = changes.flatMap((c) => (c.change === 'held' ? [c.closesAfter] : []));
    if (closesAfter) {
      await emitPlatformEvent(txEventSender(boss, tx), { ...event, confirmsRecovery: true } as PlatformEvent, {
        startAfter: new Date(closesAfter),
      });
    }
    return changes;
  });
}

/**
 * Records a failure alerting handled in the past: its incident opened (or counted on the open one)
 * as handlePlatformEvent does, with the same row and opening alert, but the alert is not raised:
 * the caller records how it was delivered (the demo seed, whose history has alerting handle its
 * failures when they happened). A refusal announcement (`collect`) first counts the refusals not
 * yet announced, as alerting does. It does not fold an event run's failure into the incident of
 * another kind (foldIntoEventRunIncident): for one failure of an integration with none open.
 * Null when there is nothing left to record (no refusal to count, or a recovery after it that an
 * incident alerted already spans).
 */
export async function recordHandledFailure(
  tx: Transaction,
  params: { event: Extract<PlatformEvent, { integration: string }>; appUrl: string },
): Promise<
  { change: 'opened' | 'reported_late'; incident: Incident; message: AlertMessage } | { change: 'counted'; incident: Incident } | null
> {
  const kind = OPENING_KIND[params.event.type];
  if (!kind) throw new Error(`${params.event.type} does not open an incident`);
  await lockIncidentKeys(tx, [`${params.event.integration}:${kind}`]);
  let event = params.event;
  if (event.type === 'events.failed' && event.collect) {
    const collected = await collectRefusals(tx, event);
    if (!collected) return null;
    event = collected;
  }
  const result = await openOrCount(tx, { integration: event.integration, kind, at: new Date(event.at), ...openingDetails(event) });
  if (!result) return null;
  const opening = openingMessage(event, result.incident, event.integration, params.appUrl);
  if (result.change === 'reported_late') {
    const message = alreadyRecoveredMessage(opening, { kind, recoveredAt: result.recoveredAt.toISOString() });
    return { change: 'reported_late', incident: result.incident, message };
  }
  if (result.change === 'counted') return { change: 'counted', incident: result.incident };
  return { change: 'opened', incident: result.incident, message: opening };
}

/** Open incidents, newest first (the console's banner; undelivered ones need attention). */
export async function openIncidents(db: DatabaseOrTransaction, params: { integration?: string } = {}): Promise<Incident[]> {
  return db
    .select()
    .from(incidents)
    .where(params.integration ? and(isNull(incidents.closedAt), eq(incidents.integration, params.integration)) : isNull(incidents.closedAt))
    .orderBy(sql`${incidents.openedAt} desc`);
}
