import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { integrations } from '../../../db/schema';
import { clip } from '../words';
import { appendAudit, markAuditCheckRequested, type AuditEntry } from './audit';
import { auditValue, canonicalJson, notFound, parseSettings, ZConfigPatch, type ConfigDefinition, type ConfigUpdateResult } from './config';
import { integrationConfigDrift, type ConfigDriftFinding } from './config-drift';

/**
 * Keeps configuration written outside the console (an emergency `update integrations set …`, a
 * script) as the audited configuration, in one step: the trail records each drifted field's stored
 * value as a change by the admin who kept it, from the value it last recorded. Saving the same
 * value through the console writes nothing (nothing changed), so without this an admin had to
 * save another value and then the wanted one.
 *
 * Only an integration's configuration fields (columns and settings keys): a secret or a pause the
 * trail does not vouch for has its own fix (set it again, pause or resume). The values kept must
 * pass the checks a save makes (ZConfigPatch, the handler's settings schema): a value the console
 * would refuse is refused here too, and is put back with History's revert instead. The drift is
 * read again under the row's lock, so what is kept is what is stored, not what a page showed; the
 * full audit check is requested, so the drift notice clears within seconds.
 */
export async function keepDriftedConfig(
  db: DatabaseOrTransaction,
  params: {
    integration: string;
    /** What the admin was shown (driftToKeep's `seen`): the values kept must be these, field for field. */
    seen: Record<string, string>;
    actor: string;
    correlationId?: string;
    definition: ConfigDefinition;
  },
): Promise<ConfigUpdateResult> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(integrations).where(eq(integrations.name, params.integration)).for('update');
    if (!row) return notFound(params.integration);
    const drifted = (await integrationConfigDrift(tx, { name: row.name })).filter((f) => f.keep);
    if (drifted.length === 0)
      return {
        ok: false,
        code: 'invalid_input',
        message:
          'Nothing to keep: every configuration field is as the audit trail says (a credential or the paused state that differs has its own fix: set the credential again, or pause or resume). Reload the page.',
      };
    // Another direct write (or a save) since the page was shown: keep nothing the admin did not see.
    const now = seenOf(drifted);
    const moved = [...new Set([...Object.keys(now), ...Object.keys(params.seen)])].filter((f) => now[f] !== params.seen[f]);
    if (moved.length > 0)
      return {
        ok: false,
        code: 'stale',
        message: `Not kept: ${moved.map((f) => (f in now ? `${f} is now ${clip(now[f], 200)}` : `${f} is no longer changed outside the console`)).join('; ')}, not what this page showed. Reload and check the values again.`,
      };

    // The checks a save makes, on the values stored now.
    const patch: Record<string, unknown> = {};
    for (const f of drifted) {
      if (f.field.startsWith('settings.')) patch.settings = row.settings ?? {};
      else {
        const value = row[f.field as keyof typeof row];
        patch[f.field] = f.field === 'retryBudget' && typeof value === 'string' ? Number(value) : value;
      }
    }
    const refused: string[] = [];
    const parsed = ZConfigPatch.safeParse(patch);
    if (!parsed.success)
      for (const issue of parsed.error.issues) refused.push(`${issue.path.map(String).join('.') || 'configuration'} ${issue.message}`);
    const settings = patch.settings === undefined ? null : parseSettings(params.definition, patch.settings, row.settings);
    if (settings && !settings.ok) for (const [field, message] of Object.entries(settings.fieldErrors)) refused.push(`${field} ${message}`);
    if (refused.length > 0)
      return {
        ok: false,
        code: 'invalid_input',
        message: `Not kept: the stored ${refused.join('; ')}, which a save through the console would refuse. Put the audited value back instead: revert to the newest change on History.`,
      };

    const correlationId = params.correlationId ?? randomUUID();
    const entries: AuditEntry[] = drifted.map((f) => ({
      kind: 'config',
      integration: row.name,
      fieldName: f.field,
      oldValue: auditValue(f.keep!.audited),
      newValue: auditValue(f.keep!.stored),
    }));
    const fields = drifted.map((f) => f.field);
    entries.push({ kind: 'action', integration: row.name, fieldName: 'drift_kept', newValue: { fields } });
    const version = row.version + 1;
    await tx
      .update(integrations)
      .set({ version, updatedAt: sql`now()`, updatedBy: params.actor })
      .where(eq(integrations.name, row.name));
    await appendAudit(tx, { actor: params.actor, correlationId, entries });
    await markAuditCheckRequested(tx, { actor: params.actor });
    return { ok: true, version, changed: fields };
  });
}

/** A drifted field's stored value as the page shows it and sends it back: canonical JSON, "not set" for a settings key not set. */
function seenOf(findings: ConfigDriftFinding[]): Record<string, string> {
  return Object.fromEntries(
    findings.filter((f) => f.keep).map((f) => [f.field, f.keep!.stored === undefined ? 'not set' : canonicalJson(f.keep!.stored)]),
  );
}

/**
 * The fields keepDriftedConfig would keep now, with their stored values (for the confirmation an
 * admin reads), and `seen`, to send back with the request: empty when there is nothing to keep.
 */
export async function driftToKeep(
  db: DatabaseOrTransaction,
  params: { integration: string },
): Promise<{ fields: { field: string; stored: string; audited: string }[]; seen: Record<string, string> }> {
  const drifted = (await integrationConfigDrift(db, { name: params.integration })).filter((f) => f.keep);
  const shown = (value: unknown) => (value === undefined ? 'not set' : clip(canonicalJson(value), 300));
  return {
    fields: drifted.map((f) => ({ field: f.field, stored: shown(f.keep!.stored), audited: shown(f.keep!.audited) })),
    seen: seenOf(drifted),
  };
}
