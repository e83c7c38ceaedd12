import 'server-only';
import type { PgBoss } from 'pg-boss';
import { loadEnv } from '../env';
import { createBoss } from '../platform/execution/boss';
import { ensurePlatformQueues } from '../platform/execution/queue';

const globalForBoss = globalThis as unknown as { junctionBoss?: Promise<PgBoss> };

/**
 * The web app's pg-boss: it only sends jobs (run now, retries, test alerts). Supervision and cron
 * belong to the workers, so this instance runs neither.
 */
export function getBoss(): Promise<PgBoss> {
  globalForBoss.junctionBoss ??= (async () => {
    const env = loadEnv();
    if (!env.DATABASE_URL) throw new Error('Invalid configuration: DATABASE_URL is required by the web app (missing)');
    const boss = createBoss(env.DATABASE_URL, {
      supervise: false,
      schedule: false,
      migrate: env.JUNCTION_MIGRATE_ON_START,
      max: 4,
      application_name: 'junction-web-boss',
    });
    await boss.start();
    await ensurePlatformQueues(boss);
    return boss;
  })().catch((error) => {
    globalForBoss.junctionBoss = undefined;
    throw error;
  });
  return globalForBoss.junctionBoss;
}
