import { sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import type { RunStatus } from '../../../db/schema';
import { failingReasons, type FailingReason, type OpenIncidentSummary } from './failing-reasons';
import { awaitingActionSince } from './run-queries';

export type { FailingReason, OpenIncidentSummary };

export type IntegrationState = 'orphaned' | 'paused' | 'breaker_open' | 'credentials_failing' | 'failing' | 'healthy' | 'new';

/** The states the Overview counts as failing: its card links to the inventory filtered on these. */
export const FAILING_STATES: readonly IntegrationState[] = ['failing', 'credentials_failing'];

/** The states that need someone: a paused integration in one of them is still counted and listed in it (`inState`). */
export const PROBLEM_STATES: readonly IntegrationState[] = ['breaker_open', 'credentials_failing', 'failing'];

/**
 * Whether an integration counts as being in one of `states`: its state, or, paused, the problem
 * under the pause. Pausing stops the schedule, not the breaker, the incidents or the failed runs
 * waiting for a retry: the Overview's Breaker open and Failing cards and the inventory's filters
 * still count a paused integration that has them (it counts as Paused too).
 */
export function inState(row: Pick<InventoryRow, 'state' | 'health'>, states: readonly IntegrationState[]): boolean {
  return states.includes(row.state) || (PROBLEM_STATES.includes(row.health) && states.includes(row.health));
}

export interface InventoryRow {
  name: string;
  description: string;
  registered: boolean;
  paused: boolean;
  schedule: string | null;
  timezone: string;
  breakerKey: string;
  breakerState: 'closed' | 'open' | 'half_open';
  breakerOpenUntil: Date | null;
  /** Opened by an operator: stays open until someone resets it. */
  breakerForcedOpen: boolean;
  breakerFailures: number;
  lastRun: { id: string; status: RunStatus; createdAt: Date; finishedAt: Date | null } | null;
  /** Finished, non-dry runs of the last 24 hours. */
  finished24h: number;
  succeeded24h: number;
  /** null when nothing finished in the last 24 hours. */
  successRate24h: number | null;
  openIncidents: number;
  /** Why the health is 'failing', and where to act on it (failing-reasons.ts); empty otherwise. */
  failingReasons: FailingReason[];
  /** The OAuth2 provider's last error while tokens cannot be had, and since when. */
  credentialsError: string | null;
  credentialsFailingSince: Date | null;
  state: IntegrationState;
  /**
   * The state with the pause left out: equal to `state` unless paused, when it says what the pause
   * hides (an open breaker, failing credentials, failed runs). Never 'paused'.
   */
  health: IntegrationState;
}

interface RawRow extends Record<string, unknown> {
  name: string;
  description: string;
  registered: boolean;
  paused: boolean;
  schedule: string | null;
  timezone: string;
  breaker_key: string;
  breaker_state: 'closed' | 'open' | 'half_open' | null;
  open_until: string | null;
  forced_open: boolean | null;
  consecutive_failures: number | null;
  last_id: string | null;
  last_status: RunStatus | null;
  last_created: string | null;
  last_finished: string | null;
  credentials_error: string | null;
  credentials_failing_since: string | null;
  finished: number;
  succeeded: number;
  open_incidents: number;
  incidents: RawIncident[] | null;
}

/** json_build_object's keys below: timestamps as JSON text. */
interface RawIncident {
  kind: string;
  opened_at: string;
  event_count: number;
  failed_runs: number | null;
  failed_events: number | null;
  /** events_failed only: the integration's events failed now. */
  failed_now?: number | null;
  /** run_failed only: the integration's failed runs of the last 7 days not retried yet (not only the incident's). */
  awaiting_retry?: number | null;
  /** Its system recovered after its last failure: the incident waits out the recovery hold. */
  recovered_at?: string | null;
}

export function deriveState(row: {
  registered: boolean;
  paused: boolean;
  breakerState: string;
  lastStatus: RunStatus | null;
  openIncidents: number;
  credentialsFailing?: boolean;
}): IntegrationState {
  if (!row.registered) return 'orphaned';
  if (row.paused) return 'paused';
  if (row.breakerState === 'open' || row.breakerState === 'half_open') return 'breaker_open';
  if (row.credentialsFailing) return 'credentials_failing';
  if (row.lastStatus === 'failed' || row.openIncidents > 0) return 'failing';
  if (row.lastStatus === null) return 'new';
  return 'healthy';
}

/**
 * Every integration with what an operator needs at a glance, in one statement. The last run comes
 * from runs_integration_created_idx, one index entry per integration; the 24 h counts from the
 * hourly rollup of sealed hours plus at most a few hours of runs_created_idx read live.
 */
export async function listInventory(db: DatabaseOrTransaction, params: { search?: string; name?: string } = {}): Promise<InventoryRow[]> {
  const search = params.search?.trim() ? `%${params.search.trim().replace(/[%_\\]/g, (c) => `\\${c}`)}%` : null;
  const name = params.name ?? null;
  // The database's clock, read first so the statement below gets its bounds as constants: the
  // planner then plans only the weekly partitions they can touch (each statement is planned at
  // every call, and planning all 19 weeks of a 90-day retention three times took 16 ms of the 25).
  // Every bound is derived from this one instant, like now() in a single statement. created_at is
  // kept to the millisecond, so the bounds are too (a bound cut to the millisecond selects the
  // same rows with '>' as the exact one).
  const [clock] = await db.execute<{ at: string; ms: number }>(
    sql`select now()::text as at, floor(extract(epoch from now()) * 1000)::float8 as ms`,
  );
  const atMs = Number(clock.ms);
  const bound = (ms: number) => new Date(ms).toISOString();
  const at = clock.at;
  const dayAgo = bound(atMs - 86_400_000);
  const weekAgo = bound(atMs - 7 * 86_400_000);
  // A run_failed incident's runs not retried yet: counted from where the Overview counts them.
  const awaitingSince = awaitingActionSince(new Date(atMs));
  // No run is created after the page asked (created_at is its inserting transaction's start): a
  // day of slack keeps the weeks ahead out of the plan without relying on the exact moment.
  const ahead = bound(atMs + 86_400_000);
  const rows = await db.execute<RawRow>(sql`
    select i.name, i.description, i.registered, i.paused, i.schedule, i.timezone, i.breaker_key,
           i.credentials_error, i.credentials_failing_since,
           b.state as breaker_state, b.open_until, b.forced_open, b.consecutive_failures,
           lr.id as last_id, lr.status as last_status, lr.created_at as last_created, lr.finished_at as last_finished,
           coalesce(s.finished, 0)::int as finished, coalesce(s.succeeded, 0)::int as succeeded,
           coalesce(inc.n, 0)::int as open_incidents, inc.list as incidents
      from integrations i
      left join breakers b on b.key = i.breaker_key
      left join lateral (
        -- A range on integration (the same rows as '=') and integration first in the order: with
        -- '=' the planner may instead walk runs_created_idx newest first and filter by integration,
        -- which is quick for a busy integration but reads every run (1 M at benchmark volume) for
        -- one that never ran. NULLS LAST as in the index, so it reads one entry and does not sort.
        --
        -- The last 7 days first: that lookup opens the newest one or two weekly partitions instead
        -- of a Merge Append over every week (19 at 90 days); an integration with no run in them
        -- falls through to the lookup over all weeks. Either branch returns the newest run when it
        -- returns one, so the result does not depend on which answers.
        (select r.id, r.status, r.created_at, r.finished_at from runs r
          where r.integration >= i.name and r.integration <= i.name and not r.dry_run
            and r.created_at > ${weekAgo}::timestamptz and r.created_at < ${ahead}::timestamptz
          order by r.integration, r.created_at desc nulls last, r.id desc nulls last limit 1)
        union all
        (select r.id, r.status, r.created_at, r.finished_at from runs r
          where r.integration >= i.name and r.integration <= i.name and not r.dry_run
          order by r.integration, r.created_at desc nulls last, r.id desc nulls last limit 1)
        limit 1) lr on true
      left join (
        -- Finished runs created in the last 24 hours: the sealed hours from the rollup (migration
        -- 0017, lib/platform/read-models/run-rollup.ts), the rest live from runs_created_idx: the
        -- partial hour 24 hours back, any hour not sealed yet, the current hour. One statement, one
        -- snapshot: a run is counted once, in its sealed hour or live.
        select c.integration, sum(c.finished) as finished, sum(c.succeeded) as succeeded
          from (
            select rc.integration, rc.finished, rc.succeeded
              from run_rollup_counts rc
             where rc.hour >= date_trunc('hour', ${at}::timestamptz - interval '24 hours', 'UTC') + interval '1 hour'
               and rc.hour < date_trunc('hour', ${at}::timestamptz, 'UTC')
               and (${name}::text is null or rc.integration = ${name})
            union all
            select r.integration,
                   count(*) filter (where r.status in ('succeeded', 'failed')),
                   count(*) filter (where r.status = 'succeeded')
              from run_rollup_live_ranges(${at}::timestamptz) live
              -- One index range per live range, as overviewStats reads its open ranges: joined
              -- plainly, the planner read the whole day once and filtered it by the ranges (109 681
              -- runs for 3 174 at 10 M runs, 65 ms; bench/README.md §4). OFFSET 0 keeps the
              -- subquery from being flattened back into that join.
              cross join lateral (
                select r.integration, r.status from runs r
                 where r.created_at >= live.lo and r.created_at < live.hi
                   and r.created_at > ${dayAgo}::timestamptz and r.created_at < ${ahead}::timestamptz and not r.dry_run
                   and (${name}::text is null or r.integration = ${name})
                offset 0) r
             group by r.integration) c
         group by c.integration) s on s.integration = i.name
      left join lateral (
        -- At most one open incident per kind (incidents_one_open_idx), read from incidents_open_idx.
        select count(*) as n,
               json_agg(json_build_object('kind', x.kind, 'opened_at', x.opened_at, 'event_count', x.event_count,
                                          'failed_runs', x.failed_runs, 'failed_events', x.failed_events,
                                          -- Failed now (webhook_events_failed_idx): dismissals and replays lower it.
                                          'failed_now', case when x.kind = 'events_failed' then
                                            (select count(*) from webhook_events e where e.integration = x.integration and e.status = 'failed') end,
                                          -- run_failed: its failed runs nobody retried yet, as the Overview's
                                          -- "awaiting action" counts them (from the same hour; runs_awaiting_retry_by_integration_idx).
                                          'awaiting_retry', case when x.kind = 'run_failed' then
                                            (select count(*) from runs r where r.integration = x.integration and r.status = 'failed'
                                               and not r.dry_run and r.retried_at is null
                                               and r.created_at >= ${awaitingSince.toISOString()}::timestamptz
                                               and r.created_at < ${ahead}::timestamptz) end,
                                          -- Recovered since its last failure, held open for ALERT_RECOVERY_HOLD_SECONDS.
                                          'recovered_at', (select v.recovered_at from incident_recoveries v
                                             where v.integration = x.integration and v.kind = x.kind
                                               and v.recovered_at >= x.last_event_at))
                        order by x.opened_at, x.kind) as list
          from incidents x where x.integration = i.name and x.closed_at is null) inc on true
     where (${search}::text is null or i.name ilike ${search} or i.description ilike ${search})
       and (${name}::text is null or i.name = ${name})
     order by i.registered desc, i.name`);
  return rows.map((r) => {
    const breakerState = r.breaker_state ?? 'closed';
    const lastRun = r.last_id
      ? {
          id: r.last_id,
          status: r.last_status!,
          createdAt: new Date(r.last_created!),
          finishedAt: r.last_finished ? new Date(r.last_finished) : null,
        }
      : null;
    const incidents: OpenIncidentSummary[] = (r.incidents ?? []).map((x) => ({
      kind: x.kind,
      openedAt: new Date(x.opened_at),
      eventCount: x.event_count,
      failedRuns: x.failed_runs,
      failedEvents: x.failed_events,
      failedEventsNow: x.failed_now ?? null,
      awaitingRetry: x.awaiting_retry ?? null,
      recoveredAt: x.recovered_at ? new Date(x.recovered_at) : null,
    }));
    const facts = {
      registered: r.registered,
      breakerState,
      lastStatus: lastRun?.status ?? null,
      openIncidents: r.open_incidents,
      credentialsFailing: r.credentials_failing_since !== null,
    };
    const state = deriveState({ ...facts, paused: r.paused });
    const health = deriveState({ ...facts, paused: false });
    return {
      name: r.name,
      description: r.description,
      registered: r.registered,
      paused: r.paused,
      schedule: r.schedule,
      timezone: r.timezone,
      breakerKey: r.breaker_key,
      breakerState,
      breakerOpenUntil: r.open_until ? new Date(r.open_until) : null,
      breakerForcedOpen: r.forced_open ?? false,
      breakerFailures: r.consecutive_failures ?? 0,
      lastRun,
      finished24h: r.finished,
      succeeded24h: r.succeeded,
      successRate24h: r.finished > 0 ? r.succeeded / r.finished : null,
      openIncidents: r.open_incidents,
      failingReasons: health === 'failing' ? failingReasons({ name: r.name, lastRun, incidents, awaitingSince }) : [],
      credentialsError: r.credentials_error,
      credentialsFailingSince: r.credentials_failing_since ? new Date(r.credentials_failing_since) : null,
      state,
      health,
    };
  });
}

export interface BreakerView {
  key: string;
  state: 'closed' | 'open' | 'half_open';
  consecutiveFailures: number;
  openedAt: Date | null;
  openUntil: Date | null;
  forcedOpen: boolean;
  lastError: string | null;
  lastFailureAt: Date | null;
  /** Integrations that share this breaker (same external system). */
  integrations: string[];
  /** Each of those integrations' configured breakerFailures: the consecutive failures that open it. */
  failureThresholds: Record<string, number>;
}

/** The breaker as operators see it; a key nobody has tripped yet reads as closed. */
export async function getBreakerView(db: DatabaseOrTransaction, params: { key: string }): Promise<BreakerView> {
  const rows = await db.execute<{
    state: 'closed' | 'open' | 'half_open' | null;
    consecutive_failures: number | null;
    opened_at: string | null;
    open_until: string | null;
    forced_open: boolean | null;
    last_error: string | null;
    last_failure_at: string | null;
    names: string[] | null;
    thresholds: Record<string, number> | null;
  }>(sql`
    select b.state, b.consecutive_failures, b.opened_at, b.open_until, b.forced_open, b.last_error, b.last_failure_at,
           (select array_agg(i.name order by i.name) from integrations i where i.breaker_key = ${params.key}) as names,
           (select json_object_agg(i.name, i.breaker_failures) from integrations i where i.breaker_key = ${params.key}) as thresholds
      from (select ${params.key}::text as key) k
      left join breakers b on b.key = k.key`);
  const r = rows[0];
  const date = (v: string | null) => (v ? new Date(v) : null);
  return {
    key: params.key,
    state: r?.state ?? 'closed',
    consecutiveFailures: r?.consecutive_failures ?? 0,
    openedAt: date(r?.opened_at ?? null),
    openUntil: date(r?.open_until ?? null),
    forcedOpen: r?.forced_open ?? false,
    lastError: r?.last_error ?? null,
    lastFailureAt: date(r?.last_failure_at ?? null),
    integrations: r?.names ?? [],
    failureThresholds: r?.thresholds ?? {},
  };
}
