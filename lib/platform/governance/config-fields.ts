/**
 * The editable configuration fields, on their own (no imports): the config service (config.ts),
 * the registration baselines the registry writes (config-baseline.ts: config.ts imports the
 * registry, so the registry's side cannot import config.ts) and the History page's filter share it.
 */

/** The editable fields, in the order the editor shows them and the audit lists them. */
export const CONFIG_FIELDS = [
  'schedule',
  'timezone',
  'retryDelays',
  'breakerFailures',
  'breakerCooldown',
  'retryBudget',
  'attemptTimeout',
  'resumePolicy',
  'settings',
  'secrets',
  'mapping',
  'alertRouting',
] as const;
export type ConfigField = (typeof CONFIG_FIELDS)[number];

/** The fields stored as columns of `integrations` (all but secrets, which have their own table). */
export type ColumnField = Exclude<ConfigField, 'secrets'>;
export const COLUMN_FIELDS: readonly ColumnField[] = CONFIG_FIELDS.filter((f): f is ColumnField => f !== 'secrets');

/** The field names the audit trail records them under: settings per key, secrets per name. */
export const AUDIT_FIELD_PATTERNS: readonly string[] = CONFIG_FIELDS.map((f) =>
  f === 'settings' ? 'settings.*' : f === 'secrets' ? 'secret.*' : f,
);
