import type { z } from 'zod';
import type { AlertChannel } from '../../../db/schema';
import type { AuditEntry } from '../governance/audit';
import { clip } from '../words';
import type { ChannelResult, ChannelType, TChannelInput } from './channel-input';

/**
 * How a channel is stored (its config without the secret) and what an edit changes: the secret
 * change (keep, set, remove), the audited fields, and the refusals of the commands.
 */

export interface StoredConfig {
  /** webhook. A Slack row keeps its URL here only until it is sealed (sealPlainSlackUrls). */
  url?: string;
  /** slack: the host of the sealed URL, for a masked target (`hooks.slack.com/…`). */
  urlHost?: string;
  to?: string[];
  from?: string;
  /** Without password. */
  smtpUrl?: string;
}

export function withoutPassword(url: string): { url: string; user: string | null; password: string | null } {
  const u = new URL(url);
  const user = u.username ? decodeURIComponent(u.username) : null;
  const password = u.password ? decodeURIComponent(u.password) : null;
  u.password = '';
  return { url: u.toString().replace(/\/$/, ''), user, password };
}

export type SecretField = 'hmacSecret' | 'smtpPassword' | 'url';

/** The field a channel type's one sealed secret is audited under: a Slack channel's URL is its secret. */
export function secretField(type: ChannelType): SecretField {
  return type === 'webhook' ? 'hmacSecret' : type === 'email' ? 'smtpPassword' : 'url';
}

/**
 * A webhook URL as shown and audited: a password stored before such URLs were refused
 * (channel-input.ts) is masked; deliveries still use the stored URL.
 */
export function shownWebhookUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const u = new URL(url);
  if (!u.password) return url;
  u.password = '***';
  return u.toString();
}

/** The host of a URL for a masked target, or null when it does not parse. */
export function urlHost(url: string): string | null {
  return URL.canParse(url) ? new URL(url).host : null;
}

/** The audited, comparable fields of a channel (never a secret: a Slack URL is audited as its secret). */
export function flatFields(name: string, type: ChannelType, isEnabled: boolean, config: StoredConfig): Record<string, unknown> {
  return {
    name,
    type,
    enabled: isEnabled,
    url: type === 'slack' || config.url === undefined ? null : shownWebhookUrl(config.url),
    to: config.to ?? null,
    from: config.from ?? null,
    smtpUrl: config.smtpUrl ?? null,
  };
}

export type SecretChange = { kind: 'keep' } | { kind: 'set'; value: string } | { kind: 'remove' };

export interface Existing {
  row: AlertChannel;
  secret: string | null;
}

/** Decides what happens to the sealed secret, comparing with the stored plaintext so an unchanged secret writes nothing. */
export function secretChange(input: TChannelInput, existing: Existing | null): { config: StoredConfig; change: SecretChange } {
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
    case 'slack': {
      if (input.url !== undefined) return { config: { urlHost: urlHost(input.url) ?? undefined }, change: set(input.url) };
      // Kept: the caller refused the edit already when there is no URL to keep (slackUrlMissing).
      return { config: { urlHost: had === null ? undefined : (urlHost(had) ?? undefined) }, change: { kind: 'keep' } };
    }
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

export function validationFailure(error: z.ZodError): ChannelResult {
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

/** A Slack channel needs a URL: given now, or stored before for a channel that was already Slack. */
export function slackUrlMissing(input: TChannelInput, existing: Existing | null): ChannelResult | null {
  if (input.type !== 'slack' || input.url !== undefined) return null;
  if (existing?.row.type === 'slack' && existing.secret !== null) return null;
  const message = 'url is required: paste the Slack incoming-webhook URL';
  return { ok: false, code: 'invalid_input', message: `The channel was not saved: ${message}`, fieldErrors: { url: message } };
}

/**
 * An SMTP URL naming a user needs that user's password: given in the URL, or stored already for
 * the same user. Without one every delivery would fail at login ("Missing credentials").
 */
export function smtpPasswordMissing(input: TChannelInput, existing: Existing | null): ChannelResult | null {
  if (input.type !== 'email') return null;
  const smtp = withoutPassword(input.smtpUrl);
  if (smtp.user === null || smtp.password !== null) return null;
  if (existing?.row.type === 'email' && existing.secret !== null) {
    const previousUser = withoutPassword(String((existing.row.config as StoredConfig).smtpUrl ?? 'smtp://x')).user;
    if (previousUser === smtp.user) return null;
  }
  // Bounded: the URL has no length limit, and a message never echoes a huge input back.
  const user = clip(smtp.user, 40);
  const message = `smtpUrl names the user '${user}' but no password: write it as smtp://${user === smtp.user ? encodeURIComponent(user) : 'USER'}:PASSWORD@host:port (it is stored sealed and never shown)`;
  return { ok: false, code: 'invalid_input', message: `The channel was not saved: ${message}`, fieldErrors: { smtpUrl: message } };
}

export function nameTaken(name: string): ChannelResult {
  const message = `a channel named '${name}' already exists; choose another name`;
  return { ok: false, code: 'conflict', message, fieldErrors: { name: message } };
}

export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } };
  return e?.code === '23505' || e?.cause?.code === '23505';
}

export function auditEntries(
  name: string,
  before: Record<string, unknown> | null,
  after: Record<string, unknown>,
  secret: {
    field: SecretField;
    hadSecret: boolean;
    change: SecretChange;
    previousField: SecretField | null;
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
      fieldName: `channel.${name}.${secret.field}`,
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
