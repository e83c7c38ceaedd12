import { connect, disconnect } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { ConfigError, loadEnv } from '../lib/env';
import { loadKeyring } from '../lib/platform/governance/secrets';
import { verifySecretsKeys } from '../lib/platform/governance/secrets-key-check';

/**
 * Run by `npm run start:web` before `next start`: applies pending migrations (unless
 * JUNCTION_MIGRATE_ON_START=false) and refuses a
 * JUNCTION_SECRETS_KEY that does not match the key the stored secrets were sealed with (one line
 * naming the variable, exit code 1, nothing written), so the console never seals new values under
 * a wrong key. The worker does the same at its own start.
 */
try {
  const env = loadEnv();
  if (!env.DATABASE_URL) throw new ConfigError('Invalid configuration: DATABASE_URL is required by the web app (missing)');
  const keyring = loadKeyring(env);
  const db = connect(env.DATABASE_URL, { max: 1, name: 'junction-web-start' });
  try {
    // With JUNCTION_MIGRATE_ON_START=false the runtime role cannot migrate: `npm run db:migrate` did it.
    if (env.JUNCTION_MIGRATE_ON_START) await applyMigrations(db);
    await verifySecretsKeys(db, keyring);
  } finally {
    await disconnect(db);
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
