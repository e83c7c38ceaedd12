import type { RunStatus } from '../../../db/schema';
import type { IncidentKind } from '../alerts';
import { plural } from '../words';
import { awaitingActionFilter } from './run-queries';

/** An open incident of an integration, as the inventory reads it (incidents_open_idx). */
export interface OpenIncidentSummary {
  /** An IncidentKind; any other text is shown as it is. */
  kind: string;
  openedAt: Date;
  eventCount: number;
  /** run_failed and events_failed: runs failed for good and events marked failed, counted apart (null when not known apart). */
  failedRuns: number | null;
  failedEvents: number | null;
  /**
   * events_failed: the integration's webhook events failed now. The incident's own count only
   * grows while it is open; a dismissal or a replay lowers this one (unknown: null).
   */
  failedEventsNow?: number | null;
  /**
   * run_failed: its integration's failed runs nobody has retried yet, created since `awaitingSince`
   * (what the Overview counts as awaiting action). The incident's own count also holds the runs
   * already retried (unknown: null).
   */
  awaitingRetry?: number | null;
  /**
   * When its system recovered, after the incident's last failure: the incident stays open for the
   * recovery hold (ALERT_RECOVERY_HOLD_SECONDS) in case it fails again (null or absent: not recovered).
   */
  recoveredAt?: Date | null;
}

/** Said of an incident whose system recovered and that waits out the recovery hold. */
const HELD = 'recovered: the incident closes once the recovery hold passes without another failure';

/**
 * Why an integration reads 'failing', in words an operator can act on, and where to act: an open
 * incident ("3 failed webhook events", open since `since`), or its last run that failed with no
 * incident open for it ("last run failed", at `since`).
 */
export interface FailingReason {
  kind: IncidentKind | 'last_run' | (string & {});
  /** "3 failed webhook events", "2 failed runs", "last run failed". */
  text: string;
  /** When the incident opened (`incidentOpen`), else when the failed run ended. */
  since: Date;
  incidentOpen: boolean;
  /** The console page where it is acted on, and the link's words. */
  href: string;
  action: string;
}

/** Most actionable first: failed events wait for a replay, failed runs for a retry. */
const ORDER: Record<string, number> = { events_failed: 0, run_failed: 1, last_run: 2, credentials: 3, breaker_open: 4, audit_chain: 5 };

function integrationPath(integration: string): string {
  return `/integrations/${encodeURIComponent(integration)}`;
}

function incidentReason(integration: string, incident: OpenIncidentSummary, awaitingSince?: Date): FailingReason {
  const reason = openIncidentReason(integration, incident, awaitingSince);
  // Before: "circuit breaker opened" beside a closed breaker, "failed webhook events being
  // replayed" after the last one was dismissed, for as long as the hold kept the incident open.
  return incident.recoveredAt ? { ...reason, text: `${reason.text}; ${HELD}` } : reason;
}

function openIncidentReason(integration: string, incident: OpenIncidentSummary, awaitingSince?: Date): FailingReason {
  const open = { kind: incident.kind, since: incident.openedAt, incidentOpen: true };
  const alertsHref = `/alerts?${new URLSearchParams({ integration })}`;
  switch (incident.kind) {
    case 'events_failed': {
      // Events incidents from before runs and events were counted apart counted events only.
      const events = incident.failedEventsNow ?? incident.failedEvents ?? incident.eventCount;
      const runs = incident.failedRuns ?? 0;
      const parts = [runs > 0 && plural(runs, 'failed event run'), events > 0 && plural(events, 'failed webhook event')].filter(Boolean);
      return {
        ...open,
        // None failed now, the incident still open: its events are being replayed, or none is
        // left and the incident waits out the recovery hold.
        text:
          parts.length > 0
            ? parts.join(' and ')
            : incident.recoveredAt
              ? 'no failed webhook event left'
              : 'failed webhook events being replayed',
        href: `${integrationPath(integration)}/events?status=failed`,
        action: 'Review failed events',
      };
    }
    case 'run_failed': {
      const failed = plural(incident.failedRuns ?? incident.eventCount, 'failed run');
      const awaiting = incident.awaitingRetry;
      if (awaiting === null || awaiting === undefined || awaitingSince === undefined) {
        return {
          ...open,
          text: failed,
          href: `/runs?${new URLSearchParams({ integration, status: 'failed' })}`,
          action: 'See failed runs',
        };
      }
      // The runs the incident counted and nobody retried: the same list the Overview's "awaiting
      // action" links to, of this integration. None left: the retries are under way or failed too.
      if (awaiting === 0) {
        return {
          ...open,
          text: `${failed} in this incident; none of the last 7 days awaits a retry`,
          href: `/runs?${new URLSearchParams({ integration, status: 'failed' })}`,
          action: 'See failed runs',
        };
      }
      return {
        ...open,
        text: `${failed} in this incident; ${awaiting} of the last 7 days ${awaiting === 1 ? 'awaits' : 'await'} a retry`,
        href: `/runs?${new URLSearchParams({ integration, ...awaitingActionFilter(awaitingSince) })}`,
        action: 'Retry them',
      };
    }
    case 'credentials':
      return {
        ...open,
        text: 'credentials refused by the provider',
        href: `${integrationPath(integration)}/credentials`,
        action: 'Check credentials',
      };
    case 'breaker_open':
      return { ...open, text: 'circuit breaker opened', href: alertsHref, action: 'See its alerts' };
    case 'audit_chain':
      return { ...open, text: 'audit trail verification failed', href: '/audit', action: 'Open the audit trail' };
    default:
      return { ...open, text: `${incident.kind.replace(/_/g, ' ')} incident`, href: alertsHref, action: 'See its alerts' };
  }
}

/**
 * The reasons an integration whose state is 'failing' (deriveState) reads so: each open incident,
 * and its last run when it failed and no run or events incident counts it (alerting not told yet,
 * or the incident closed while the run was the last). Empty for an integration that is not failing.
 */
export function failingReasons(row: {
  name: string;
  lastRun: { id: string; status: RunStatus; createdAt: Date; finishedAt: Date | null } | null;
  incidents: OpenIncidentSummary[];
  /** Where "not retried yet" starts counting (the Overview's awaiting-action window). */
  awaitingSince?: Date;
}): FailingReason[] {
  const reasons = row.incidents.map((incident) => incidentReason(row.name, incident, row.awaitingSince));
  const runCounted = row.incidents.some((i) => i.kind === 'run_failed' || (i.kind === 'events_failed' && (i.failedRuns ?? 0) > 0));
  if (row.lastRun?.status === 'failed' && !runCounted) {
    reasons.push({
      kind: 'last_run',
      text: 'last run failed',
      since: row.lastRun.finishedAt ?? row.lastRun.createdAt,
      incidentOpen: false,
      href: `/runs/${row.lastRun.id}`,
      action: 'Open the run',
    });
  }
  return reasons.sort((a, b) => (ORDER[a.kind] ?? 9) - (ORDER[b.kind] ?? 9) || a.since.getTime() - b.since.getTime());
}
