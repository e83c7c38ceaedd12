import { Webhook } from 'standardwebhooks';
import { AUDIT_CONFIG, type PlatformEvent } from '../execution/events';
import { exactTime } from '../when';
import { clip } from '../words';

/**
 * A time in a message's text as a person reads it ("2026-12-04 21:52:04 UTC"): the message is read
 * later, so not relative; the machine fields (`since`, `at`) keep ISO 8601.
 */
function readable(iso: string | null | undefined): string {
  const at = iso ? new Date(iso) : null;
  return at && !Number.isNaN(at.getTime()) ? exactTime(at) : String(iso);
}

/**
 * What an alert says, built once when the alert is raised and stored in `alerts.body`; every
 * channel renders the same message (webhook JSON as is, Slack blocks, e-mail text + HTML).
 * It says what failed, where, since when, after how many attempts, the last error, the
 * correlation id and the console link of the run.
 */

export type IncidentKind = 'run_failed' | 'breaker_open' | 'credentials' | 'events_failed' | 'audit_chain';
/** `incident.updated`: an open audit incident found more than its opening alert said (auditFindingsAddedMessage). */
export type AlertEvent = 'incident.opened' | 'incident.updated' | 'incident.recovered' | 'alert.test';

export interface AlertMessage {
  event: AlertEvent;
  kind: IncidentKind | null;
  incidentId: string | null;
  integration: string | null;
  title: string;
  text: string;
  runId: string | null;
  runUrl: string | null;
  /** The console page to open: the run when there is one, else the integration. */
  consoleUrl: string | null;
  correlationId: string | null;
  /** ISO time the trouble started. */
  since: string | null;
  attempts: number | null;
  lastError: string | null;
  /** Failures counted on the incident (recovery messages). */
  eventCount: number | null;
  /**
   * Run and events failures, counted apart (an event-run outage counts both): runs that failed for
   * good and inbound events marked failed. Absent when not known apart (other kinds, older incidents).
   */
  failedRuns?: number;
  failedEvents?: number;
  /** ISO time of the event this alert is about. */
  at: string;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

export function runUrl(appUrl: string, runId: string): string {
  return `${trimSlash(appUrl)}/runs/${runId}`;
}

export function integrationUrl(appUrl: string, integration: string): string {
  return `${trimSlash(appUrl)}/integrations/${encodeURIComponent(integration)}`;
}

/** Single line, bounded: errors can be stack traces or whole response bodies. */
export function shortError(error: string | null | undefined, max = 500): string | null {
  if (error === null || error === undefined) return null;
  const line = error.replace(/\s+/g, ' ').trim();
  return clip(line, max, '...');
}

/**
 * "2 failed runs and 3 failed events", "1 failed run", "3 failed events": runs and events counted
 * apart; "4 failures" when they are not known apart (eventCount).
 */
export function failuresText(p: { eventCount: number; failedRuns?: number | null; failedEvents?: number | null }): string {
  const runs = p.failedRuns ?? null;
  const events = p.failedEvents ?? null;
  if (runs === null || events === null || runs + events === 0) return p.eventCount === 1 ? '1 failure' : `${p.eventCount} failures`;
  return [runs > 0 && `${runs} failed run${runs === 1 ? '' : 's'}`, events > 0 && `${events} failed event${events === 1 ? '' : 's'}`]
    .filter(Boolean)
    .join(' and ');
}

function lines(parts: (string | null | false | undefined)[]): string {
  return parts.filter((p): p is string => typeof p === 'string' && p !== '').join('\n');
}

/** Said by an opening message only while its incident is open (not by one reported already recovered). */
const RUNS_COUNTED_WHILE_OPEN =
  'Further failures are counted on this incident without new alerts until the integration recovers; a permanent one of another cause (another error class or HTTP status) is sent once as an update.';
const EVENTS_COUNTED_WHILE_OPEN =
  'Further failed events are counted on this incident without new alerts; it closes when no failed event is left.';

const FAILURE_REASON: Record<'retries_exhausted' | 'permanent' | 'retry_budget' | 'interrupted', string> = {
  retries_exhausted: 'retries exhausted',
  permanent: 'permanent error, not retried',
  retry_budget: 'retry budget spent, not retried',
  interrupted: 'interrupted too often: its workers kept stopping',
};

/** The reason in words; a run the database kept cutting off (its last interruption's class) is not one that kills its workers. */
function failureReason(p: { reason: RunFailureFields['reason']; errorClass: string }): string {
  if (p.reason === 'interrupted' && p.errorClass === 'DatabaseUnavailable')
    return 'interrupted too often: the database kept cutting it off';
  return FAILURE_REASON[p.reason];
}

/** What a run's failure alert says of it (runFailedMessage, runFailingDifferentlyMessage). */
type RunFailureFields = {
  incidentId: string;
  appUrl: string;
  integration: string;
  runId: string;
  attempts: number;
  error: string;
  errorClass: string;
  reason: 'retries_exhausted' | 'permanent' | 'retry_budget' | 'interrupted';
};

export function runFailedMessage(
  p: RunFailureFields & {
    startedAt: string;
    at: string;
    correlationId: string | null;
    /** An event run that left the pending events to another run (see events.ts). */
    pendingEvents?: { count: number; runId: string };
  },
): AlertMessage {
  const url = runUrl(p.appUrl, p.runId);
  const lastError = shortError(p.errorClass ? `${p.errorClass}: ${p.error}` : p.error);
  const plural = p.attempts === 1 ? 'attempt' : 'attempts';
  const pending = p.pendingEvents;
  return {
    event: 'incident.opened',
    kind: 'run_failed',
    incidentId: p.incidentId,
    integration: p.integration,
    title: `${p.integration}: run failed (${failureReason(p)})`,
    text: lines([
      p.reason === 'interrupted' && p.errorClass === 'DatabaseUnavailable'
        ? `Integration '${p.integration}' failed: run ${p.runId} was stopped after its attempts were interrupted too often, the last by an unavailable database (a restart, a failover, terminated sessions, connection slots used up). Look at the database before retrying.`
        : p.reason === 'interrupted'
          ? `Integration '${p.integration}' failed: run ${p.runId} was stopped after its attempts were interrupted too often (the worker executing it was lost or the database unavailable each time; a handler that exhausts memory or crashes its process does this). Look at the worker logs before retrying.`
          : `Integration '${p.integration}' failed: run ${p.runId} gave up after ${p.attempts} ${plural} (${FAILURE_REASON[p.reason]}).`,
      `Failing since: ${readable(p.startedAt)}`,
      `Attempts: ${p.attempts}`,
      `Last error: ${lastError ?? 'none recorded'}`,
      pending &&
        `It left ${pending.count === 1 ? '1 pending event' : `${pending.count} pending events`} to run ${pending.runId}, queued after it. If that run fails too, they are marked failed and counted on this incident, which then closes once they are replayed or dismissed: ${failedEventsUrl(p.appUrl, p.integration)}`,
      p.correlationId && `Correlation id: ${p.correlationId}`,
      `Run: ${url}`,
      RUNS_COUNTED_WHILE_OPEN,
    ]),
    runId: p.runId,
    runUrl: url,
    consoleUrl: url,
    correlationId: p.correlationId,
    since: p.startedAt,
    attempts: p.attempts,
    lastError,
    eventCount: 1,
    failedRuns: 1,
    failedEvents: 0,
    at: p.at,
  };
}

/**
 * What a run failed of, as far as an operator acts on it: the error's class and the HTTP status it
 * names ("answered 403"), or that its attempts were interrupted. A 503 and then a 403 are two
 * causes (wait, then fix credentials); the same 503 with another URL or time is one.
 */
export function failureCause(event: { errorClass: string; error: string; reason: string }): string {
  if (event.reason === 'interrupted') return 'interrupted';
  const status = /\banswered (\d{3})\b/.exec(event.error)?.[1];
  return `${event.errorClass || 'Error'}${status ? ` ${status}` : ''}`;
}

/** How many causes one run_failed incident alerts at most: past them, failures are only counted. */
export const MAX_ALERTED_CAUSES = 5;

/**
 * An open run_failed incident whose runs now fail of another cause than the ones it alerted
 * (incidents.ts, failureCause): a 503 waited out is one job, a 403 that needs its credentials fixed
 * another, and the operator would otherwise first read of it in the recovery.
 */
export function runFailingDifferentlyMessage(
  p: RunFailureFields & {
    /** The causes alerted before this one, the opening one first. */
    earlierCauses: string[];
    openedAt: string;
    failedRuns: number;
    eventCount: number;
    at: string;
    correlationId: string | null;
  },
): AlertMessage {
  const url = runUrl(p.appUrl, p.runId);
  const lastError = shortError(p.errorClass ? `${p.errorClass}: ${p.error}` : p.error);
  return {
    event: 'incident.updated',
    kind: 'run_failed',
    incidentId: p.incidentId,
    integration: p.integration,
    title: `${p.integration}: runs now fail differently (${failureReason(p)})`,
    text: lines([
      `Integration '${p.integration}' is still failing, now of another cause: run ${p.runId} gave up after ${p.attempts} ${p.attempts === 1 ? 'attempt' : 'attempts'} (${failureReason(p)}).`,
      `Last error: ${lastError ?? 'none recorded'}`,
      `Earlier alerts of this incident were about: ${p.earlierCauses.join(', ')}. What fixes those may not fix this.`,
      `Failing since: ${readable(p.openedAt)} (${p.failedRuns} failed ${p.failedRuns === 1 ? 'run' : 'runs'} so far)`,
      p.correlationId && `Correlation id: ${p.correlationId}`,
      `Run: ${url}`,
      `Further failures of a cause already alerted, and transient ones, are counted without new alerts; at most ${MAX_ALERTED_CAUSES} causes are alerted per incident.`,
    ]),
    runId: p.runId,
    runUrl: url,
    consoleUrl: url,
    correlationId: p.correlationId,
    since: p.openedAt,
    attempts: p.attempts,
    lastError,
    eventCount: p.eventCount,
    failedRuns: p.failedRuns,
    at: p.at,
  };
}

export function breakerOpenedMessage(p: {
  incidentId: string;
  appUrl: string;
  integration: string;
  breakerKey: string;
  error: string;
  openUntil: string | null;
  /** Held open by hand by this operator: not a failure of the external system. */
  openedBy?: string;
  at: string;
  correlationId: string | null;
}): AlertMessage {
  const url = integrationUrl(p.appUrl, p.integration);
  const lastError = shortError(p.error) || null;
  return {
    event: 'incident.opened',
    kind: 'breaker_open',
    incidentId: p.incidentId,
    integration: p.integration,
    title: `${p.integration}: circuit breaker '${p.breakerKey}' opened`,
    text: lines([
      p.openedBy
        ? `Integration '${p.integration}' is blocked: ${p.openedBy} opened the circuit breaker for '${p.breakerKey}' by hand.`
        : `Integration '${p.integration}' is blocked: the circuit breaker for '${p.breakerKey}' opened after repeated failures of the external system.`,
      p.openUntil
        ? `No request is sent until ${readable(p.openUntil)}; then one trial request decides.`
        : 'It is held open until an operator resets it.',
      `Since: ${readable(p.at)}`,
      `Last error${p.openedBy ? ' of the external system' : ''}: ${lastError ?? 'none recorded'}`,
      p.correlationId && `Correlation id: ${p.correlationId}`,
      `Integration: ${url}`,
    ]),
    runId: null,
    runUrl: null,
    consoleUrl: url,
    correlationId: p.correlationId,
    since: p.at,
    attempts: null,
    lastError,
    eventCount: 1,
    at: p.at,
  };
}

export function credentialsFailingMessage(p: {
  incidentId: string;
  appUrl: string;
  integration: string;
  error: string;
  at: string;
  correlationId: string | null;
}): AlertMessage {
  const url = integrationUrl(p.appUrl, p.integration);
  const lastError = shortError(p.error);
  return {
    event: 'incident.opened',
    kind: 'credentials',
    incidentId: p.incidentId,
    integration: p.integration,
    title: `${p.integration}: credentials rejected`,
    text: lines([
      `Integration '${p.integration}' cannot authenticate with the external system: its credentials are rejected.`,
      'An admin should check and replace them in the console (Credentials).',
      `Since: ${readable(p.at)}`,
      `Last error: ${lastError ?? 'none recorded'}`,
      p.correlationId && `Correlation id: ${p.correlationId}`,
      `Integration: ${url}`,
    ]),
    runId: null,
    runUrl: null,
    consoleUrl: url,
    correlationId: p.correlationId,
    since: p.at,
    attempts: null,
    lastError,
    eventCount: 1,
    at: p.at,
  };
}

/** The integration's failed inbound events, on its Events tab. */
export function failedEventsUrl(appUrl: string, integration: string): string {
  return `${integrationUrl(appUrl, integration)}/events?status=failed`;
}

/** "event evt_1 (payment.succeeded)", or "500 events (evt_1, evt_2, … and 490 more)". */
export function failedEventsText(p: { eventId: string; eventType: string; count?: number; eventIds?: string[] }): string {
  const count = Math.max(1, p.count ?? 1);
  if (count === 1) return `event ${p.eventId} (${p.eventType})`;
  const ids = p.eventIds?.length ? p.eventIds : [p.eventId];
  const more = count - ids.length;
  return `${count} events (${ids.join(', ')}${more > 0 ? `, and ${more} more` : ''})`;
}

/**
 * Inbound events were marked failed: one refused for good, or the pending events an event run left
 * when it failed for good (`runFailure`: this is that run's only alert). They wait, failed, until
 * an operator replays (or dismisses) them.
 */
export function eventsFailedMessage(
  p: Omit<Extract<PlatformEvent, { type: 'events.failed' }>, 'type' | 'correlationId'> & {
    incidentId: string;
    appUrl: string;
    correlationId: string | null;
  },
): AlertMessage {
  const url = failedEventsUrl(p.appUrl, p.integration);
  const count = Math.max(1, p.count ?? 1);
  const events = failedEventsText(p);
  const run = runUrl(p.appUrl, p.runId);
  const common = {
    event: 'incident.opened' as const,
    kind: 'events_failed' as const,
    incidentId: p.incidentId,
    integration: p.integration,
    runId: p.runId,
    runUrl: run,
    consoleUrl: url,
    correlationId: p.correlationId,
    eventCount: count,
    // The run that failed them failed too: a run and its events, counted apart.
    failedRuns: p.runFailure ? 1 : 0,
    failedEvents: count,
    at: p.at,
  };
  if (p.runFailure) {
    const f = p.runFailure;
    const lastError = shortError(f.errorClass ? `${f.errorClass}: ${f.error}` : f.error);
    const plural = f.attempts === 1 ? 'attempt' : 'attempts';
    return {
      ...common,
      title: `${p.integration}: event run failed, ${count === 1 ? '1 event' : `${count} events`} not applied`,
      text: lines([
        `Integration '${p.integration}' failed: event run ${p.runId} gave up after ${f.attempts} ${plural} and left ${events} not applied.`,
        'They are marked failed and are not retried on their own: nothing they carry reached the host.',
        'What to do: fix the cause (see the last error), then Replay the failed events from the Events tab (or dismiss those that can never be applied).',
        `Failing since: ${readable(f.startedAt)}`,
        `Attempts: ${f.attempts}`,
        `Last error: ${lastError ?? 'none recorded'}`,
        p.correlationId && `Correlation id: ${p.correlationId}`,
        `Run: ${run}`,
        `Failed events: ${url}`,
        EVENTS_COUNTED_WHILE_OPEN,
      ]),
      since: f.startedAt,
      attempts: f.attempts,
      lastError,
    };
  }
  const lastError = shortError(`${events}: ${p.reason}`);
  return {
    ...common,
    title: `${p.integration}: ${events} failed`,
    text: lines([
      `Integration '${p.integration}' could not apply ${events}: ${shortError(p.reason) ?? 'no reason recorded'}.`,
      count === 1
        ? 'The event is marked failed and is not retried on its own: nothing it carries reached the host.'
        : 'They are marked failed and are not retried on their own: nothing they carry reached the host.',
      'What to do: fix the cause (the host data it refers to, the sender, or the handler), then Replay the failed events from the Events tab.',
      `Since: ${readable(p.at)}`,
      p.correlationId && `Correlation id: ${p.correlationId}`,
      `Run: ${run}`,
      `Failed events: ${url}`,
      EVENTS_COUNTED_WHILE_OPEN,
    ]),
    since: p.at,
    attempts: null,
    lastError,
  };
}

/** Said by an audit incident's opening alert: what later verifications send while it is open. */
const AUDIT_UPDATES =
  'While this incident is open, a later verification that finds more sends an update naming only what is new; the same findings are not sent again.';

/**
 * The full audit verification failed: tampering with the trail, an anchor not trusted, or
 * configuration changed in the database around the config service (`configDriftOnly`: the trail is
 * intact, the configuration in force is not the audited one).
 */
export function auditChainBrokenMessage(p: {
  incidentId: string;
  appUrl: string;
  integration: string;
  problem: string;
  at: string;
  configDriftOnly?: boolean;
}): AlertMessage {
  const url = `${trimSlash(p.appUrl)}/audit`;
  const problem = shortError(p.problem, 2000);
  return {
    event: 'incident.opened',
    kind: 'audit_chain',
    incidentId: p.incidentId,
    integration: p.integration,
    title: p.configDriftOnly ? 'Audit trail: configuration changed outside the console' : 'Audit trail: verification failed',
    text: lines(
      p.configDriftOnly
        ? [
            'The scheduled verification found configuration that differs from what the audit trail says was saved: it was written to the database directly, so no audit row records who changed it or when. The trail itself is intact.',
            `Found: ${problem ?? 'no detail recorded'}`,
            "Find out who wrote to the database, then put the audited values back through the console, which records it: on the integration's History page, revert to its newest change (or to its original configuration when it was never changed), which also puts back fields never saved to the values they were registered with.",
            AUDIT_UPDATES,
            `Since: ${readable(p.at)}`,
            `Audit: ${url}`,
          ]
        : [
            'The scheduled verification of the audit trail against its signed anchors failed: the trail may have been tampered with in the database.',
            `Found: ${problem ?? 'no detail recorded'}`,
            'Keep the anchor directory and the database as they are, and investigate who changed audit_log (the table owner or a superuser).',
            AUDIT_UPDATES,
            `Since: ${readable(p.at)}`,
            `Audit: ${url}`,
          ],
    ),
    runId: null,
    runUrl: null,
    consoleUrl: url,
    correlationId: null,
    since: p.at,
    attempts: null,
    lastError: problem,
    eventCount: 1,
    at: p.at,
  };
}

/**
 * An audit incident still open, and the scheduled verification found what its alerts did not say:
 * another direct write to the configuration, more rows of the trail changed. One such alert per
 * verification that finds something new; the same findings again are only counted.
 */
export function auditFindingsAddedMessage(p: {
  incidentId: string;
  appUrl: string;
  integration: string;
  /** The new findings (newProblems of the event). */
  problems: string[];
  openedAt: string;
  eventCount: number;
  at: string;
  configDriftOnly?: boolean;
}): AlertMessage {
  const url = `${trimSlash(p.appUrl)}/audit`;
  const found = p.problems.map((problem) => `- ${shortError(problem, 600)}`);
  const since = `the incident opened ${readable(p.openedAt)}`;
  return {
    event: 'incident.updated',
    kind: 'audit_chain',
    incidentId: p.incidentId,
    integration: p.integration,
    title: p.configDriftOnly ? 'Audit trail: more configuration changed outside the console' : 'Audit trail: more tampering found',
    text: lines([
      p.configDriftOnly
        ? `While ${since} is still open, the scheduled verification found more configuration written to the database directly, which its earlier alerts did not name:`
        : `While ${since} is still open, the scheduled verification found more of the audit trail changed in the database, which its earlier alerts did not name:`,
      ...found,
      p.configDriftOnly
        ? 'What the earlier alerts named is still there unless the Audit page says otherwise. Find out who writes to the database directly, then put the audited values back through the console (the History page of each integration).'
        : 'Someone is still changing audit_log: keep the anchor directory and the database as they are, and investigate who has the table owner or a superuser role.',
      `Audit: ${url}`,
    ]),
    runId: null,
    runUrl: null,
    consoleUrl: url,
    correlationId: null,
    since: p.openedAt,
    attempts: null,
    lastError: shortError(p.problems.join('; '), 2000),
    eventCount: p.eventCount,
    at: p.at,
  };
}

const RECOVERED_WHAT: Record<IncidentKind, string> = {
  run_failed: 'runs succeed again',
  // Closed by a trial that got an answer, or by an operator's reset: not a sign that requests succeed (a 403 is an answer).
  breaker_open: 'the circuit breaker closed: requests go to the external system again (whether they succeed shows in its runs)',
  credentials: 'its credentials are accepted again',
  events_failed: 'its failed events were replayed and applied, none is left failed',
  audit_chain: 'the audit trail verifies against its anchors again',
};

export function recoveredMessage(p: {
  incidentId: string;
  kind: IncidentKind;
  appUrl: string;
  integration: string;
  openedAt: string;
  eventCount: number;
  /** Runs and events counted apart (run_failed, events_failed), null when not known apart. */
  failedRuns?: number | null;
  failedEvents?: number | null;
  lastError: string | null;
  runId: string | null;
  at: string;
  correlationId: string | null;
  /** events_failed closed by an operator dismissing the last failed event (no run applied it). */
  dismissed?: { eventId: string; by: string; reason: string };
}): AlertMessage {
  const run = p.runId ? runUrl(p.appUrl, p.runId) : null;
  const failures = failuresText(p);
  const apart =
    p.failedRuns !== null && p.failedRuns !== undefined && p.failedEvents !== null && p.failedEvents !== undefined
      ? { failedRuns: p.failedRuns, failedEvents: p.failedEvents }
      : {};
  if (p.kind === 'audit_chain') {
    const url = `${trimSlash(p.appUrl)}/audit`;
    return {
      event: 'incident.recovered',
      kind: p.kind,
      incidentId: p.incidentId,
      integration: p.integration,
      title: p.integration === AUDIT_CONFIG ? 'Audit trail: configuration matches it again' : 'Audit trail: verified again',
      text: lines([
        p.integration === AUDIT_CONFIG
          ? 'The configuration in force matches what the audit trail says was saved again.'
          : `The audit trail recovered: ${RECOVERED_WHAT[p.kind]}.`,
        `The incident open since ${readable(p.openedAt)} is closed after ${failures}.`,
        `Last problem found: ${p.lastError ?? 'none recorded'}`,
        `Audit: ${url}`,
      ]),
      runId: null,
      runUrl: null,
      consoleUrl: url,
      correlationId: p.correlationId,
      since: p.openedAt,
      attempts: null,
      lastError: p.lastError,
      eventCount: p.eventCount,
      at: p.at,
    };
  }
  return {
    event: 'incident.recovered',
    kind: p.kind,
    incidentId: p.incidentId,
    integration: p.integration,
    title: `${p.integration}: recovered`,
    text: lines([
      `Integration '${p.integration}' recovered: ${p.dismissed ? 'none of its events is left failed' : RECOVERED_WHAT[p.kind]}.`,
      p.dismissed &&
        `The last failed event, ${p.dismissed.eventId}, was dismissed by ${p.dismissed.by} and will not be applied. Reason: ${shortError(p.dismissed.reason) ?? 'none given'}`,
      `The incident open since ${readable(p.openedAt)} is closed after ${failures}.`,
      p.runId && `First successful run: ${p.runId}`,
      `Last error before recovery: ${p.lastError ?? 'none recorded'}`,
      p.correlationId && `Correlation id: ${p.correlationId}`,
      `${run ? 'Run' : 'Integration'}: ${run ?? integrationUrl(p.appUrl, p.integration)}`,
    ]),
    runId: p.runId,
    runUrl: run,
    consoleUrl: run ?? integrationUrl(p.appUrl, p.integration),
    correlationId: p.correlationId,
    since: p.openedAt,
    attempts: null,
    lastError: p.lastError,
    eventCount: p.eventCount,
    ...apart,
    at: p.at,
  };
}

/**
 * The one alert of a failure that reached alerting only after the recovery that ended it (a
 * retried event job, another worker, a worker that was down): what failed and when, as its opening
 * message says, and that it had already recovered. Its incident is recorded closed, so it is sent
 * as a recovery: a receiver that tracks incidents by event is left with nothing open.
 */
export function alreadyRecoveredMessage(opening: AlertMessage, p: { kind: IncidentKind; recoveredAt: string }): AlertMessage {
  return {
    ...opening,
    event: 'incident.recovered',
    title: `${opening.title}, already recovered`,
    text: lines([
      ...opening.text.split('\n').filter((line) => line !== RUNS_COUNTED_WHILE_OPEN && line !== EVENTS_COUNTED_WHILE_OPEN),
      `Already recovered at ${readable(p.recoveredAt)}: ${RECOVERED_WHAT[p.kind]}.`,
      'This failure reached alerting only after that recovery, so its incident is recorded closed: nothing is left open.',
    ]),
    eventCount: 1,
    at: p.recoveredAt,
  };
}

export function testMessage(p: { channelName: string; actor: string; at: string }): AlertMessage {
  return {
    event: 'alert.test',
    kind: null,
    incidentId: null,
    integration: null,
    title: `Junction test alert for channel '${p.channelName}'`,
    text: lines([
      `This is a test alert sent by ${p.actor} to check the channel '${p.channelName}'.`,
      'Real alerts say what failed, where, since when, how many attempts, the last error, the correlation id and link to the run.',
    ]),
    runId: null,
    runUrl: null,
    consoleUrl: null,
    correlationId: null,
    since: null,
    attempts: null,
    lastError: null,
    eventCount: null,
    at: p.at,
  };
}

// ---------------------------------------------------------------------------------------------
// Renderings
// ---------------------------------------------------------------------------------------------

/** The generic webhook body: the message as JSON. */
export function webhookBody(message: AlertMessage): string {
  return JSON.stringify(message);
}

/**
 * A webhook channel's secret in Standard Webhooks' format (`whsec_` and the key in base64): the
 * key is the secret's UTF-8 bytes, as entered. What a receiver gives its Standard Webhooks library.
 */
export function standardWebhooksSecret(secret: string): string {
  return `whsec_${Buffer.from(secret, 'utf8').toString('base64')}`;
}

/**
 * The `webhook-signature` value, as Standard Webhooks signs (the `standardwebhooks` package):
 * `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the secret's bytes. The id and the
 * timestamp (Unix seconds, sent as `webhook-id` and `webhook-timestamp`) are signed with the body,
 * so a receiver can refuse an old delivery replayed to it, and drop a repeat by its id.
 */
export function webhookSignature(params: { id: string; timestamp: number; body: string; secret: string }): string {
  return new Webhook(standardWebhooksSecret(params.secret)).sign(params.id, new Date(params.timestamp * 1000), params.body);
}

function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Slack incoming-webhook payload: `text` is the notification fallback, `blocks` the layout. */
export function slackPayload(message: AlertMessage): { text: string; blocks: object[] } {
  const icon =
    message.event === 'incident.recovered'
      ? ':white_check_mark:'
      : message.event === 'alert.test'
        ? ':bell:'
        : message.event === 'incident.updated'
          ? ':warning:'
          : ':rotating_light:';
  const fields: { type: 'mrkdwn'; text: string }[] = [];
  if (message.integration) fields.push({ type: 'mrkdwn', text: `*Integration*\n${slackEscape(message.integration)}` });
  if (message.since) fields.push({ type: 'mrkdwn', text: `*Since*\n${readable(message.since)}` });
  if (message.attempts !== null) fields.push({ type: 'mrkdwn', text: `*Attempts*\n${message.attempts}` });
  if (message.correlationId) fields.push({ type: 'mrkdwn', text: `*Correlation id*\n\`${slackEscape(message.correlationId)}\`` });
  const blocks: object[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(`${icon} ${message.title}`, 150, '...'), emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: clip(slackEscape(message.text), 3000, '...') } },
  ];
  if (fields.length > 0) blocks.push({ type: 'section', fields });
  if (message.lastError)
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: clip(`*Last error*\n\`\`\`${slackEscape(message.lastError)}\`\`\``, 3000, '...') },
    });
  if (message.consoleUrl) {
    blocks.push({
      type: 'actions',
      elements: [
        { type: 'button', text: { type: 'plain_text', text: message.runUrl ? 'Open run' : 'Open integration' }, url: message.consoleUrl },
      ],
    });
  }
  return { text: `${icon} ${message.title}`, blocks };
}

function htmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** E-mail: subject, plain text and a simple HTML version of the same text. */
export function emailContent(message: AlertMessage): { subject: string; text: string; html: string } {
  const paragraphs = message.text
    .split('\n')
    .map((line) => {
      const escaped = htmlEscape(line);
      const url = message.consoleUrl && line.endsWith(message.consoleUrl) ? message.consoleUrl : null;
      return url
        ? `<p>${escaped.slice(0, escaped.length - htmlEscape(url).length)}<a href="${htmlEscape(url)}">${htmlEscape(url)}</a></p>`
        : `<p>${escaped}</p>`;
    })
    .join('\n');
  return {
    subject: `[Junction] ${message.title}`,
    text: message.text,
    html: `<!doctype html><html><body style="font-family: sans-serif"><h2>${htmlEscape(message.title)}</h2>\n${paragraphs}\n</body></html>`,
  };
}
