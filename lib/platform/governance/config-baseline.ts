import { sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { integrations } from '../../../db/schema';
import { appendAudit } from './audit';
import { COLUMN_FIELDS, type ColumnField } from './config-fields';

/**
 * The configuration an integration was registered with, in the audit trail. syncRegistry inserts a
 * new integration with its code defaults and writes no config row for them (nobody changed
 * anything), so a field never edited through the console had nothing in the trail to compare with,
 * and a direct `update integrations set retry_delays = …` of it went unnoticed by the configuration
 * check (config-drift.ts). One 'register' action row per integration holds every audited column as
 * stored then (`baseline`, field → value, in the form `to_jsonb` reads the row): the check compares
 * a field with no config row against it. An integration registered before these rows existed gets
 * one at the next start-up, holding what is stored then (`source: 'recorded'`).
 */

/** The action a baseline row is recorded under. */
export const REGISTER_ACTION = 'register' as const;

export interface ConfigBaseline {
  /** 'registered': written when the integration was inserted; 'recorded': at a later start-up, for one registered before. */
  source: 'registered' | 'recorded';
  baseline: Partial<Record<ColumnField, unknown>>;
}

/** The baseline of a row as `to_jsonb(integrations)` reads it. */
export function baselineOf(row: Record<string, unknown>): ConfigBaseline['baseline'] {
  return Object.fromEntries(COLUMN_FIELDS.map((f) => [f, row[integrations[f].name] ?? null]));
}

/**
 * Writes the 'register' row of every integration that has none, in the caller's transaction
 * (syncRegistry's, after its inserts): `registered` names the integrations inserted by it; `at`
 * dates the rows (the demo seed registers its integrations as of their backdated history).
 */
export async function recordConfigBaselines(
  db: DatabaseOrTransaction,
  params: { registered: readonly string[]; at?: Date },
): Promise<string[]> {
  const rows = await db.execute<{ name: string; row: Record<string, unknown> }>(sql`
    select i.name, to_jsonb(i) as row from integrations i
     where not exists (select 1 from audit_log a
                        where a.integration = i.name and a.kind = 'action' and a.field_name = ${REGISTER_ACTION})
     order by i.name`);
  if (rows.length === 0) return [];
  await appendAudit(db, {
    actor: 'system',
    changedAt: params.at,
    entries: rows.map((r) => ({
      kind: 'action' as const,
      integration: r.name,
      fieldName: 'register' satisfies typeof REGISTER_ACTION,
      newValue: {
        source: params.registered.includes(r.name) ? 'registered' : 'recorded',
        baseline: baselineOf(r.row),
      } satisfies ConfigBaseline,
    })),
  });
  return rows.map((r) => r.name);
}
