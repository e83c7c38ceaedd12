import { createHmac, timingSafeEqual } from 'node:crypto';
import { eq, isNotNull } from 'drizzle-orm';
import type { Database } from '../../../db/client';
import { alertChannels, integrationSecrets, secretKeyChecks } from '../../../db/schema';
import { ConfigError } from '../../env';
import { openChannelSecret } from '../alerts/channel-secret';
import { open, SecretDecryptionError, type Keyring } from './crypto';

/**
 * A wrong secrets key is refused at start. For every key id there is one key check value: an
 * HMAC-SHA256 of a constant under the key, written by the first start that uses the key id. Web,
 * worker and the rotation script compare their keys with it before writing anything; a key id
 * without a check value yet (an installation from before the checks, or a new key) is proven
 * against a value already sealed with it, if there is one, before its check value is written.
 *
 * A mismatch stops start-up with one line naming the variable: the secrets stay as they are
 * (re-entering them under a wrong key would replace good ciphertext).
 */

const CHECK_LABEL = 'junction secrets key check v1';

export function secretsKeyCheckValue(key: Buffer): string {
  return createHmac('sha256', key).update(CHECK_LABEL).digest('base64');
}

function sameCheck(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function mismatch(keyring: Keyring, keyId: string, how: string): ConfigError {
  const variable = keyId === keyring.currentId ? 'JUNCTION_SECRETS_KEY' : 'JUNCTION_SECRETS_OLD_KEYS';
  return new ConfigError(
    `Invalid configuration: ${variable} does not match the key the stored secrets were sealed with under key id '${keyId}' (${how}): start with the key that sealed them; nothing was written, and the stored secrets are intact (do not re-enter them)`,
  );
}

/** Proves a key with no check value against one value sealed with it, if any. */
async function provenBySealedValue(db: Database, keyring: Keyring, keyId: string): Promise<boolean | null> {
  const [secret] = await db.select().from(integrationSecrets).where(eq(integrationSecrets.keyId, keyId)).limit(1);
  if (secret) {
    try {
      open(keyring, { keyId, sealed: secret.sealed }, `integration/${secret.integration}/secret/${secret.name}`);
      return true;
    } catch (error) {
      if (error instanceof SecretDecryptionError) return false;
      throw error;
    }
  }
  const channels = await db
    .select({ id: alertChannels.id, sealed: alertChannels.sealedSecret })
    .from(alertChannels)
    .where(isNotNull(alertChannels.sealedSecret));
  for (const channel of channels) {
    let stored: { keyId?: unknown };
    try {
      stored = JSON.parse(channel.sealed!) as { keyId?: unknown };
    } catch {
      continue;
    }
    if (stored.keyId !== keyId) continue;
    try {
      openChannelSecret(keyring, channel.id, channel.sealed!);
      return true;
    } catch (error) {
      if (error instanceof SecretDecryptionError) return false;
      throw error;
    }
  }
  return null;
}

/**
 * Checks every key of the keyring against its stored check value; writes the current key's check
 * value when there is none yet (and the key opens what is sealed with it). Throws a ConfigError with
 * one line naming the variable on a mismatch, before anything is written.
 */
export async function verifySecretsKeys(db: Database, keyring: Keyring): Promise<{ written: boolean }> {
  const ids = [keyring.currentId, ...[...keyring.keys.keys()].filter((id) => id !== keyring.currentId)];
  let write: string | null = null;
  for (const keyId of ids) {
    const key = keyring.keys.get(keyId)!;
    const [stored] = await db.select().from(secretKeyChecks).where(eq(secretKeyChecks.keyId, keyId));
    if (stored) {
      if (!sameCheck(stored.checkValue, secretsKeyCheckValue(key))) throw mismatch(keyring, keyId, 'its key check value differs');
      continue;
    }
    if ((await provenBySealedValue(db, keyring, keyId)) === false) throw mismatch(keyring, keyId, 'a secret sealed with it does not open');
    if (keyId === keyring.currentId) write = keyId;
  }
  if (!write) return { written: false };
  const value = secretsKeyCheckValue(keyring.keys.get(write)!);
  await db.insert(secretKeyChecks).values({ keyId: write, checkValue: value }).onConflictDoNothing();
  // Two first starts at once with different keys: the first one's value stands, the other stops.
  const [stored] = await db.select().from(secretKeyChecks).where(eq(secretKeyChecks.keyId, write));
  if (!sameCheck(stored.checkValue, value)) throw mismatch(keyring, write, 'its key check value differs');
  return { written: true };
}
