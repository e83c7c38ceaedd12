import 'server-only';
import { loadEnv } from '../env';
import type { Keyring } from '../platform/governance/crypto';
import { loadKeyring } from '../platform/governance/secrets';

let cached: Keyring | undefined;

/** The secrets keyring of the web process: it seals what admins type; it never opens secrets. */
export function getKeyring(): Keyring {
  if (!cached) {
    const env = loadEnv();
    if (!env.JUNCTION_SECRETS_KEY) throw new Error('Invalid configuration: JUNCTION_SECRETS_KEY is required to store secrets (missing)');
    cached = loadKeyring(env);
  }
  return cached;
}
