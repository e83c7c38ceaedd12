import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { alertChannels, type AlertChannel } from '../../../db/schema';
import { appendAudit, recordAction } from '../governance/audit';
import type { Keyring } from '../governance/crypto';
import {
  auditEntries,
  flatFields,
  isUniqueViolation,
  nameTaken,
  secretChange,
  secretField,
  shownWebhookUrl,
  slackUrlMissing,
  smtpPasswordMissing,
  urlHost,
  validationFailure,
  type Existing,
  type StoredConfig,
} from './channel-changes';
import { ZChannelInput, type ChannelResult, type ChannelTarget, type ChannelView } from './channel-input';
import { openChannelSecret, sealChannelSecret } from './channel-secret';
import { maskedWebhookUrl } from './webhook-url';

/**
 * The global alert channels, edited like configuration: validated with zod, checked against the
 * version the editor loaded, and audited one row per changed field ('channel.<name>.<field>').
 * A channel's one secret (the webhook's HMAC key, the SMTP password, or a Slack channel's URL,
 * which is itself the credential) is sealed with AAD `channel/<id>` in `sealed_secret`; it is never
 * returned and never audited (the trail says `{ "replaced": true }`).
 *
 * Slack channels saved before their URL was sealed still hold it in `config.url`: the worker seals
 * those at start (sealPlainSlackUrls), an edit seals its row first, and until then reads never
 * return it (the console gets the host only) while delivery still uses it.
 *
 * A webhook's URL is not sealed (the audit trail keeps it, see shownWebhookUrl), but it often
 * carries a token: the views give it masked (webhook-url.ts) to every role, and only
 * webhookUrlsForEditing, for an admin's edit form, gives it whole.
 *
 * This file holds the commands and queries; channel-input.ts the form's schema and the shapes
 * read, channel-secret.ts the sealing, channel-changes.ts the stored shape and edit diffing.
 * Outside alerts/, import them through alerts/index.ts (governance uses channel-secret.ts).
 */

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

export async function createChannel(
  db: DatabaseOrTransaction,
  params: { input: unknown; actor: string; keyring: Keyring; correlationId?: string },
): Promise<ChannelResult> {
  const parsed = ZChannelInput.safeParse(params.input);
  if (!parsed.success) return validationFailure(parsed.error);
  const input = parsed.data;
  const id = randomUUID();
  const missing = slackUrlMissing(input, null) ?? smtpPasswordMissing(input, null);
  if (missing) return missing;
  const { config, change } = secretChange(input, null);
  try {
    return await db.transaction(async (tx) => {
      const [clash] = await tx.select({ id: alertChannels.id }).from(alertChannels).where(eq(alertChannels.name, input.name));
      if (clash) return nameTaken(input.name);
      await tx.insert(alertChannels).values({
        id,
        name: input.name,
        type: input.type,
        config: config as Record<string, unknown>,
        sealedSecret: change.kind === 'set' ? sealChannelSecret(params.keyring, id, change.value) : null,
        enabled: input.enabled,
        updatedBy: params.actor,
      });
      await appendAudit(tx, {
        actor: params.actor,
        correlationId: params.correlationId,
        entries: auditEntries(input.name, null, flatFields(input.name, input.type, input.enabled, config), {
          field: secretField(input.type),
          hadSecret: false,
          change,
          previousField: null,
        }),
      });
      return { ok: true as const, id };
    });
  } catch (error) {
    if (isUniqueViolation(error)) return nameTaken(input.name);
    throw error;
  }
}

export async function updateChannel(
  db: DatabaseOrTransaction,
  params: { id: string; expectedVersion: number; input: unknown; actor: string; keyring: Keyring; correlationId?: string },
): Promise<ChannelResult> {
  const parsed = ZChannelInput.safeParse(params.input);
  if (!parsed.success) return validationFailure(parsed.error);
  const input = parsed.data;
  try {
    return await db.transaction(async (tx): Promise<ChannelResult> => {
      const [found] = await tx.select().from(alertChannels).where(eq(alertChannels.id, params.id)).for('update');
      if (!found)
        return { ok: false, code: 'not_found', message: `alert channel ${params.id} does not exist (deleted?); reload the channel list` };
      const row = (await sealPlainSlackUrls(tx, { keyring: params.keyring, ids: [found.id], actor: params.actor }))[0] ?? found;
      if (row.version !== params.expectedVersion) {
        return {
          ok: false,
          code: 'stale',
          message: `channel '${row.name}' was changed by ${row.updatedBy} at ${row.updatedAt.toISOString()}; reload and apply your edit again`,
        };
      }
      if (input.name !== row.name) {
        const [clash] = await tx.select({ id: alertChannels.id }).from(alertChannels).where(eq(alertChannels.name, input.name));
        if (clash) return nameTaken(input.name);
      }
      const existing: Existing = { row, secret: row.sealedSecret ? openChannelSecret(params.keyring, row.id, row.sealedSecret) : null };
      const missing = slackUrlMissing(input, existing) ?? smtpPasswordMissing(input, existing);
      if (missing) return missing;
      const { config, change } = secretChange(input, existing);
      const before = flatFields(row.name, row.type, row.enabled, row.config as StoredConfig);
      const after = flatFields(input.name, input.type, input.enabled, config);
      const entries = auditEntries(input.name, before, after, {
        field: secretField(input.type),
        hadSecret: row.sealedSecret !== null,
        change,
        previousField: secretField(row.type),
      });
      if (entries.length === 0) return { ok: true, id: row.id };
      await tx
        .update(alertChannels)
        .set({
          name: input.name,
          type: input.type,
          config: config as Record<string, unknown>,
          enabled: input.enabled,
          ...(change.kind === 'set' ? { sealedSecret: sealChannelSecret(params.keyring, row.id, change.value) } : {}),
          ...(change.kind === 'remove' ? { sealedSecret: null } : {}),
          version: row.version + 1,
          updatedAt: new Date(),
          updatedBy: params.actor,
        })
        .where(eq(alertChannels.id, row.id));
      await appendAudit(tx, { actor: params.actor, correlationId: params.correlationId, entries });
      return { ok: true, id: row.id };
    });
  } catch (error) {
    if (isUniqueViolation(error)) return nameTaken(input.name);
    throw error;
  }
}

/**
 * Moves the URL of Slack channels saved before it was sealed out of `config` into `sealed_secret`
 * (all such channels, or those of `ids`), in one transaction, recorded as one action without any
 * URL. Sealing needs the secrets key, which migrations do not have: the worker runs this at start
 * and updateChannel for its row. Not a config change: version and updated_at/by stay. Returns the
 * rows as written.
 */
export async function sealPlainSlackUrls(
  db: DatabaseOrTransaction,
  params: { keyring: Keyring; ids?: string[]; actor?: string },
): Promise<AlertChannel[]> {
  return db.transaction(async (tx) => {
    const plain = await tx
      .select()
      .from(alertChannels)
      .where(
        and(
          eq(alertChannels.type, 'slack'),
          isNull(alertChannels.sealedSecret),
          sql`${alertChannels.config} ->> 'url' is not null`,
          params.ids ? inArray(alertChannels.id, params.ids) : undefined,
        ),
      )
      .for('update');
    const sealed: AlertChannel[] = [];
    for (const row of plain) {
      const url = String((row.config as StoredConfig).url);
      const config: StoredConfig = { urlHost: urlHost(url) ?? undefined };
      const [written] = await tx
        .update(alertChannels)
        .set({ config: config as Record<string, unknown>, sealedSecret: sealChannelSecret(params.keyring, row.id, url) })
        .where(eq(alertChannels.id, row.id))
        .returning();
      sealed.push(written);
    }
    if (sealed.length > 0) {
      await recordAction(tx, {
        actor: params.actor ?? 'system',
        action: 'slack_urls_sealed',
        details: { channels: sealed.map((r) => r.name) },
      });
    }
    return sealed;
  });
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

function toView(row: AlertChannel): ChannelView {
  const config = row.config as StoredConfig;
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    enabled: row.enabled,
    version: row.version,
    url: row.type === 'slack' || config.url === undefined ? null : maskedWebhookUrl(config.url),
    slackUrl:
      row.type === 'slack'
        ? {
            set: row.sealedSecret !== null || typeof config.url === 'string',
            host: config.urlHost ?? (typeof config.url === 'string' ? urlHost(config.url) : null),
          }
        : null,
    to: config.to ?? null,
    from: config.from ?? null,
    smtpUrl: config.smtpUrl ?? null,
    hmacSecret: row.type === 'webhook' ? { set: row.sealedSecret !== null } : null,
    smtpPassword: row.type === 'email' ? { set: row.sealedSecret !== null } : null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    updatedBy: row.updatedBy,
  };
}

export async function listChannels(db: DatabaseOrTransaction): Promise<ChannelView[]> {
  const rows = await db.select().from(alertChannels).orderBy(asc(alertChannels.name));
  return rows.map(toView);
}

/**
 * For an admin's edit form only (the caller checks the role; never for a list everyone reads): each
 * webhook channel's URL as stored, by channel id, a password in it masked as in the audit trail.
 */
export async function webhookUrlsForEditing(db: DatabaseOrTransaction): Promise<Map<string, string>> {
  const rows = await db
    .select({ id: alertChannels.id, config: alertChannels.config })
    .from(alertChannels)
    .where(eq(alertChannels.type, 'webhook'));
  const urls = new Map<string, string>();
  for (const row of rows) {
    const url = (row.config as StoredConfig).url;
    if (typeof url === 'string') urls.set(row.id, shownWebhookUrl(url));
  }
  return urls;
}

export async function getChannel(db: DatabaseOrTransaction, params: { id: string }): Promise<ChannelView | null> {
  const [row] = await db.select().from(alertChannels).where(eq(alertChannels.id, params.id));
  return row ? toView(row) : null;
}

/** The channel as the delivery worker needs it, secret opened. Null when the channel is gone. */
export async function channelTarget(db: DatabaseOrTransaction, params: { id: string; keyring: Keyring }): Promise<ChannelTarget | null> {
  const [row] = await db.select().from(alertChannels).where(eq(alertChannels.id, params.id));
  if (!row) return null;
  const config = row.config as StoredConfig;
  const secret = row.sealedSecret ? openChannelSecret(params.keyring, row.id, row.sealedSecret) : null;
  switch (row.type) {
    case 'webhook':
      return { id: row.id, name: row.name, type: 'webhook', url: String(config.url), hmacSecret: secret };
    case 'slack': {
      // A URL not sealed yet (saved before it was a secret) still delivers until the worker seals it.
      const url = secret ?? config.url;
      if (!url) throw new Error(`alert channel '${row.name}' has no Slack webhook URL; an admin needs to set it again`);
      return { id: row.id, name: row.name, type: 'slack', url };
    }
    case 'email': {
      const u = new URL(String(config.smtpUrl));
      const secure = u.protocol === 'smtps:';
      return {
        id: row.id,
        name: row.name,
        type: 'email',
        to: config.to ?? [],
        from: String(config.from),
        smtp: {
          host: u.hostname.replace(/^\[|\]$/g, ''),
          port: u.port ? Number(u.port) : secure ? 465 : 587,
          secure,
          user: u.username ? decodeURIComponent(u.username) : null,
          password: u.username ? secret : null,
        },
      };
    }
  }
}
