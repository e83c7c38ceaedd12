import { sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { integrations } from '../../../db/schema';
import { flatFields, secretField, type StoredConfig } from '../alerts/channel-changes';
import type { ChannelType } from '../alerts/channel-input';
import { maskedWebhookUrl } from '../alerts/webhook-url';
import { exactTime } from '../when';
import { clip } from '../words';
import { canonicalJson, COLUMN_FIELDS, type ColumnField } from './config';
import { REGISTER_ACTION, type ConfigBaseline } from './config-baseline';

/**
 * Configuration changed behind the config service's back. The runtime role may UPDATE
 * `integrations` and `alert_channels` (it must, to save edits), so `update integrations set …`
 * changes the configuration in force without an audit row, and the History page then shows a
 * configuration that is not the one running. The chain and the anchors cannot see this: the trail
 * is intact, it is the table beside it that moved. This check compares what is stored with what
 * the trail says was saved last, and names every difference.
 *
 * What is compared (only what the trail can vouch for):
 * - An integration's configuration columns (config.ts COLUMN_FIELDS, settings per key as
 *   `settings.<key>`): the current value against the new_value of the field's last audit row, in
 *   audit id order as configAsOf reads it. A field with no audit row still has the value the
 *   registry inserted (syncRegistry writes defaults on insert only and never rewrites them on a
 *   later deploy): it is compared with the integration's 'register' row, which holds them
 *   (config-baseline.ts; for one registered before those rows existed, what was stored at the
 *   start-up that recorded it). With no such row there is nothing to compare it with.
 * - Secrets (`secret.<name>`): set or not, never values (the trail holds none). A secret the trail
 *   says was set must be stored; a stored secret must have been set through the trail (only the
 *   config service and the demo seed write secrets, both audited).
 * - Paused: against the last 'pause' / 'resume' action; with none, not paused (the column's
 *   default, which only pauseIntegration changes, audited).
 * - Alert channels (`channel.<name>.<field>`, alerts/channel-changes.ts auditEntries): the fields of
 *   flatFields and whether the channel's secret is set, rebuilt by replaying the channel's audit
 *   rows (a rename moves the earlier rows to the new name). A channel created by the service has
 *   every field audited (a null one by its absence), and so has the demo seed's and, by migration
 *   0036, one from before those rows; a channel with no row at all was inserted outside the
 *   service. One with rows for some fields only (edited, never created, from before 0036) is
 *   compared on those. An audited channel name no channel has any more was renamed or deleted
 *   outside the service. A Slack channel's `url` is its secret,
 *   and before it was sealed the trail held it as a value: only set or not is compared.
 *
 * Each list is read in one statement, so a change committed by the service while the check runs
 * (row and audit rows in one transaction) is seen whole or not at all.
 */

export interface ConfigDriftFinding {
  kind: 'config_drift';
  /** What changed: an integration or a global alert channel. */
  target: 'integration' | 'alert_channel' | 'api_token' | 'webhook_secret' | 'user';
  /** The integration's or the channel's name. */
  name: string;
  /** The field as the audit trail names it ('retryDelays', 'settings.batchSize', 'secret.apiKey', 'paused'; a channel's 'enabled'). */
  field: string;
  message: string;
  /**
   * An integration's configuration field (a column or a settings key): the value the trail last
   * recorded (or registered) and the one stored, as audit values (undefined: a settings key not
   * set). What keepDriftedConfig records to make the stored value the audited one.
   */
  keep?: { audited: unknown; stored: unknown };
}

/** The last audit row of a field, as the query below returns it. */
interface Audited {
  field: string;
  kind: 'config' | 'action';
  id: number;
  /** new_value; null with `absent` when it was SQL NULL (a settings key removed). */
  value: unknown;
  absent: boolean;
  by: string;
  at: string;
}

interface IntegrationRow extends Record<string, unknown> {
  name: string;
  /** The row as stored (to_jsonb: column names, jsonb values as JSON, numeric as a number). */
  row: Record<string, unknown>;
  audited: Audited[];
  secrets: string[];
}

const SETTINGS_PREFIX = 'settings.';
const SECRET_PREFIX = 'secret.';
/** The column fields audited under their own name (settings are audited per key). */
const WHOLE_FIELDS = COLUMN_FIELDS.filter((f): f is Exclude<ColumnField, 'settings'> => f !== 'settings');
// Long enough for a whole field mapping: the finding is where an admin reads the value to put back.
const VALUE_SHOWN = 2000;

function shown(value: unknown): string {
  return clip(value === undefined ? 'not set' : canonicalJson(value), VALUE_SHOWN);
}

function savedBy(a: { by: string; at: string }): string {
  return `saved by ${a.by} on ${exactTime(new Date(a.at))}`;
}

const OUTSIDE = 'changed outside the config service, no audit row';

/** retry_budget is numeric: compared as the number it is, however it was written. */
function comparable(field: string, value: unknown): unknown {
  return field === 'retryBudget' && typeof value === 'string' ? Number(value) : value;
}

/** Every integration whose stored configuration differs from the audit trail's last values. */
export async function integrationConfigDrift(db: DatabaseOrTransaction, params: { name?: string } = {}): Promise<ConfigDriftFinding[]> {
  const only = params.name ?? null;
  // The last row of each (integration, field): max(id) per group over one pass of the table (a
  // hash aggregate, no sort; the full verification reads every row anyway), joined back by key.
  const rows = await db.execute<IntegrationRow>(sql`
    with last_rows as (
      select max(id) as id from audit_log
       where integration is not null and (${only}::text is null or integration = ${only})
         and (kind = 'config' or (kind = 'action' and field_name in ('pause', 'resume', ${REGISTER_ACTION})))
       group by integration, kind, field_name
    ), audited as (
      select a.integration,
             jsonb_agg(jsonb_build_object('field', a.field_name, 'kind', a.kind, 'id', a.id, 'value', a.new_value,
                                          'absent', a.new_value is null, 'by', a.changed_by, 'at', a.changed_at) order by a.id) as rows
        from audit_log a join last_rows l on l.id = a.id
       group by a.integration
    ), secrets as (
      select integration, jsonb_agg(name order by name) as names from integration_secrets group by integration
    )
    select i.name, to_jsonb(i) as row, coalesce(a.rows, '[]'::jsonb) as audited, coalesce(s.names, '[]'::jsonb) as secrets
      from integrations i
      left join audited a on a.integration = i.name
      left join secrets s on s.integration = i.name
     where ${only}::text is null or i.name = ${only}
     order by i.name`);

  const findings: ConfigDriftFinding[] = [];
  for (const r of rows) {
    const found = (field: string, message: string, keep?: ConfigDriftFinding['keep']) =>
      findings.push({
        kind: 'config_drift',
        target: 'integration',
        name: r.name,
        field,
        message: `${r.name}: ${message}`,
        ...(keep && { keep }),
      });
    const settings = (r.row[integrations.settings.name] ?? {}) as Record<string, unknown>;
    let lastPause: Audited | null = null;
    let registered: Audited | null = null;
    const auditedFields = new Set<string>();
    for (const a of r.audited) {
      if (a.kind === 'action') {
        if (a.field === REGISTER_ACTION) registered = a;
        else if (!lastPause || a.id > lastPause.id) lastPause = a;
        continue;
      }
      auditedFields.add(a.field);
      const expected = a.absent ? null : a.value;
      if ((WHOLE_FIELDS as readonly string[]).includes(a.field)) {
        const column = integrations[a.field as (typeof WHOLE_FIELDS)[number]].name;
        const current = r.row[column] ?? null;
        if (canonicalJson(comparable(a.field, current)) !== canonicalJson(comparable(a.field, expected)))
          found(
            a.field,
            `${a.field} is ${shown(current)} but the audit trail's last value is ${shown(expected)} (${savedBy(a)}): ${OUTSIDE}`,
            { audited: expected, stored: current },
          );
      } else if (a.field.startsWith(SETTINGS_PREFIX)) {
        const key = a.field.slice(SETTINGS_PREFIX.length);
        const current = Object.hasOwn(settings, key) ? settings[key] : undefined;
        const wanted = a.absent ? undefined : a.value;
        if (current === undefined ? wanted !== undefined : wanted === undefined || canonicalJson(current) !== canonicalJson(wanted))
          found(
            a.field,
            `${a.field} is ${shown(current)} but the audit trail's last value is ${shown(wanted)} (${savedBy(a)}): ${OUTSIDE}`,
            { audited: wanted, stored: current },
          );
      } else if (a.field.startsWith(SECRET_PREFIX)) {
        const name = a.field.slice(SECRET_PREFIX.length);
        if (secretMarker(a.value) === 'set' && !r.secrets.includes(name))
          found(
            a.field,
            `${a.field} is not stored but the audit trail says it was set (${savedBy(a)}): removed outside the config service, no audit row`,
          );
      }
    }
    // A field never saved through the service still holds what it was registered with.
    const baseline = registered ? ((registered.value as ConfigBaseline | null)?.baseline ?? null) : null;
    if (registered && baseline) {
      const recorded = (registered.value as ConfigBaseline).source === 'recorded';
      const on = exactTime(new Date(registered.at));
      const was = (value: unknown) =>
        value === undefined
          ? recorded
            ? `the baseline recorded on ${on} does not have it and it was never saved since`
            : `it was registered without it on ${on} and never saved since`
          : recorded
            ? `the baseline recorded on ${on} says ${shown(value)} and it was never saved since`
            : `it was registered with ${shown(value)} on ${on} and never saved since`;
      for (const field of WHOLE_FIELDS) {
        if (auditedFields.has(field) || !Object.hasOwn(baseline, field)) continue;
        const current = r.row[integrations[field].name] ?? null;
        const expected = baseline[field] ?? null;
        if (canonicalJson(comparable(field, current)) !== canonicalJson(comparable(field, expected)))
          found(field, `${field} is ${shown(current)} but ${was(expected)}: ${OUTSIDE}`, { audited: expected, stored: current });
      }
      const before = (baseline.settings ?? {}) as Record<string, unknown>;
      for (const key of new Set([...Object.keys(before), ...Object.keys(settings)])) {
        const field = `${SETTINGS_PREFIX}${key}`;
        if (auditedFields.has(field)) continue;
        const current = Object.hasOwn(settings, key) ? settings[key] : undefined;
        const expected = Object.hasOwn(before, key) ? before[key] : undefined;
        if (canonicalJson(current ?? null) !== canonicalJson(expected ?? null) || (current === undefined) !== (expected === undefined))
          found(field, `${field} is ${shown(current)} but ${was(expected)}: ${OUTSIDE}`, { audited: expected, stored: current });
      }
    }
    for (const name of r.secrets) {
      const field = `${SECRET_PREFIX}${name}`;
      const last = r.audited.find((a) => a.kind === 'config' && a.field === field);
      if (!last) found(field, `${field} is stored but the audit trail never recorded it being set: ${OUTSIDE}`);
      else if (secretMarker(last.value) !== 'set')
        found(field, `${field} is stored but the audit trail's last record of it says otherwise (${savedBy(last)}): ${OUTSIDE}`);
    }
    const paused = r.row[integrations.paused.name] === true;
    const auditedPaused = lastPause?.field === 'pause';
    if (paused !== auditedPaused)
      found(
        'paused',
        lastPause
          ? `paused is ${paused} but the audit trail's last pause or resume is '${lastPause.field}' by ${lastPause.by} on ${exactTime(new Date(lastPause.at))}: ${OUTSIDE}`
          : `paused is ${paused} but the audit trail records no pause: ${OUTSIDE}`,
      );
  }
  return findings;
}

/** What a secret's audit value says: `{ set: true }` / `{ replaced: true }` set, `{ removed: true }` removed; anything else is no marker. */
function secretMarker(value: unknown): 'set' | 'removed' | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  if (v.set === true || v.replaced === true) return 'set';
  if (v.removed === true) return 'removed';
  return null;
}

interface ChannelTrail {
  /** Created through the service: a flat field it never audited was null then. */
  created: boolean;
  fields: Map<string, Audited>;
  secret: (Audited & { set: boolean }) | null;
}

interface ChannelRow extends Record<string, unknown> {
  source: 'channel' | 'audit';
  data: Record<string, unknown>;
}

const CHANNEL_PREFIX = 'channel.';
/** The fields a channel's sealed secret is audited under (channel-changes.ts secretField). */
const CHANNEL_SECRET_FIELDS = new Set<string>((['webhook', 'email', 'slack'] as const).map(secretField));
/** The flat fields, as the service audits them (the channel's type and config do not change the keys). */
const CHANNEL_FLAT_FIELDS = Object.keys(flatFields('', 'webhook', true, {}));

/** 'channel.Ops webhook.enabled' → name and field (a channel name has no dot, a field never). */
function channelField(fieldName: string): { name: string; field: string } | null {
  if (!fieldName.startsWith(CHANNEL_PREFIX)) return null;
  const rest = fieldName.slice(CHANNEL_PREFIX.length);
  const dot = rest.lastIndexOf('.');
  return dot > 0 ? { name: rest.slice(0, dot), field: rest.slice(dot + 1) } : null;
}

/**
 * A channel field's value in a finding. A webhook URL is masked (webhook-url.ts): the finding is
 * stored with the verification, shown on the Audit page and sent in the audit alert to every
 * channel, and a URL's token must reach none of them (the redirected URL's neither).
 */
function shownChannelField(field: string, value: unknown): string {
  return field === 'url' && typeof value === 'string' ? shown(maskedWebhookUrl(value)) : shown(value);
}

/** Every alert channel whose stored fields differ from what its audit rows say was saved. */
export async function channelConfigDrift(db: DatabaseOrTransaction): Promise<ConfigDriftFinding[]> {
  const rows = await db.execute<ChannelRow>(sql`
    select 'channel' as source, jsonb_build_object('name', c.name, 'type', c.type, 'enabled', c.enabled, 'config', c.config,
                                                   'sealed', c.sealed_secret is not null) as data, 0::bigint as id
      from alert_channels c
    union all
    select 'audit', jsonb_build_object('field', a.field_name, 'kind', a.kind, 'id', a.id, 'old', a.old_value, 'value', a.new_value,
                                       'absent', a.new_value is null, 'by', a.changed_by, 'at', a.changed_at), a.id
      from audit_log a
     where a.integration is null and a.kind = 'config' and a.field_name like 'channel.%'
     order by 3`);

  // Replays the trail in id order: a creation starts a channel, a rename moves it to its new name.
  const trails = new Map<string, ChannelTrail>();
  for (const r of rows) {
    if (r.source !== 'audit') continue;
    const a = r.data as unknown as Audited & { old: unknown };
    const at = channelField(a.field);
    if (!at) continue;
    if (at.field === 'name') {
      const from = typeof a.old === 'string' ? a.old : null;
      const moved = from !== null && from !== at.name ? trails.get(from) : undefined;
      if (from !== null) trails.delete(from);
      trails.set(at.name, moved ?? { created: from === null, fields: new Map(), secret: null });
    }
    const trail = trails.get(at.name) ?? { created: false, fields: new Map(), secret: null };
    trails.set(at.name, trail);
    const marker = secretMarker(a.value);
    if (CHANNEL_SECRET_FIELDS.has(at.field) && marker !== null) trail.secret = { ...a, set: marker === 'set' };
    else trail.fields.set(at.field, a);
  }

  const findings: ConfigDriftFinding[] = [];
  const found = (name: string, field: string, message: string) =>
    findings.push({ kind: 'config_drift', target: 'alert_channel', name, field, message: `alert channel '${name}': ${message}` });
  const present = new Set<string>();
  for (const r of rows) {
    if (r.source !== 'channel') continue;
    const c = r.data as { name: string; type: ChannelType; enabled: boolean; config: StoredConfig; sealed: boolean };
    present.add(c.name);
    const trail = trails.get(c.name);
    if (!trail) {
      // Every channel's creation is in the trail (createChannel; the demo seed; migration 0036 for
      // one from before): a channel without any row was inserted around the console, and it gets
      // every alert from then on.
      found(
        c.name,
        'name',
        `a ${c.type} channel by this name exists (${c.enabled ? 'enabled: it gets every alert' : 'disabled'}) but the audit trail never recorded its creation (inserted, or renamed, outside the console): ${OUTSIDE}`,
      );
      continue;
    }
    const current = flatFields(c.name, c.type, c.enabled, c.config);
    for (const field of CHANNEL_FLAT_FIELDS) {
      // The name is the key the trail was replayed by; a Slack URL is compared as its secret.
      if (field === 'name' || (field === 'url' && c.type === 'slack')) continue;
      const last = trail.fields.get(field);
      if (!last && !trail.created) continue;
      const expected = last && !last.absent ? last.value : null;
      if (canonicalJson(current[field]) !== canonicalJson(expected))
        found(
          c.name,
          field,
          `${field} is ${shownChannelField(field, current[field])} but the audit trail's last value is ${shownChannelField(field, expected)} (${last ? savedBy(last) : 'when it was created'}): ${OUTSIDE}${field === 'url' ? ' (URLs masked: a webhook URL may carry a token; the admin edit form has the stored one whole)' : ''}`,
        );
    }
    if (!trail.secret && !trail.created) continue;
    const set = c.sealed || (c.type === 'slack' && typeof c.config.url === 'string');
    const auditedSet = trail.secret?.set ?? false;
    if (set !== auditedSet) {
      const field = secretField(c.type);
      found(
        c.name,
        field,
        `its secret (${field}) is ${set ? 'set' : 'not set'} but the audit trail says it ${auditedSet ? 'was set' : 'is not'} (${trail.secret ? savedBy(trail.secret) : 'when it was created'}): ${OUTSIDE}`,
      );
    }
  }
  for (const [name, trail] of trails) {
    if (present.has(name)) continue;
    const last = [...trail.fields.values(), ...(trail.secret ? [trail.secret] : [])].sort((x, y) => y.id - x.id)[0];
    found(
      name,
      'name',
      `the audit trail holds this channel${last ? ` (last ${savedBy(last)})` : ''}, but no channel has that name: renamed or deleted outside the console, no audit row`,
    );
  }
  return findings;
}

interface AccessRow extends Record<string, unknown> {
  source: 'token' | 'secret' | 'user' | 'audit';
  data: Record<string, unknown>;
}

/**
 * Who may act, changed around the services that audit it: an API token live in the table that no
 * `api_token_create` row made (or with another role or expiry than it was made with), or revoked
 * in the trail and live again; a webhook signing secret active without its `webhook_secret.added`
 * row, or revoked in the trail and active again; a user whose role or enabled flag differs from
 * the last value the trail records for it. A user's role is in the trail from their first sign-in
 * (lib/auth/users.ts; users from before that got a row recorded by migration 0035); a user is
 * enabled unless the trail says an admin disabled them (only updateUser changes the flag). The
 * rows are keyed by users.audit_key (the e-mail, made unique: a reused address does not merge two
 * people): a `user.<new>.email` row (an e-mail changed at the identity provider) carries the
 * earlier rows over to the new key.
 */
export async function accessDrift(db: DatabaseOrTransaction): Promise<ConfigDriftFinding[]> {
  const rows = await db.execute<AccessRow>(sql`
    select 'token' as source, jsonb_build_object('name', t.name, 'role', t.role, 'prefix', t.prefix,
             'expiresAt', t.expires_at, 'createdBy', t.created_by) as data
      from api_tokens t where t.revoked_at is null and t.expires_at > now()
    union all
    select 'secret', jsonb_build_object('id', w.id, 'integration', w.integration, 'label', w.label) from webhook_secrets w
     where w.revoked_at is null
    union all
    select 'user', jsonb_build_object('email', coalesce(u.audit_key, u.email, u.id::text), 'role', u.role, 'disabled', u.disabled) from users u
    union all
    select 'audit', jsonb_build_object('id', a.id, 'kind', a.kind, 'field', a.field_name, 'old', a.old_value, 'value', a.new_value,
                                       'by', a.changed_by, 'at', a.changed_at)
      from audit_log a
     where (a.kind = 'action' and a.field_name in ('api_token_create', 'api_token_revoke', 'webhook_secret.added', 'webhook_secret.revoked'))
        or (a.kind = 'user' and (a.field_name like 'user.%.role' or a.field_name like 'user.%.disabled'
                                 or a.field_name like 'user.%.email'))`);

  const created = new Map<string, Audited>();
  const revokedTokens = new Map<string, Audited>();
  const added = new Map<string, Audited>();
  const revokedSecrets = new Map<string, Audited>();
  const userFields = new Map<string, Audited>();
  const audits = rows.filter((r) => r.source === 'audit').map((r) => r.data as unknown as Audited & { kind: string });
  audits.sort((x, y) => x.id - y.id);
  for (const a of audits) {
    const v = (a.value ?? {}) as Record<string, unknown>;
    if (a.field === 'api_token_create') created.set(String(v.prefix), a);
    else if (a.field === 'api_token_revoke') revokedTokens.set(String(v.prefix), a);
    else if (a.field === 'webhook_secret.added') added.set(String(v.secretId), a);
    else if (a.field === 'webhook_secret.revoked') revokedSecrets.set(String(v.secretId), a);
    else if (a.field.endsWith('.email')) {
      // The e-mail changed: what the trail says of the old key is now said of the new one.
      const from =
        typeof a.value === 'string' && typeof (a as { old?: unknown }).old === 'string' ? String((a as { old?: unknown }).old) : null;
      if (from === null) continue;
      for (const field of ['role', 'disabled'] as const) {
        const last = userFields.get(`user.${from}.${field}`);
        if (last) userFields.set(`user.${a.value as string}.${field}`, last);
        userFields.delete(`user.${from}.${field}`);
      }
    } else userFields.set(a.field, a);
  }

  const findings: ConfigDriftFinding[] = [];
  const found = (target: ConfigDriftFinding['target'], name: string, field: string, message: string) =>
    findings.push({ kind: 'config_drift', target, name, field, message });
  for (const r of rows) {
    const d = r.data;
    if (r.source === 'token') {
      const what = `API token '${String(d.name)}' (${String(d.prefix)}…, ${String(d.role)})`;
      const made = created.get(String(d.prefix));
      const revoked = revokedTokens.get(String(d.prefix));
      const v = (made?.value ?? {}) as Record<string, unknown>;
      if (!made)
        found('api_token', String(d.name), 'created', `${what} is live but the audit trail never recorded its creation: ${OUTSIDE}`);
      else if (revoked && revoked.id > made.id)
        found(
          'api_token',
          String(d.name),
          'revoked',
          `${what} is live but the audit trail says it was revoked (${savedBy(revoked)}): ${OUTSIDE}`,
        );
      else if (
        v.role !== d.role ||
        (typeof v.expiresAt === 'string' && new Date(v.expiresAt).getTime() !== new Date(String(d.expiresAt)).getTime())
      )
        found(
          'api_token',
          String(d.name),
          'role',
          `${what} expiring ${exactTime(new Date(String(d.expiresAt)))} was created with the ${String(v.role)} role, expiring ${typeof v.expiresAt === 'string' ? exactTime(new Date(v.expiresAt)) : 'unknown'} (${savedBy(made)}): ${OUTSIDE}`,
        );
    } else if (r.source === 'secret') {
      const what = `${String(d.integration)}: signing secret '${String(d.label)}'`;
      const made = added.get(String(d.id));
      const revoked = revokedSecrets.get(String(d.id));
      if (!made)
        found(
          'webhook_secret',
          String(d.integration),
          'added',
          `${what} is active but the audit trail never recorded it being added: ${OUTSIDE}`,
        );
      else if (revoked)
        found(
          'webhook_secret',
          String(d.integration),
          'revoked',
          `${what} is active but the audit trail says it was revoked (${savedBy(revoked)}): ${OUTSIDE}`,
        );
    } else if (r.source === 'user') {
      for (const field of ['role', 'disabled'] as const) {
        const last = userFields.get(`user.${String(d.email)}.${field}`);
        if (last && canonicalJson(last.value) !== canonicalJson(d[field]))
          found(
            'user',
            String(d.email),
            field,
            `user ${String(d.email)}: ${field} is ${shown(d[field])} but the audit trail's last value is ${shown(last.value)} (${savedBy(last)}): ${OUTSIDE}`,
          );
        else if (!last && field === 'disabled' && d.disabled !== false)
          found(
            'user',
            String(d.email),
            field,
            `user ${String(d.email)}: disabled is ${shown(d.disabled)} but the audit trail records no admin disabling them: ${OUTSIDE}`,
          );
        else if (!last && field === 'role')
          found(
            'user',
            String(d.email),
            field,
            `user ${String(d.email)}: role is ${shown(d.role)} but the audit trail records no role for them, not even their first sign-in: ${OUTSIDE}`,
          );
      }
    }
  }
  return findings;
}

/** Every check: integrations, alert channels, then who may act (tokens, signing secrets, users). */
export async function configDrift(db: DatabaseOrTransaction): Promise<ConfigDriftFinding[]> {
  // Without the values to keep: the findings are stored with the verification and sent in alerts.
  const integrationFindings = (await integrationConfigDrift(db)).map(({ keep: _keep, ...finding }) => finding);
  return [...integrationFindings, ...(await channelConfigDrift(db)), ...(await accessDrift(db))];
}

export interface IntegrationDriftNotice {
  /** When the full verification that found it ran. */
  at: Date;
  /** Its findings about this integration (configuration, signing secrets), as the Audit page words them. */
  messages: string[];
  /** The fields they are about ('retryDelays', 'paused', 'secret.apiKey', a signing secret's 'added'…): what puts each back differs. */
  fields: string[];
  /** The newest configuration change's audit id (History's "as of" that a revert puts back), or null: revert to the original. */
  newestChange: number | null;
}

/**
 * What the last full verification found changed around the console for one integration, for the
 * integration's own pages (an admin reading Configuration learns its values are not the audited
 * ones without opening the Audit page), or null when it found nothing there. The stored outcome is
 * read, not a new check: the check reads the whole trail, a page view must not.
 */
export async function lastDriftOf(db: DatabaseOrTransaction, params: { integration: string }): Promise<IntegrationDriftNotice | null> {
  const [row] = await db.execute<{
    at: string | null;
    messages: string[] | null;
    fields: string[] | null;
    newest: string | number | null;
  }>(sql`
    select st.full_checked_at::text as at, d.fields, d.messages,
           -- Only with findings to show (a subquery in a CASE branch runs when the branch is taken):
           -- every page of an integration reads this, and most have none.
           case when d.messages is not null
                then (select max(id) from audit_log where kind = 'config' and integration = ${params.integration}) end as newest
      from audit_chain_state st
     cross join lateral (
       select jsonb_agg(f->>'field' order by n) as fields, jsonb_agg(f->>'message' order by n) as messages
         from jsonb_array_elements(st.full_findings) with ordinality as e(f, n)
        where f->>'kind' = 'config_drift' and f->>'target' in ('integration', 'webhook_secret')
          and f->>'name' = ${params.integration}) d
     where st.id = 1`);
  if (!row?.at || !row.messages || row.messages.length === 0) return null;
  return {
    at: new Date(row.at),
    messages: row.messages,
    fields: row.fields ?? [],
    newestChange: row.newest === null ? null : Number(row.newest),
  };
}
