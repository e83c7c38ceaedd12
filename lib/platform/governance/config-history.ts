import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { integrations } from '../../../db/schema';
import {
  applyConfigPatch,
  COLUMN_FIELDS,
  columnChanges,
  notFound,
  parseSettings,
  staleMessage,
  ZConfigPatch,
  type ColumnChange,
  type ConfigDefinition,
  type ConfigUpdateResult,
  type TConfigPatch,
} from './config';
import { REGISTER_ACTION, type ConfigBaseline } from './config-baseline';
import type { Keyring } from './crypto';

/**
 * The configuration as of any past time, rebuilt from the audit trail, and revert to it.
 *
 * For each field, the value at T is the new_value of its last audited change at or before T; if it
 * only changed after T, the old_value of its first change after T; if it never changed, the value
 * the integration was registered with (its 'register' row, config-baseline.ts), not today's: a
 * field changed in the database around the console (config-drift.ts) is then put back by a revert
 * like any other. Today's value only for a field the baseline does not hold (an integration
 * registered before baselines were recorded, a column added since). This holds because every
 * config change goes through the config service, which audits old and new values. Changes of one
 * integration are ordered by audit id (the config service serialises them with a row lock; ids
 * follow commit order), T is compared with changed_at to the millisecond. Secrets are not part of it: they are never in the trail, so never reverted.
 */

/** The fields configAsOf returns (the configuration's columns: ZConfigPatch's, without secrets). */
export const HISTORY_FIELDS = COLUMN_FIELDS;

interface FieldValueRow extends Record<string, unknown> {
  side: 'before' | 'after' | 'register';
  field_name: string;
  value: unknown;
  absent: boolean;
}

/**
 * The integration's configuration at `at` (the state right after the changes made at or before
 * it, to the millisecond: pass an audit row's changedAt to get the version it created). Before the
 * integration existed this is the configuration it started with. Throws when it does not exist.
 */
export async function configAsOf(db: DatabaseOrTransaction, params: { integration: string; at: Date }): Promise<Record<string, unknown>> {
  const [row] = await db.select().from(integrations).where(eq(integrations.name, params.integration));
  if (!row) throw new Error(`Integration '${params.integration}' does not exist: check the name in the integrations list`);
  // One round trip: the last change of each field up to `at`, and the first change after it.
  const bound = sql`${params.at.toISOString()}::timestamptz + interval '1 millisecond'`;
  const rows = await db.execute<FieldValueRow>(sql`
    (select distinct on (field_name) 'before' as side, field_name, new_value as value, new_value is null as absent
       from audit_log
      where kind = 'config' and integration = ${row.name} and changed_at < ${bound}
      order by field_name, id desc)
    union all
    (select distinct on (field_name) 'after' as side, field_name, old_value as value, old_value is null as absent
       from audit_log
      where kind = 'config' and integration = ${row.name} and changed_at >= ${bound}
      order by field_name, id asc)
    union all
    (select 'register', field_name, new_value, false
       from audit_log
      where kind = 'action' and integration = ${row.name} and field_name = ${REGISTER_ACTION}
      order by id desc limit 1)
  `);
  const before = new Map<string, FieldValueRow>();
  const after = new Map<string, FieldValueRow>();
  let baseline: ConfigBaseline['baseline'] = {};
  for (const r of rows) {
    if (r.side === 'register') baseline = (r.value as ConfigBaseline | null)?.baseline ?? {};
    else (r.side === 'before' ? before : after).set(r.field_name, r);
  }
  /** What a field never changed holds: its registered value, or today's when the baseline lacks it. */
  const unchanged = (field: Exclude<(typeof HISTORY_FIELDS)[number], 'settings'>) =>
    Object.hasOwn(baseline, field) ? baseline[field] : row[field];
  const pick = (field: string): { known: true; absent: boolean; value: unknown } | { known: false } => {
    const r = before.get(field) ?? after.get(field);
    return r ? { known: true, absent: r.absent, value: r.value } : { known: false };
  };

  const config: Record<string, unknown> = {};
  for (const field of HISTORY_FIELDS) {
    if (field === 'settings') continue;
    const v = pick(field);
    config[field] = v.known ? (v.absent ? null : v.value) : (unchanged(field) ?? null);
  }
  // A time limit never audited on a row the registry has not filled yet (migration 0030, NULL):
  // not part of the version, so a revert leaves it as it is.
  if (config.attemptTimeout === null) delete config.attemptTimeout;
  // retry_budget is numeric: the trail holds the number as it was saved.
  if (typeof config.retryBudget === 'string') config.retryBudget = Number(config.retryBudget);

  const settings: Record<string, unknown> = {
    ...((Object.hasOwn(baseline, 'settings') ? baseline.settings : row.settings) as Record<string, unknown> | null),
  };
  const keys = new Set([
    ...Object.keys(settings),
    ...[...before.keys(), ...after.keys()].filter((f) => f.startsWith('settings.')).map((f) => f.slice(9)),
  ]);
  for (const key of keys) {
    const v = pick(`settings.${key}`);
    if (!v.known) continue;
    if (v.absent) delete settings[key];
    else settings[key] = v.value;
  }
  config.settings = Object.fromEntries(
    Object.keys(settings)
      .sort()
      .map((k) => [k, settings[k]]),
  );
  return config;
}

/**
 * The moment that stands for the configuration before its first recorded change (the original
 * one, as the registry created it), or null when nothing was ever changed and nothing was recorded
 * at registration. Never changed but registered: the registration's moment, so the original
 * configuration can still be shown and reverted to (a field changed around the console goes back).
 * Pass it to configAsOf or revertToVersion like any change's changedAt.
 */
export async function originalConfigMoment(db: DatabaseOrTransaction, params: { integration: string }): Promise<Date | null> {
  const [first] = await db.execute<{ at: string | null }>(sql`
    select coalesce(
             (select min(changed_at) from audit_log where kind = 'config' and integration = ${params.integration}),
             (select max(changed_at) + interval '1 millisecond' from audit_log
               where kind = 'action' and integration = ${params.integration} and field_name = ${REGISTER_ACTION})
           )::text as at`);
  if (!first?.at) return null;
  // changed_at has microseconds; configAsOf compares to the millisecond, so go one before.
  return new Date(Math.floor(new Date(first.at).getTime()) - 1);
}

const DATE_IN_WORDS = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });

/**
 * The version that was current at `at`, in words for messages: "the original configuration" or
 * "the version after grace@example.com changed retryDelays on 21 November 2026".
 */
export async function describeVersion(db: DatabaseOrTransaction, params: { integration: string; at: Date }): Promise<string> {
  const bound = sql`${params.at.toISOString()}::timestamptz + interval '1 millisecond'`;
  const [last] = await db.execute<{ changed_by: string; field_name: string; changed_at: string }>(sql`
    select changed_by, field_name, changed_at::text from audit_log
     where kind = 'config' and integration = ${params.integration} and changed_at < ${bound}
     order by changed_at desc, id desc limit 1`);
  if (!last) return 'the original configuration';
  return `the version after ${last.changed_by} changed ${last.field_name} on ${DATE_IN_WORDS.format(new Date(last.changed_at))}`;
}

/** The configuration at `at` as a patch the config service accepts, or why that version no longer is valid. */
async function pastPatch(
  db: DatabaseOrTransaction,
  params: { integration: string; at: Date; version: string },
): Promise<{ ok: true; patch: TConfigPatch } | { ok: false; message: string }> {
  const parsed = ZConfigPatch.safeParse(await configAsOf(db, { integration: params.integration, at: params.at }));
  if (parsed.success) return { ok: true, patch: parsed.data };
  const issue = parsed.error.issues[0];
  return {
    ok: false,
    message: `Not reverted: ${params.version} is no longer valid (${issue.path.join('.')}: ${issue.message}); edit the fields instead`,
  };
}

export interface RevertPlan {
  /** What the revert changes, field by field: `oldValue` is today's value, `newValue` the one it goes back to. Empty: nothing to change. */
  changes: ColumnChange[];
  /** Secrets set or replaced since then, by name: a revert keeps them as they are (their values are never in the trail). */
  secretsChangedSince: string[];
  /** Why the revert would be refused (that version no longer passes validation), or null. */
  refusal: string | null;
}

/**
 * What revertToVersion would change, for the dialog that asks before it does: the same fields,
 * compared the same way (columnChanges), read without a lock. A change saved in between makes the
 * revert itself refuse as stale, so the list shown is never applied to a configuration it was not
 * computed from.
 */
export async function planRevert(
  db: DatabaseOrTransaction,
  params: { integration: string; at: Date; definition: ConfigDefinition },
): Promise<RevertPlan> {
  const [row] = await db.select().from(integrations).where(eq(integrations.name, params.integration));
  if (!row) throw new Error(`Integration '${params.integration}' does not exist: check the name in the integrations list`);
  const bound = sql`${params.at.toISOString()}::timestamptz + interval '1 millisecond'`;
  const version = await describeVersion(db, { integration: row.name, at: params.at });
  const [past, secretRows] = await Promise.all([
    pastPatch(db, { integration: row.name, at: params.at, version }),
    db.execute<{ name: string }>(sql`
      select distinct substr(field_name, 8) as name from audit_log
       where kind = 'config' and integration = ${row.name} and field_name like 'secret.%' and changed_at >= ${bound}
       order by 1`),
  ]);
  const secretsChangedSince = secretRows.map((r) => r.name);
  if (!past.ok) return { changes: [], secretsChangedSince, refusal: past.message };
  const settings = parseSettings(params.definition, past.patch.settings, row.settings);
  if (!settings.ok) {
    const [path, message] = Object.entries(settings.fieldErrors)[0];
    return { changes: [], secretsChangedSince, refusal: `Not reverted: ${version} no longer passes validation: ${path} ${message}` };
  }
  return { changes: columnChanges(row, { ...past.patch, settings: settings.settings }).changes, secretsChangedSince, refusal: null };
}

export interface RevertToVersionParams {
  integration: string;
  /**
   * The moment to go back to: the changedAt of the audit row that made that version, or
   * originalConfigMoment for the configuration before the first change. A moment before the
   * first change (or before the integration existed) is the original configuration.
   */
  at: Date;
  expectedVersion: number;
  actor: string;
  correlationId?: string;
  definition: ConfigDefinition;
  keyring: Keyring;
}

/**
 * Makes the configuration what it was at `at`, as a new audited change (one row per field it
 * changes, plus a 'revert' action row naming the time); stale and no-op rules as for any edit.
 * Secrets are not reverted (their values are never in the trail): the current ones stay.
 * Messages name the version in words (who changed what, on which day), not as a timestamp.
 */
export async function revertToVersion(db: DatabaseOrTransaction, params: RevertToVersionParams): Promise<ConfigUpdateResult> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(integrations).where(eq(integrations.name, params.integration)).for('update');
    if (!row) return notFound(params.integration);
    if (row.version !== params.expectedVersion) return { ok: false, code: 'stale', message: staleMessage(row) };
    const version = await describeVersion(tx, { integration: row.name, at: params.at });
    const past = await pastPatch(tx, { integration: row.name, at: params.at, version });
    if (!past.ok) return { ok: false, code: 'invalid_input', message: past.message };
    const result = await applyConfigPatch(tx, {
      ...params,
      correlationId: params.correlationId ?? randomUUID(),
      patch: past.patch,
      extraAudit: (changed) => [
        { kind: 'action', integration: row.name, fieldName: 'revert', newValue: { to: params.at.toISOString(), version, fields: changed } },
      ],
    });
    if (!result.ok && result.code === 'invalid_input') {
      return { ...result, message: result.message.replace(/^Not saved:/, `Not reverted: ${version} no longer passes validation:`) };
    }
    return result;
  });
}
