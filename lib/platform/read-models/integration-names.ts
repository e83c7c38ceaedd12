import { sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { AppError } from '../errors';
import { nearestName, unknownNameMessage } from '../params';
import { clip } from '../words';

/**
 * The names a list's `integration` filter can take, so a name that is none (`crm_sync` for
 * `crm-sync`) is said as such rather than answered with an empty list that reads "no failed runs".
 */

/** The lists filtered by integration: each may hold names of its own beside the integrations'. */
export type IntegrationList = 'runs' | 'alerts' | 'audit';

/**
 * The distinct `integration` values of a table, by a walk of its index that leads on the column
 * (one probe per name, not a read of every row): `alerts_integration_created_idx`,
 * `audit_integration_changed_at_idx`.
 */
function distinctIntegrations(table: 'alerts' | 'audit_log') {
  return sql.raw(`
    with recursive listed(name) as (
      (select integration from ${table} where integration is not null order by integration limit 1)
      union all
      select (select a.integration from ${table} a where a.integration > listed.name order by a.integration limit 1)
        from listed where listed.name is not null
    )
    select name from listed where name is not null`);
}
const LISTED_NAMES = { alerts: distinctIntegrations('alerts'), audit: distinctIntegrations('audit_log') } as const;

/**
 * Every name `list` can be filtered by: each integration with a row (registered in this build or
 * not: runs of an integration removed from the code stay listable by its name), and the names the
 * list holds rows of beside those (the alerts of the audit trail's own incidents name
 * `audit-trail`). Runs need no more: a run's integration is a row of integrations (foreign key).
 */
export async function integrationFilterNames(db: DatabaseOrTransaction, params: { list: IntegrationList }): Promise<string[]> {
  const rows = await db.execute<{ name: string }>(sql`select name from integrations order by name`);
  const names = rows.map((r) => r.name);
  if (params.list === 'runs') return names;
  const listed = await db.execute<{ name: string }>(LISTED_NAMES[params.list]);
  return [...new Set([...names, ...listed.map((r) => r.name)])];
}

/**
 * Refuses (400) an `integration` filter of `list` that names nothing, with the name it probably
 * meant: what the API answers for `GET /api/runs?integration=crm_sync`.
 */
export async function requireKnownIntegration(
  db: DatabaseOrTransaction,
  params: { list: IntegrationList; integration: string | undefined },
): Promise<void> {
  if (params.integration === undefined) return;
  const names = await integrationFilterNames(db, { list: params.list });
  if (names.includes(params.integration)) return;
  const guess = nearestName(params.integration, names);
  const named = `No integration is named '${clip(params.integration, 40)}'`;
  throw new AppError('invalid_input', guess ? `${named}: did you mean '${guess}'?` : `${named}: GET /api/integrations lists them.`, {
    fieldErrors: { integration: unknownNameMessage('integration', params.integration, names) },
  });
}
