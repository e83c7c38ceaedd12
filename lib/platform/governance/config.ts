import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { DatabaseOrTransaction, Transaction } from '../../../db/client';
import { alertChannels, integrations, type Integration } from '../../../db/schema';
import { parseDuration, zDuration } from '../duration';
import type { Refusal } from '../errors';
import { compileMapping, isCompiledMapping, ZMapping, type Mapping } from '../mapping';
import { issueMessage, objectKeysAt, unknownFieldMessage } from '../params';
import { DEFAULT_ATTEMPT_TIMEOUT, MAX_ATTEMPT_TIMEOUT, MIN_ATTEMPT_TIMEOUT, SECRET_NAME } from '../registry';
import { canonicalTimezone, describeCron, validateCron, validateTimezone } from '../triggers/cron';
import { exactTime, formatRelative } from '../when';
import { clip } from '../words';
import { appendAudit, type AuditEntry } from './audit';
import { COLUMN_FIELDS, CONFIG_FIELDS, type ColumnField, type ConfigField } from './config-fields';
import type { Keyring } from './crypto';
import { secretStatus, writeSecrets, type SecretStatus } from './secrets';

/**
 * The config service: every change to an integration's configuration goes through
 * updateIntegrationConfig, which in one transaction locks the row, checks the version the editor
 * loaded (a stale edit is refused with who changed it and when, never merged), validates (zod,
 * the handler's settings schema, the mapping compiler, existing alert channels), writes, and
 * appends one audit row per changed field. An edit that changes nothing writes nothing; a secret
 * given is always a change (lib/platform/governance/secrets.ts says why).
 *
 * Audit values: a value that is null is stored as JSON null; a settings key or secret that did
 * not exist (before) or no longer exists (after) is stored as SQL NULL. configAsOf relies on
 * the difference. Secret values never enter the trail: 'secret.<name>' rows say set/replaced.
 */

/** Structural: an integration definition (lib/platform/contract.ts) satisfies it. */
export type ConfigDefinition = { settings: z.ZodType; secrets?: readonly string[] };

export type ResumePolicy = 'skip' | 'run_once';
export type AlertRouting = { channelIds: string[] | 'all' };

export { CONFIG_FIELDS, COLUMN_FIELDS, type ColumnField, type ConfigField };

const ZSchedule = z
  .string()
  .transform((value) => value.trim().replace(/\s+/g, ' '))
  .superRefine((value, ctx) => {
    const check = validateCron(value);
    if (!check.ok) ctx.addIssue({ code: 'custom', message: check.message });
  });

/** Stored as its canonical name ('europe/berlin' → 'Europe/Berlin'), which pg-boss and the console use. */
const ZTimezone = z
  .string()
  .superRefine((value, ctx) => {
    const check = validateTimezone(value);
    if (!check.ok) ctx.addIssue({ code: 'custom', message: check.message });
  })
  .transform((value) => canonicalTimezone(value));

export const ZAlertRouting = z
  .object({
    channelIds: z.union([
      z.literal('all'),
      z.array(z.uuid({ message: 'must be alert channel ids' })).max(50, 'may name at most 50 channels'),
    ]),
  })
  .strict();

const ATTEMPT_TIMEOUT_RANGE = `use ${MIN_ATTEMPT_TIMEOUT} to ${MAX_ATTEMPT_TIMEOUT}, e.g. 45s, 90m or 2h`;

/**
 * An attempt's time limit: a duration from 1s to 3h (registry.ts: below the runs queue's expiry),
 * stored as typed (trimmed). Every refusal names the allowed range.
 */
const ZAttemptTimeout = z
  .string({ message: `must be a duration: ${ATTEMPT_TIMEOUT_RANGE}` })
  .transform((value) => value.trim())
  .superRefine((value, ctx) => {
    if (value === '') {
      ctx.addIssue({ code: 'custom', message: `is empty: enter a time limit, ${ATTEMPT_TIMEOUT_RANGE}` });
      return;
    }
    const shown = clip(value, 40);
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `'${shown}' is not a duration: ${ATTEMPT_TIMEOUT_RANGE} (units: ms, s, m, h)` });
      return;
    }
    if (ms < parseDuration(MIN_ATTEMPT_TIMEOUT) || ms > parseDuration(MAX_ATTEMPT_TIMEOUT))
      ctx.addIssue({ code: 'custom', message: `'${shown}' is out of range: ${ATTEMPT_TIMEOUT_RANGE}` });
  });

/**
 * A record that refuses the key `__proto__`: zod's record leaves it out without an issue, so a
 * patch naming it once saved nothing and answered ok. `what` names the key in the message.
 */
function ownRecord<V extends z.ZodType>(key: z.ZodType<string>, value: V, what: string, message: string) {
  return z.preprocess(
    (raw, ctx) => {
      if (raw && typeof raw === 'object' && Object.hasOwn(raw, '__proto__')) {
        ctx.addIssue({ code: 'custom', path: ['__proto__'], message: `is not ${what}`, input: raw });
      }
      return raw;
    },
    z.record(key, value, { message }),
  );
}

export const ZConfigPatch = z
  .object({
    schedule: ZSchedule.nullable(),
    timezone: ZTimezone,
    retryDelays: z
      .array(zDuration({ min: '1s', max: '24h' }))
      .min(1, 'needs at least one delay, e.g. ["30s", "2m", "5m"]')
      .max(10, 'may have at most 10 delays (11 attempts)'),
    breakerFailures: z
      .number({ message: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(100, 'must be at most 100'),
    breakerCooldown: zDuration({ min: '1s', max: '1h' }),
    retryBudget: z
      .number({ message: 'must be a number from 0 to 1, or null for no budget' })
      // Said in both units: the API takes a fraction, the console's field a percentage.
      .min(0, 'must be at least 0 (0% of attempts)')
      .max(1, 'must be at most 100% of attempts (1 as a fraction)')
      .transform((value) => Math.round(value * 1000) / 1000)
      .nullable(),
    attemptTimeout: ZAttemptTimeout,
    resumePolicy: z.enum(['skip', 'run_once'], { message: "must be 'skip' or 'run_once'" }),
    settings: ownRecord(z.string(), z.unknown(), 'a setting of this integration', 'must be an object of settings'),
    secrets: ownRecord(
      z.string().regex(SECRET_NAME, 'secret names are letters, digits and _'),
      z
        .string({ message: 'must be text' })
        .min(1, 'is empty: enter the new value, or leave the secret out to keep it')
        // A blank value replaced a working secret and the next run failed with invalid_client.
        .refine((value) => value.trim() !== '', 'is only whitespace: enter the new value, or leave the secret out to keep it')
        .max(10_000, 'is longer than 10 000 characters'),
      'a secret name: secret names are letters, digits and _',
      'must be an object of secret names and values',
    ),
    mapping: ZMapping.nullable(),
    alertRouting: ZAlertRouting,
  })
  .partial()
  .strict();
export type TConfigPatch = z.infer<typeof ZConfigPatch>;

// The patch accepts exactly the configuration fields: a compile error here means they drifted.
type PatchDrift = Exclude<keyof TConfigPatch, ConfigField> | Exclude<ConfigField, keyof TConfigPatch>;
const patchMatchesFields: [PatchDrift] extends [never] ? true : { drift: PatchDrift } = true;
void patchMatchesFields;

export type ConfigUpdateResult =
  { ok: true; version: number; changed: string[] } | (Refusal & { code: 'not_found' | 'stale' | 'invalid_input' });

export interface UpdateIntegrationConfigParams {
  integration: string;
  /** The version the editor loaded (getIntegrationConfig().version). */
  expectedVersion: number;
  /** Unvalidated input from the editor: parsed here with ZConfigPatch. */
  patch: unknown;
  actor: string;
  correlationId?: string;
  definition: ConfigDefinition;
  keyring: Keyring;
  /**
   * Only check: every refusal the save would give (stale version, each field), and on success the
   * fields it would change, writing nothing. The editor's Review step, so a dialog never offers to
   * save what the save would refuse.
   */
  checkOnly?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** JSON with sorted keys: jsonb does not keep key order, so equality must not depend on it. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v as object)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]]),
        )
      : v,
  );
}

function same(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** undefined = did not exist (SQL NULL); null = the value null (JSON null). */
export function auditValue(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (value === null) return sql`'null'::jsonb`;
  return value;
}

function fieldErrorsFrom(issues: readonly z.core.$ZodIssue[], prefix = ''): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        errors[[prefix, ...issue.path.map(String), key].filter(Boolean).join('.')] = prefix
          ? 'is not a known setting of this integration'
          : issue.path.length === 0
            ? `is not a configuration field: use ${CONFIG_FIELDS.join(', ')}`
            : // A key inside a field (alertRouting.extra) is no field of its own: name the ones it has.
              unknownFieldMessage(objectKeysAt(ZConfigPatch, issue.path));
      }
      continue;
    }
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || prefix || 'config';
    // In words, not zod's notation; a message never repeats a huge input back at the editor.
    errors[clip(path, 120)] ??= clip(issueMessage(issue), 300);
  }
  return errors;
}

function invalid(fieldErrors: Record<string, string>): ConfigUpdateResult {
  const entries = Object.entries(fieldErrors);
  const [path, message] = entries[0];
  const more = entries.length > 1 ? ` (and ${entries.length - 1} more)` : '';
  return { ok: false, code: 'invalid_input', message: `Not saved: ${path} ${message}${more}`, fieldErrors };
}

/** The refusal of a change to an integration that has no row. */
export function notFound(integration: string): ConfigUpdateResult {
  return { ok: false, code: 'not_found', message: `Integration '${integration}' does not exist: check the name in the integrations list` };
}

/** Who saved first and when: "Changed by bob@… 3 minutes ago (2026-11-30 12:00:00 UTC); reload to see their change". */
export function staleMessage(row: Pick<Integration, 'updatedBy' | 'updatedAt'>, now = new Date()): string {
  return `Changed by ${row.updatedBy} ${formatRelative(row.updatedAt, now.getTime())} (${exactTime(row.updatedAt)}); reload to see their change`;
}

type ColumnChanges = Partial<Pick<Integration, ColumnField>>;

/** The column fields written as they are (settings are audited per key, mapping compiled first). */
const SIMPLE_FIELDS = COLUMN_FIELDS.filter((f): f is Exclude<ColumnField, 'settings' | 'mapping'> => f !== 'settings' && f !== 'mapping');

/**
 * A patch's settings checked against the handler's schema (its defaults and transforms applied).
 * A schema that is not strict (z.object strips what it does not declare) would drop a misspelt
 * key and answer ok: a key it dropped is refused unless it is among the `stored` settings (a
 * setting the handler no longer has, which the form sends back and the save removes).
 */
export function parseSettings(
  definition: ConfigDefinition,
  raw: unknown,
  stored: Record<string, unknown> | null = {},
): { ok: true; settings: Record<string, unknown> | undefined } | { ok: false; fieldErrors: Record<string, string> } {
  if (raw === undefined) return { ok: true, settings: undefined };
  const parsed = definition.settings.safeParse(raw);
  if (!parsed.success) {
    const fieldErrors = fieldErrorsFrom(parsed.error.issues, 'settings');
    // A save's settings replace the stored ones (a key left out is removed): a required one left
    // out is named as such, not as zod's "expected string, received undefined".
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
      for (const issue of parsed.error.issues) {
        const [key] = issue.path;
        if (issue.path.length === 1 && typeof key === 'string' && !Object.hasOwn(raw, key) && issue.code === 'invalid_type')
          fieldErrors[`settings.${key}`] =
            `is required: settings are saved as a whole, so send every setting (${Object.hasOwn(stored ?? {}, key) ? `its current value is ${clip(JSON.stringify((stored ?? {})[key]), 100)}` : 'it has no value yet'})`;
      }
    }
    return { ok: false, fieldErrors };
  }
  if (!parsed.data || typeof parsed.data !== 'object' || Array.isArray(parsed.data))
    return { ok: false, fieldErrors: { settings: 'must be an object of settings' } };
  const settings = parsed.data as Record<string, unknown>;
  const unknown: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw && typeof raw === 'object' ? raw : {})) {
    if (value !== undefined && !Object.hasOwn(settings, key) && !Object.hasOwn(stored ?? {}, key))
      unknown[`settings.${key}`] = 'is not a known setting of this integration';
  }
  if (Object.keys(unknown).length > 0) return { ok: false, fieldErrors: unknown };
  return { ok: true, settings };
}

/**
 * One field a patch changes: its audit name (`schedule`, `settings.batchSize`, `mapping`) and its
 * value before and after; undefined = a settings key that did not exist (before) or no longer does.
 */
export interface ColumnChange {
  fieldName: string;
  oldValue: unknown;
  newValue: unknown;
}

/**
 * What a validated patch (settings already checked by parseSettings) changes in the row's columns,
 * field by field, in the audit's order; secrets aside. The save writes and audits exactly these, and
 * the revert dialog lists them before anyone confirms (planRevert).
 */
export function columnChanges(row: Integration, patch: Omit<TConfigPatch, 'secrets'>): { columns: ColumnChanges; changes: ColumnChange[] } {
  const columns: ColumnChanges = {};
  const changes: ColumnChange[] = [];
  for (const field of SIMPLE_FIELDS) {
    const next = patch[field];
    if (next === undefined || same(row[field], next)) continue;
    (columns as Record<string, unknown>)[field] = next;
    changes.push({ fieldName: field, oldValue: row[field], newValue: next });
  }
  const settings = patch.settings;
  if (settings) {
    const before = row.settings ?? {};
    const keys = [...new Set([...Object.keys(before), ...Object.keys(settings)])].sort();
    let anyChanged = false;
    for (const key of keys) {
      const had = Object.hasOwn(before, key);
      const has = Object.hasOwn(settings, key);
      if (had && has && same(before[key], settings[key])) continue;
      anyChanged = true;
      changes.push({ fieldName: `settings.${key}`, oldValue: had ? before[key] : undefined, newValue: has ? settings[key] : undefined });
    }
    if (anyChanged) columns.settings = settings;
  }
  if (patch.mapping !== undefined && !same(row.mapping ?? null, patch.mapping)) {
    columns.mapping = patch.mapping;
    changes.push({ fieldName: 'mapping', oldValue: row.mapping ?? null, newValue: patch.mapping });
  }
  return { columns, changes };
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/**
 * Applies a validated patch inside the caller's transaction (used by updateIntegrationConfig and
 * revertToVersion). Locks the row, checks the version, validates against the handler, writes,
 * audits.
 */
export async function applyConfigPatch(
  tx: Transaction,
  params: Omit<UpdateIntegrationConfigParams, 'patch'> & { patch: TConfigPatch; extraAudit?: (changed: string[]) => AuditEntry[] },
): Promise<ConfigUpdateResult> {
  const [row] = await tx.select().from(integrations).where(eq(integrations.name, params.integration)).for('update');
  if (!row) return notFound(params.integration);
  if (row.version !== params.expectedVersion) return { ok: false, code: 'stale', message: staleMessage(row) };

  const patch = params.patch;
  const fieldErrors: Record<string, string> = {};

  const parsedSettings = parseSettings(params.definition, patch.settings, row.settings);
  if (!parsedSettings.ok) Object.assign(fieldErrors, parsedSettings.fieldErrors);
  const settings = parsedSettings.ok ? parsedSettings.settings : undefined;

  const declared = params.definition.secrets ?? [];
  for (const name of Object.keys(patch.secrets ?? {})) {
    if (!declared.includes(name)) {
      fieldErrors[`secrets.${name}`] = declared.length
        ? `is not a secret of this integration: it declares ${declared.join(', ')}`
        : 'is not a secret of this integration: it declares none';
    }
  }

  if (patch.mapping) {
    const compiled = compileMapping(patch.mapping);
    if (!isCompiledMapping(compiled)) {
      // Keyed by target name (or 'filter' / 'key') so the editor can mark the expression.
      for (const e of compiled.errors) fieldErrors[`mapping.${e.field}`] = `position ${e.position}: ${e.message}`;
    }
  }

  if (patch.alertRouting && patch.alertRouting.channelIds !== 'all' && patch.alertRouting.channelIds.length > 0) {
    const wanted = [...new Set(patch.alertRouting.channelIds)];
    const found = await tx.select({ id: alertChannels.id }).from(alertChannels).where(inArray(alertChannels.id, wanted));
    const missing = wanted.filter((id) => !found.some((f) => f.id === id));
    if (missing.length)
      fieldErrors['alertRouting.channelIds'] = `channel(s) ${missing.join(', ')} do not exist: pick from the alert channels list`;
  }

  if (Object.keys(fieldErrors).length > 0) return invalid(fieldErrors);

  const { columns, changes } = columnChanges(row, { ...patch, settings });
  if (params.checkOnly) {
    const secretsNamed = Object.keys(patch.secrets ?? {}).map((name) => `secret.${name}`);
    return { ok: true, version: row.version, changed: [...changes.map((c) => c.fieldName), ...secretsNamed] };
  }
  const entries: AuditEntry[] = [];
  const audit = (fieldName: string, oldValue: unknown, newValue: unknown) =>
    entries.push({ kind: 'config', integration: row.name, fieldName, oldValue: auditValue(oldValue), newValue: auditValue(newValue) });
  for (const change of changes) audit(change.fieldName, change.oldValue, change.newValue);

  if (patch.secrets && Object.keys(patch.secrets).length > 0) {
    const writes = await writeSecrets(tx, { integration: row.name, values: patch.secrets, actor: params.actor, keyring: params.keyring });
    for (const w of writes)
      audit(`secret.${w.name}`, w.replaced ? { set: true } : undefined, w.replaced ? { replaced: true } : { set: true });
  }

  if (entries.length === 0) return { ok: true, version: row.version, changed: [] };

  const version = row.version + 1;
  // A tick of the previous schedule that pg-boss sends after this commit must not start a run.
  const rescheduled = columns.schedule !== undefined || columns.timezone !== undefined;
  await tx
    .update(integrations)
    .set({ ...columns, ...(rescheduled ? { scheduleSince: sql`now()` } : {}), version, updatedAt: sql`now()`, updatedBy: params.actor })
    .where(eq(integrations.name, row.name));
  const changed = entries.map((e) => e.fieldName);
  await appendAudit(tx, {
    actor: params.actor,
    correlationId: params.correlationId ?? randomUUID(),
    entries: [...entries, ...(params.extraAudit?.(changed) ?? [])],
  });
  return { ok: true, version, changed };
}

/** Validates and saves a change to one integration's configuration (see the module comment). */
export async function updateIntegrationConfig(
  db: DatabaseOrTransaction,
  params: UpdateIntegrationConfigParams,
): Promise<ConfigUpdateResult> {
  const parsed = ZConfigPatch.safeParse(params.patch);
  if (!parsed.success) {
    // Report the handler's settings errors in the same answer, so a form shows every problem at once.
    const errors = fieldErrorsFrom(parsed.error.issues);
    const rawSettings = (params.patch as { settings?: unknown } | null)?.settings;
    if (rawSettings !== undefined && !Object.keys(errors).some((key) => key.startsWith('settings'))) {
      const settings = params.definition.settings.safeParse(rawSettings);
      if (!settings.success) Object.assign(errors, fieldErrorsFrom(settings.error.issues, 'settings'));
    }
    return invalid(errors);
  }
  return db.transaction((tx) => applyConfigPatch(tx, { ...params, patch: parsed.data }));
}

export interface IntegrationConfigView {
  name: string;
  description: string;
  registered: boolean;
  orphanedAt: Date | null;
  paused: boolean;
  pausedAt: Date | null;
  /** Send back as expectedVersion. */
  version: number;
  updatedAt: Date;
  updatedBy: string;
  schedule: string | null;
  /** "At 02:00 AM" or null without a schedule. */
  scheduleDescription: string | null;
  timezone: string;
  retryDelays: string[];
  breakerKey: string;
  breakerFailures: number;
  breakerCooldown: string;
  retryBudget: number | null;
  /** The attempt time limit ('1h'); the default 1h for a row not yet filled from the code (migration 0030). */
  attemptTimeout: string;
  resumePolicy: ResumePolicy;
  settings: Record<string, unknown>;
  mapping: Mapping | null;
  alertRouting: AlertRouting;
  /** Status only: never a value. */
  secrets: SecretStatus[];
}

/**
 * Everything the config editor shows, secrets as status only. `declaredSecrets` (the handler's
 * `secrets`) lists unset declared secrets too; without it only stored ones are listed. Null when
 * the integration does not exist.
 */
export async function getIntegrationConfig(
  db: DatabaseOrTransaction,
  params: {
    integration: string;
    declaredSecrets?: readonly string[];
    /** The handler's time limit (registry.ts codeAttemptTimeout), shown while the row has none. */
    codeAttemptTimeout?: string;
  },
): Promise<IntegrationConfigView | null> {
  const [row] = await db.select().from(integrations).where(eq(integrations.name, params.integration));
  if (!row) return null;
  const secrets = await secretStatus(db, { integration: row.name, declared: params.declaredSecrets ?? [] });
  return {
    name: row.name,
    description: row.description,
    registered: row.registered,
    orphanedAt: row.orphanedAt,
    paused: row.paused,
    pausedAt: row.pausedAt,
    version: row.version,
    updatedAt: row.updatedAt,
    updatedBy: row.updatedBy,
    schedule: row.schedule,
    scheduleDescription: row.schedule ? describeCron(row.schedule) : null,
    timezone: row.timezone,
    retryDelays: row.retryDelays,
    breakerKey: row.breakerKey,
    breakerFailures: row.breakerFailures,
    breakerCooldown: row.breakerCooldown,
    retryBudget: row.retryBudget,
    attemptTimeout: row.attemptTimeout ?? params.codeAttemptTimeout ?? DEFAULT_ATTEMPT_TIMEOUT,
    resumePolicy: row.resumePolicy === 'run_once' ? 'run_once' : 'skip',
    settings: row.settings ?? {},
    mapping: (row.mapping as Mapping | null) ?? null,
    alertRouting: row.alertRouting,
    secrets,
  };
}
