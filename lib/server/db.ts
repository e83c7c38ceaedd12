import 'server-only';
import { connect, type Database } from '../../db/client';
import { loadEnv } from '../env';

const globalForDb = globalThis as unknown as { junctionDb?: Database };

/** The web app's pool: one per process, kept across hot reloads in development. */
export function getDb(): Database {
  if (!globalForDb.junctionDb) {
    const env = loadEnv();
    if (!env.DATABASE_URL) throw new Error('Invalid configuration: DATABASE_URL is required by the web app (missing)');
    globalForDb.junctionDb = connect(env.DATABASE_URL, { max: 10, name: 'junction-web' });
  }
  return globalForDb.junctionDb;
}
