import { and, asc, eq, inArray, isNotNull, ne, sql } from 'drizzle-orm';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { alertChannels, integrationSecrets } from '../../../db/schema';
import { ConfigError, type Env } from '../../env';
import { openChannelSecret, sealChannelSecret } from '../alerts/channel-secret';
import type { SecretsProvider } from '../contract';
import { SecretsKeyMismatchError } from '../errors';
import { recordAction } from './audit';
import { keyringFrom, open, seal, SecretDecryptionError, type Keyring } from './crypto';

/**
 * Integration secrets at rest: AES-256-GCM (crypto.ts) under the key from the environment, with
 * the key id stored beside each value and the integration and secret name bound in as AAD (a
 * sealed value copied to another row does not open). Values leave this module only through the
 * worker's SecretsProvider; everything the console gets is status ("set on <date> by <who>").
 */

export type { Keyring };

export type KeyringEnv = Pick<Env, 'JUNCTION_SECRETS_KEY' | 'JUNCTION_SECRETS_KEY_ID' | 'JUNCTION_SECRETS_OLD_KEYS'>;

/**
 * The keyring from JUNCTION_SECRETS_KEY (+ _ID, _OLD_KEYS). In production lib/env.ts already
 * refuses to start without the key; `npm run dev` generates one under .data/.
 */
export function loadKeyring(env: KeyringEnv): Keyring {
  if (!env.JUNCTION_SECRETS_KEY) {
    throw new ConfigError(
      'Invalid configuration: JUNCTION_SECRETS_KEY is required to store and read secrets (missing): generate one with `openssl rand -base64 32`; `npm run dev` keeps one in .data/secrets.key',
    );
  }
  return keyringFrom({ key: env.JUNCTION_SECRETS_KEY, keyId: env.JUNCTION_SECRETS_KEY_ID, oldKeys: env.JUNCTION_SECRETS_OLD_KEYS });
}

/** Binds a sealed value to its row. */
function secretAad(integration: string, name: string): string {
  return `integration/${integration}/secret/${name}`;
}

export interface SecretStatus {
  name: string;
  set: boolean;
  updatedAt: Date | null;
  updatedBy: string | null;
  /** False for a stored secret the handler no longer declares (kept, shown so it can be noticed). */
  declared: boolean;
}

/** Declared secrets in declaration order, then stored but undeclared ones; never a value. */
export async function secretStatus(
  db: DatabaseOrTransaction,
  params: { integration: string; declared: readonly string[] },
): Promise<SecretStatus[]> {
  const rows = await db
    .select({ name: integrationSecrets.name, updatedAt: integrationSecrets.updatedAt, updatedBy: integrationSecrets.updatedBy })
    .from(integrationSecrets)
    .where(eq(integrationSecrets.integration, params.integration))
    .orderBy(asc(integrationSecrets.name));
  const stored = new Map(rows.map((r) => [r.name, r]));
  const declared = [...new Set(params.declared)];
  return [
    ...declared.map((name) => {
      const row = stored.get(name);
      return { name, set: Boolean(row), updatedAt: row?.updatedAt ?? null, updatedBy: row?.updatedBy ?? null, declared: true };
    }),
    ...rows
      .filter((r) => !declared.includes(r.name))
      .map((r) => ({ name: r.name, set: true, updatedAt: r.updatedAt, updatedBy: r.updatedBy, declared: false })),
  ];
}

export interface SecretWrite {
  name: string;
  /** Whether a value was stored before (the audit says "replaced" rather than "set"). */
  replaced: boolean;
}

/**
 * Seals and stores values in the caller's transaction (the config service's). Every value given is
 * written and returned, one equal to the stored value too (see below). Callers have validated the
 * names against the handler's declaration.
 */
export async function writeSecrets(
  tx: DatabaseOrTransaction,
  params: { integration: string; values: Readonly<Record<string, string>>; actor: string; keyring: Keyring },
): Promise<SecretWrite[]> {
  const names = Object.keys(params.values).sort();
  if (names.length === 0) return [];
  const existing = await tx
    .select()
    .from(integrationSecrets)
    .where(and(eq(integrationSecrets.integration, params.integration), inArray(integrationSecrets.name, names)))
    .for('update');
  const byName = new Map(existing.map((r) => [r.name, r]));
  const writes: SecretWrite[] = [];
  for (const name of names) {
    const value = params.values[name];
    const aad = secretAad(params.integration, name);
    const row = byName.get(name);
    // No comparison with the stored value: skipping an equal one would tell whoever may replace a
    // secret (but not read it) that a guess was right. An equal value is sealed, saved and audited
    // like any other.
    const sealed = seal(params.keyring, value, aad);
    await tx
      .insert(integrationSecrets)
      .values({ integration: params.integration, name, sealed: sealed.sealed, keyId: sealed.keyId, updatedBy: params.actor })
      .onConflictDoUpdate({
        target: [integrationSecrets.integration, integrationSecrets.name],
        set: { sealed: sealed.sealed, keyId: sealed.keyId, updatedBy: params.actor, updatedAt: sql`now()` },
      });
    writes.push({ name, replaced: Boolean(row) });
  }
  return writes;
}

/**
 * The worker's SecretsProvider: decrypted values of the requested names that are set. A value that
 * cannot be opened (its key is not configured or does not match, or it was tampered with) is a
 * SecretsKeyMismatchError naming the secret and the key to start with, never showing any part of
 * the value and never asking for it again.
 */
export function createSecretsProvider(db: DatabaseOrTransaction, keyring: Keyring): SecretsProvider {
  return {
    async read(integration: string, names: readonly string[]): Promise<Record<string, string>> {
      if (names.length === 0) return {};
      const rows = await db
        .select()
        .from(integrationSecrets)
        .where(and(eq(integrationSecrets.integration, integration), inArray(integrationSecrets.name, [...names])));
      const values: Record<string, string> = {};
      for (const row of rows) {
        try {
          values[row.name] = open(keyring, { keyId: row.keyId, sealed: row.sealed }, secretAad(integration, row.name));
        } catch (error) {
          if (!(error instanceof SecretDecryptionError)) throw error;
          throw new SecretsKeyMismatchError(
            `Secret '${row.name}' of '${integration}' cannot be decrypted (${error.message}): the key this worker has for key id '${row.keyId}' does not match the key the secret was sealed with; start the worker with the key that sealed it (JUNCTION_SECRETS_KEY, or JUNCTION_SECRETS_OLD_KEYS for an older key id). The stored value is kept as it is.`,
          );
        }
      }
      return values;
    },
  };
}

/**
 * Re-encrypts every sealed value not under the current key (integration secrets and alert channel
 * secrets) in one transaction, and records the action. Rotation: deploy the new key as
 * JUNCTION_SECRETS_KEY (+ _ID) with the old one in JUNCTION_SECRETS_OLD_KEYS, run
 * `npm run secrets:rotate` (scripts/rotate-secrets-key.ts), then drop the old key.
 * A value whose key is missing stops the whole run with the key ids to add: nothing is half done.
 */
export async function reencryptSecrets(
  db: Database,
  keyring: Keyring,
  options: { actor?: string } = {},
): Promise<{ reencrypted: number; integrationSecrets: number; channelSecrets: number }> {
  return db.transaction(async (tx) => {
    const stale = await tx.select().from(integrationSecrets).where(ne(integrationSecrets.keyId, keyring.currentId)).for('update');
    const channels = await tx
      .select({ id: alertChannels.id, sealedSecret: alertChannels.sealedSecret })
      .from(alertChannels)
      .where(isNotNull(alertChannels.sealedSecret))
      .for('update');
    const missing = new Set<string>();
    for (const row of stale) if (!keyring.keys.has(row.keyId)) missing.add(row.keyId);
    const staleChannels = channels.filter((c) => {
      const keyId = channelKeyId(c.sealedSecret!);
      if (keyId === keyring.currentId) return false;
      if (keyId === null || !keyring.keys.has(keyId)) missing.add(keyId ?? '(unreadable)');
      return true;
    });
    if (missing.size > 0) {
      throw new ConfigError(
        `Cannot re-encrypt: values are sealed with key(s) ${[...missing]
          .sort()
          .map((k) => `'${k}'`)
          .join(', ')} that are not configured; add them to JUNCTION_SECRETS_OLD_KEYS and run again (nothing was changed)`,
      );
    }
    for (const row of stale) {
      const aad = secretAad(row.integration, row.name);
      const plain = open(keyring, { keyId: row.keyId, sealed: row.sealed }, aad);
      const sealed = seal(keyring, plain, aad);
      // updated_at/by stay: they say when an admin last set the value, which rotation does not change.
      await tx
        .update(integrationSecrets)
        .set({ sealed: sealed.sealed, keyId: sealed.keyId })
        .where(and(eq(integrationSecrets.integration, row.integration), eq(integrationSecrets.name, row.name)));
    }
    for (const channel of staleChannels) {
      const plain = openChannelSecret(keyring, channel.id, channel.sealedSecret!);
      await tx
        .update(alertChannels)
        .set({ sealedSecret: sealChannelSecret(keyring, channel.id, plain) })
        .where(eq(alertChannels.id, channel.id));
    }
    const reencrypted = stale.length + staleChannels.length;
    if (reencrypted > 0) {
      await recordAction(tx, {
        actor: options.actor ?? 'system',
        action: 'secrets_reencrypt',
        details: { keyId: keyring.currentId, integrationSecrets: stale.length, channelSecrets: staleChannels.length },
      });
    }
    return { reencrypted, integrationSecrets: stale.length, channelSecrets: staleChannels.length };
  });
}

/** The key id inside a channel's stored `{ keyId, sealed }` JSON, or null when unreadable. */
function channelKeyId(stored: string): string | null {
  try {
    const parsed = JSON.parse(stored) as { keyId?: unknown };
    return typeof parsed.keyId === 'string' ? parsed.keyId : null;
  } catch {
    return null;
  }
}
