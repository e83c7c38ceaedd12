import { randomBytes } from 'node:crypto';
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { webhookSecrets } from '../../../db/schema';
import type { IntegrationDefinition } from '../contract';
import { AppError } from '../errors';
import { recordAction } from '../governance/audit';
import { open, seal, SecretDecryptionError, type Keyring } from '../governance/crypto';

/**
 * Signing secrets of an integration's webhook endpoint, sealed with AES-256-GCM under the secrets
 * key like every other secret (AAD binds the value to its integration and row). Several may be
 * active at once (rotation: add the new one, move the sender over, revoke the old one). The console
 * only ever sees labels and dates; a value is shown once, when the platform generates it.
 * The intake (web process) opens them to verify signatures, cached for CACHE_MS.
 */

export const CACHE_MS = 5_000;
const MAX_ACTIVE = 5;

function aad(integration: string, id: string): string {
  return `integration/${integration}/webhook-secret/${id}`;
}

/** A fresh secret in the scheme's format: `whsec_<base64 of 24 bytes>` for standard-webhooks. */
export function generateWebhookSecret(scheme: 'standard-webhooks' | 'hmac-sha256'): string {
  const bytes = randomBytes(24);
  return scheme === 'standard-webhooks' ? `whsec_${bytes.toString('base64')}` : bytes.toString('hex');
}

function validateSecret(scheme: 'standard-webhooks' | 'hmac-sha256', value: string): string | null {
  if (value.length < 16 || value.length > 512) return 'must be 16 to 512 characters';
  if (/\s/.test(value)) return 'must not contain spaces or line breaks';
  if (scheme === 'standard-webhooks') {
    const b64 = value.startsWith('whsec_') ? value.slice(6) : value;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || Buffer.from(b64, 'base64').length < 16)
      return "must be a Standard Webhooks secret: 'whsec_' followed by base64 of at least 16 bytes";
  }
  return null;
}

export interface WebhookSecretInfo {
  id: string;
  label: string;
  createdAt: Date;
  createdBy: string;
}

export async function listWebhookSecrets(db: DatabaseOrTransaction, integration: string): Promise<WebhookSecretInfo[]> {
  return db
    .select({
      id: webhookSecrets.id,
      label: webhookSecrets.label,
      createdAt: webhookSecrets.createdAt,
      createdBy: webhookSecrets.createdBy,
    })
    .from(webhookSecrets)
    .where(and(eq(webhookSecrets.integration, integration), isNull(webhookSecrets.revokedAt)))
    .orderBy(asc(webhookSecrets.createdAt));
}

/** Adds an active secret (audited, never the value). `value` absent: generated and returned once. */
export async function addWebhookSecret(
  db: Database,
  keyring: Keyring,
  params: { def: IntegrationDefinition; label: string; value?: string; actor: string },
): Promise<{ id: string; generated?: string }> {
  const { def } = params;
  if (!def.events) throw new AppError('invalid_input', `Integration '${def.name}' does not receive events`);
  const label = params.label.trim();
  if (!label || label.length > 100) throw new AppError('invalid_input', 'label must be 1 to 100 characters');
  const value = params.value ?? generateWebhookSecret(def.events.scheme);
  const problem = validateSecret(def.events.scheme, value);
  if (problem) throw new AppError('invalid_input', `secret ${problem}`);
  const id = await db.transaction(async (tx) => {
    const active = await listWebhookSecrets(tx, def.name);
    if (active.length >= MAX_ACTIVE)
      throw new AppError('invalid_input', `At most ${MAX_ACTIVE} signing secrets may be active at once: revoke one first`);
    const [row] = await tx
      .insert(webhookSecrets)
      .values({ integration: def.name, label, sealed: '', keyId: keyring.currentId, createdBy: params.actor })
      .returning({ id: webhookSecrets.id });
    const sealed = seal(keyring, value, aad(def.name, row.id));
    await tx.update(webhookSecrets).set({ sealed: sealed.sealed, keyId: sealed.keyId }).where(eq(webhookSecrets.id, row.id));
    await recordAction(tx, {
      actor: params.actor,
      integration: def.name,
      action: 'webhook_secret.added',
      details: { secretId: row.id, label, generated: params.value === undefined },
    });
    return row.id;
  });
  invalidateWebhookSecrets(def.name);
  return params.value === undefined ? { id, generated: value } : { id };
}

export async function revokeWebhookSecret(db: Database, params: { integration: string; id: string; actor: string }): Promise<void> {
  await db.transaction(async (tx) => {
    const [row] = await tx
      .update(webhookSecrets)
      .set({ revokedAt: new Date(), revokedBy: params.actor })
      .where(and(eq(webhookSecrets.id, params.id), eq(webhookSecrets.integration, params.integration), isNull(webhookSecrets.revokedAt)))
      .returning({ label: webhookSecrets.label });
    if (!row) throw new AppError('not_found', 'That signing secret does not exist or is already revoked: reload the page');
    await recordAction(tx, {
      actor: params.actor,
      integration: params.integration,
      action: 'webhook_secret.revoked',
      details: { secretId: params.id, label: row.label },
    });
  });
  invalidateWebhookSecrets(params.integration);
}

const cache = new Map<string, { at: number; values: Promise<string[]> }>();

export function invalidateWebhookSecrets(integration?: string): void {
  if (integration) cache.delete(integration);
  else cache.clear();
}

/** Active secret values for verification; a value that no key opens is skipped (and logged once per load). */
export function activeWebhookSecrets(db: DatabaseOrTransaction, keyring: Keyring, integration: string): Promise<string[]> {
  const hit = cache.get(integration);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.values;
  const values = (async () => {
    const rows = await db
      .select()
      .from(webhookSecrets)
      .where(and(eq(webhookSecrets.integration, integration), isNull(webhookSecrets.revokedAt)));
    const out: string[] = [];
    for (const row of rows) {
      try {
        out.push(open(keyring, { keyId: row.keyId, sealed: row.sealed }, aad(integration, row.id)));
      } catch (error) {
        if (!(error instanceof SecretDecryptionError)) throw error;
        console.warn(`[intake] signing secret '${row.label}' of '${integration}' cannot be decrypted with the configured keys; skipped`);
      }
    }
    return out;
  })();
  cache.set(integration, { at: Date.now(), values });
  values.catch(() => cache.delete(integration));
  return values;
}
