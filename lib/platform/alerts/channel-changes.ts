import type { z } from 'zod';
import type { AlertChannel } from '../../../db/schema';
import type { AuditEntry } from '../governance/audit';
import type { ChannelResult, ChannelType, TChannelInput } from './channel-input';

/**
 * How a channel is stored (its config without the secret) and what an edit changes: the secret
 * change (keep, set, remove), the audited fields, and the refusals of the commands.
 */

export interface StoredConfig {
  url?: string;
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

export function secretField(type: ChannelType): 'hmacSecret' | 'smtpPassword' | null {
  return type === 'webhook' ? 'hmacSecret' : type === 'email' ? 'smtpPassword' : null;
}

/** The audited, comparable fields of a channel (never a secret). */
export function flatFields(name: string, type: ChannelType, isEnabled: boolean, config: StoredConfig): Record<string, unknown> {
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
