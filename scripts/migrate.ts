import { connect, disconnect } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { ConfigError, loadEnv } from '../lib/env';
import { installBossSchema } from '../lib/platform/execution/boss';

try {
  const env = loadEnv();
  if (!env.DATABASE_URL) throw new ConfigError('Invalid configuration: DATABASE_URL is required to migrate (missing)');
  const db = connect(env.DATABASE_URL, { max: 1, name: 'junction-migrate' });
  await applyMigrations(db);
  await disconnect(db);
  await installBossSchema(env.DATABASE_URL);
  console.log('Migrations applied (application schema and pg-boss schema).');
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
