import { randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { DatabaseOrTransaction } from '../../../db/client';
import { alertChannels, type AlertChannel } from '../../../db/schema';
import type { Refusal } from '../errors';
import { appendAudit, type AuditEntry } from '../governance/audit';
import { open, seal, type Keyring } from '../governance/crypto';

/**
 * The global alert channels, edited like configuration: validated with zod, checked against the
 * version the editor loaded, and audited one row per changed field ('channel.<name>.<field>').
 * A channel's one secret (the webhook's HMAC key or the SMTP password) is sealed with AAD
 * `channel/<id>` in `sealed_secret`; it is never returned and never audited (the trail says
 * `{ "replaced": true }`).
 */

export type ChannelType = 'webhook' | 'slack' | 'email';

const channelName = z
  .string({ error: 'name is required' })
  .trim()
  .min(1, 'name is required')
  .max(80, 'name must be at most 80 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _-]*$/, 'name may contain letters, digits, spaces, _ and - (and starts with a letter or digit)');

const httpUrl = z
  .string({ error: 'url is required' })
  .trim()
  .refine((v) => /^https?:\/\//i.test(v) && URL.canParse(v), {
    message: 'url must be an http(s):// URL, e.g. https://hooks.example.com/junction',
  });

const smtpUrl = z
  .string({ error: 'smtpUrl is required' })
  .trim()
  .refine((v) => /^smtps?:\/\//i.test(v) && URL.canParse(v) && new URL(v).hostname !== '', {
    message: 'smtpUrl must look like smtp://user:password@host:587 (smtps:// for implicit TLS)',
  });

/** A form's empty field means "not given". */
const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const recipients = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(/[,;\s]+/).filter(Boolean) : v),
  z
    .array(z.email({ error: (i) => `'${String(i.input)}' is not an e-mail address` }), { error: 'to must list e-mail addresses' })
    .min(1, 'to needs at least one e-mail address'),
);

const enabled = z.boolean({ error: 'enabled must be true or false' }).default(true);

/**
 * What an admin submits for a channel. Secrets are write-only: on update, an omitted `hmacSecret`
 * keeps the stored one and `null` removes it; an `smtpUrl` without a password keeps the stored
 * password when it names the same user, and one without a user removes it.
 */
export const ZChannelInput = z.discriminatedUnion(
  'type',
  [
    z.object({
      type: z.literal('webhook'),
      name: channelName,
      url: httpUrl,
      hmacSecret: z.preprocess(
        blankToUndefined,
        z.string().min(16, 'hmacSecret must be at least 16 characters').max(512).nullable().optional(),
      ),
      enabled,
    }),
    z.object({ type: z.literal('slack'), name: channelName, url: httpUrl, enabled }),
    z.object({
      type: z.literal('email'),
      name: channelName,
      to: recipients,
      from: z.email({ error: 'from must be an e-mail address' }),
      smtpUrl,
      enabled,
    }),
  ],
  { error: 'type must be one of webhook, slack, email' },
);
export type TChannelInput = z.infer<typeof ZChannelInput>;

export type ChannelResult = { ok: true; id: string } | (Refusal & { code: 'invalid_input' | 'conflict' | 'not_found' | 'stale' });

/** What the console gets: everything but the secret, which shows only as `{ set }`. */
export interface ChannelView {
  id: string;
  name: string;
  type: ChannelType;
  enabled: boolean;
  version: number;
  url: string | null;
  to: string[] | null;
  from: string | null;
  /** The SMTP URL without its password. */
  smtpUrl: string | null;
  hmacSecret: { set: boolean } | null;
  smtpPassword: { set: boolean } | null;
  createdAt: Date;
  updatedAt: Date;
  updatedBy: string;
}

/** Where and how the delivery worker sends: secrets opened, for the worker only. */
export type ChannelTarget =
  | { id: string; name: string; type: 'webhook'; url: string; hmacSecret: string | null }
  | { id: string; name: string; type: 'slack'; url: string }
  | {
      id: string;
      name: string;
      type: 'email';
      to: string[];
      from: string;
      smtp: { host: string; port: number; secure: boolean; user: string | null; password: string | null };
    };

// ---------------------------------------------------------------------------------------------
// Secret sealing
// ---------------------------------------------------------------------------------------------

const ZSealedSecret = z.object({ keyId: z.string().min(1), sealed: z.string().min(1) });

function channelAad(id: string): string {
  return `channel/${id}`;
}

/** The text stored in alert_channels.sealed_secret: the sealed value with the id of its key. */
export function sealChannelSecret(keyring: Keyring, channelId: string, secret: string): string {
  return JSON.stringify(seal(keyring, secret, channelAad(channelId)));
}

export function openChannelSecret(keyring: Keyring, channelId: string, stored: string): string {
  const parsed = ZSealedSecret.safeParse(JSON.parse(stored));
  if (!parsed.success) throw new Error(`the sealed secret of alert channel ${channelId} is malformed; set the secret again`);
  return open(keyring, parsed.data, channelAad(channelId));
}

// ---------------------------------------------------------------------------------------------
// Stored shape
// ---------------------------------------------------------------------------------------------

interface StoredConfig {
  url?: string;
  to?: string[];
  from?: string;
  /** Without password. */
  smtpUrl?: string;
}

function withoutPassword(url: string): { url: string; user: string | null; password: string | null } {
  const u = new URL(url);
  const user = u.username ? decodeURIComponent(u.username) : null;
  const password = u.password ? decodeURIComponent(u.password) : null;
  u.password = '';
  return { url: u.toString().replace(/\/$/, ''), user, password };
}

function secretField(type: ChannelType): 'hmacSecret' | 'smtpPassword' | null {
  return type === 'webhook' ? 'hmacSecret' : type === 'email' ? 'smtpPassword' : null;
}

/** The audited, comparable fields of a channel (never a secret). */
function flatFields(name: string, type: ChannelType, isEnabled: boolean, config: StoredConfig): Record<string, unknown> {
  return {
    name,
    type,
    enabled: isEnabled,
    url: config.url ?? null,
    to: config.to ?? null,
    from: config.from ?? null,
    smtpUrl: config.smtpUrl ?? null,
  };
}

type SecretChange = { kind: 'keep' } | { kind: 'set'; value: string } | { kind: 'remove' };

interface Existing {
  row: AlertChannel;
  secret: string | null;
}

/** Decides what happens to the sealed secret, comparing with the stored plaintext so an unchanged secret writes nothing. */
function secretChange(input: TChannelInput, existing: Existing | null): { config: StoredConfig; change: SecretChange } {
  const sameType = existing?.row.type === input.type;
  const had = existing?.secret ?? null;
  const set = (value: string): SecretChange => (sameType && had === value ? { kind: 'keep' } : { kind: 'set', value });
  const removeIfAny = (): SecretChange => (existing?.row.sealedSecret ? { kind: 'remove' } : { kind: 'keep' });
  switch (input.type) {
    case 'webhook': {
      const config = { url: input.url };
      if (typeof input.hmacSecret === 'string') return { config, change: set(input.hmacSecret) };
      if (input.hmacSecret === null || !sameType) return { config, change: removeIfAny() };
      return { config, change: { kind: 'keep' } };
    }
    case 'slack':
      return { config: { url: input.url }, change: removeIfAny() };
    case 'email': {
      const smtp = withoutPassword(input.smtpUrl);
      const config = { to: input.to, from: input.from, smtpUrl: smtp.url };
      if (smtp.password !== null) return { config, change: set(smtp.password) };
      const previousUser = sameType ? withoutPassword(String((existing.row.config as StoredConfig).smtpUrl ?? 'smtp://x')).user : null;
      if (smtp.user !== null && smtp.user === previousUser) return { config, change: { kind: 'keep' } };
      return { config, change: removeIfAny() };
    }
  }
}

function validationFailure(error: z.ZodError): ChannelResult {
  const fieldErrors: Record<string, string> = {};
  for (const issue of error.issues) {
    const field = issue.path.length > 0 ? String(issue.path[0]) : 'type';
    fieldErrors[field] ??= issue.message;
  }
  const summary = Object.entries(fieldErrors)
    .map(([field, message]) => (message.startsWith(field) ? message : `${field}: ${message}`))
    .join('; ');
  return { ok: false, code: 'invalid_input', message: `The channel was not saved: ${summary}`, fieldErrors };
}

function nameTaken(name: string): ChannelResult {
  const message = `a channel named '${name}' already exists; choose another name`;
  return { ok: false, code: 'conflict', message, fieldErrors: { name: message } };
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } };
  return e?.code === '23505' || e?.cause?.code === '23505';
}

function auditEntries(
  name: string,
  before: Record<string, unknown> | null,
  after: Record<string, unknown>,
  secret: {
    field: 'hmacSecret' | 'smtpPassword' | null;
    hadSecret: boolean;
    change: SecretChange;
    previousField: 'hmacSecret' | 'smtpPassword' | null;
  },
): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (const [field, value] of Object.entries(after)) {
    const old = before ? before[field] : null;
    if (before && JSON.stringify(old) === JSON.stringify(value)) continue;
    if (!before && value === null) continue;
    entries.push({ kind: 'config', integration: null, fieldName: `channel.${name}.${field}`, oldValue: old ?? null, newValue: value });
  }
  if (secret.change.kind === 'set') {
    entries.push({
      kind: 'config',
      integration: null,
      fieldName: `channel.${name}.${secret.field ?? 'secret'}`,
      oldValue: secret.hadSecret ? { set: true } : null,
      newValue: { replaced: true },
    });
  } else if (secret.change.kind === 'remove') {
    entries.push({
      kind: 'config',
      integration: null,
      fieldName: `channel.${name}.${secret.previousField ?? 'secret'}`,
      oldValue: { set: true },
      newValue: { removed: true },
    });
  }
  return entries;
}

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
      const [row] = await tx.select().from(alertChannels).where(eq(alertChannels.id, params.id)).for('update');
      if (!row)
        return { ok: false, code: 'not_found', message: `alert channel ${params.id} does not exist (deleted?); reload the channel list` };
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
    url: config.url ?? null,
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
    case 'slack':
      return { id: row.id, name: row.name, type: 'slack', url: String(config.url) };
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
