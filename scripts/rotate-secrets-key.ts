import { connect, disconnect } from '../db/client';
import { ConfigError, loadEnv } from '../lib/env';
import { loadKeyring, reencryptSecrets } from '../lib/platform/governance/secrets';
import { verifySecretsKeys } from '../lib/platform/governance/secrets-key-check';

/**
 * Re-encrypts every stored secret (integration credentials, alert channel secrets) under the
 * current key. Rotation in three steps:
 *   1. set the new key as JUNCTION_SECRETS_KEY with a new JUNCTION_SECRETS_KEY_ID, and move the
 *      old one to JUNCTION_SECRETS_OLD_KEYS ("k1:<old base64 key>"); restart web and worker;
 *   2. run `npm run secrets:rotate` (this script) once, with the same environment;
 *   3. remove the old key from JUNCTION_SECRETS_OLD_KEYS.
 * It runs in one transaction: a value under a key that is not configured stops it with nothing changed.
 */
try {
  const env = loadEnv();
  if (!env.DATABASE_URL) throw new ConfigError('Invalid configuration: DATABASE_URL is required to re-encrypt secrets (missing)');
  const keyring = loadKeyring(env);
  const db = connect(env.DATABASE_URL, { max: 1, name: 'junction-rotate-secrets' });
  try {
    // Every configured key must match its key check value: a wrong old key would re-encrypt nothing
    // readable, a wrong new key would seal everything under a key nobody has.
    await verifySecretsKeys(db, keyring);
    const result = await reencryptSecrets(db, keyring, { actor: `script:rotate-secrets-key (${process.env.USER ?? 'unknown user'})` });
    console.log(
      result.reencrypted === 0
        ? `Every secret is already sealed with key '${keyring.currentId}'.`
        : `Re-encrypted ${result.integrationSecrets} integration secret(s) and ${result.channelSecrets} alert channel secret(s) with key '${keyring.currentId}'. The old key can now be removed from JUNCTION_SECRETS_OLD_KEYS.`,
    );
  } finally {
    await disconnect(db);
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
