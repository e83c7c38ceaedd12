import 'server-only';
import { keyringFrom, type Keyring } from '../platform/crypto';
import { loadEnv } from '../env';

let cached: Keyring | undefined;

/** The secrets keyring of the web process: it seals what admins type; it never opens secrets. */
export function getKeyring(): Keyring {
  if (!cached) {
    const env = loadEnv();
    if (!env.JUNCTION_SECRETS_KEY) throw new Error('Invalid configuration: JUNCTION_SECRETS_KEY is required to store secrets (missing)');
    cached = keyringFrom({ key: env.JUNCTION_SECRETS_KEY, keyId: env.JUNCTION_SECRETS_KEY_ID, oldKeys: env.JUNCTION_SECRETS_OLD_KEYS });
  }
  return cached;
}
