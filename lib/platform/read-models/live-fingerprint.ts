import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { CHECK_RUNNING } from '../governance/audit';
import { getBreakerView, listInventory, type BreakerView, type InventoryRow } from './inventory';
import { listRuns, overviewStats, type OverviewStats, type RunListItem } from './run-queries';

/**
 * Console pages left open follow what changes behind them: each renders with the fingerprint of
 * what it shows, polls GET /api/changes for the fingerprint of the same data as it stands, and
 * re-renders (router.refresh) only when the two differ. A poll costs the page's reads and a few
 * bytes; the page itself is rendered again only when something it shows changed.
 *
 * A page and the API build the fingerprint from the same parts (the `*Parts` functions below), the
 * page from the data it has just read, the API by reading it again (`liveFingerprint`).
 */
export const LIVE_VIEWS = ['overview', 'integrations', 'integration', 'alerts', 'audit'] as const;
export type LiveView = (typeof LIVE_VIEWS)[number];

/** How many of the newest alerts the alerts fingerprint covers (the page shows 30 at a time). */
const ALERTS_WATCHED = 100;

/** A short digest of JSON-able parts: equal digests, nothing on the page to update. */
export function fingerprint(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

/** The Overview: every integration's state and failing reasons, its counts and the 7-day chart. */
export function overviewParts(inventory: InventoryRow[], stats: OverviewStats): unknown {
  return { inventory, stats };
}

/** The Integrations list: every integration (the list's search and state filters are applied to these). */
export function integrationsParts(inventory: InventoryRow[]): unknown {
  return { inventory };
}

/**
 * An integration's page: its inventory row (header, state, schedule), its breaker, its recent runs,
 * and when the full audit check last ran (its drift notice clears once a check finds nothing).
 */
export function integrationParts(row: InventoryRow, breaker: BreakerView, runs: RunListItem[], auditCheckedAt: string | null): unknown {
  // json_object_agg keeps no order: the thresholds sorted, so an unchanged breaker reads the same.
  const failureThresholds = Object.fromEntries(Object.entries(breaker.failureThresholds).sort(([a], [b]) => a.localeCompare(b)));
  return { row, breaker: { ...breaker, failureThresholds }, runs, auditCheckedAt };
}

/** When the last full audit check ran (integrationParts). */
export async function auditCheckedAt(db: DatabaseOrTransaction): Promise<string | null> {
  const [row] = await db.execute<{ at: string | null }>(sql`select full_checked_at::text as at from audit_chain_state where id = 1`);
  return row?.at ?? null;
}

/** The alerts page: its channels and the newest alerts (optionally of one integration) with their deliveries so far. */
export async function alertsParts(db: DatabaseOrTransaction, params: { integration?: string } = {}): Promise<unknown> {
  const integration = params.integration ?? null;
  const [channels, alerts] = await Promise.all([
    db.execute<{ id: string; version: number; enabled: boolean }>(sql`select id, version, enabled from alert_channels order by id`),
    // alerts_created_id_idx (or alerts_integration_created_idx), then one range of
    // alert_deliveries_alert_idx per alert: a delivery attempt recorded, or the alert's status
    // settled, changes the fingerprint.
    db.execute<{ id: string; status: string; deliveries: number; last_at: string | null }>(sql`
      select a.id, a.status, d.n as deliveries, d.last_at
        from (select id, status from alerts
               where (${integration}::text is null or integration = ${integration})
               order by created_at desc nulls last, id desc nulls last
               limit ${ALERTS_WATCHED}) a
        cross join lateral (select count(*)::int as n, max(at)::text as last_at from alert_deliveries where alert_id = a.id) d`),
  ]);
  return { channels: [...channels], alerts: [...alerts] };
}

/**
 * The Audit page: the newest row of the trail, and the full verification's outcome, anchor and
 * pending request, and whether a check is running (a "Check now" shows its result when the worker has run it).
 */
export async function auditParts(db: DatabaseOrTransaction): Promise<unknown> {
  const [state] = await db.execute<Record<string, unknown>>(sql`
    select (select max(id) from audit_log)::text as newest, st.full_checked_at::text as checked_at, st.full_ok,
           st.anchor_seq, st.check_requested_at::text as requested_at, ${CHECK_RUNNING}::text as running_since
      from (select 1) one left join audit_chain_state st on st.id = 1`);
  return state ?? null;
}

/**
 * The fingerprint of a view as it stands now, read as its page reads it; null when the view's
 * subject does not exist (an integration not found).
 */
export async function liveFingerprint(db: DatabaseOrTransaction, params: { view: LiveView; integration?: string }): Promise<string | null> {
  switch (params.view) {
    case 'overview': {
      const [inventory, stats] = await Promise.all([listInventory(db), overviewStats(db)]);
      return fingerprint(overviewParts(inventory, stats));
    }
    case 'integrations':
      return fingerprint(integrationsParts(await listInventory(db)));
    case 'integration': {
      const name = params.integration ?? '';
      const [row] = await listInventory(db, { name });
      if (!row) return null;
      const [breaker, runs, checkedAt] = await Promise.all([
        getBreakerView(db, { key: row.breakerKey }),
        listRuns(db, { integration: name, limit: 20 }),
        auditCheckedAt(db),
      ]);
      return fingerprint(integrationParts(row, breaker, runs.items, checkedAt));
    }
    case 'alerts':
      return fingerprint(await alertsParts(db, { integration: params.integration }));
    case 'audit':
      return fingerprint(await auditParts(db));
  }
}
