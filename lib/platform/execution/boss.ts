import { PgBoss, type ConstructorOptions } from 'pg-boss';

export const BOSS_SCHEMA = 'pgboss';

/**
 * A pg-boss instance on the platform's schema; the caller starts and stops it. Overrides are for
 * tests (short supervise/monitor intervals so expired jobs of a killed worker are noticed quickly).
 */
export function createBoss(databaseUrl: string, overrides: Partial<ConstructorOptions> = {}): PgBoss {
  const boss = new PgBoss({
    connectionString: databaseUrl,
    schema: BOSS_SCHEMA,
    application_name: 'junction-boss',
    max: 6,
    // Expired and heartbeat-lost jobs (a worker killed mid-attempt) are found by the monitor pass.
    superviseIntervalSeconds: 15,
    monitorIntervalSeconds: 15,
    // LISTEN on one dedicated connection: jobs put on notify-enabled queues (queue.ts) wake this
    // instance's idle workers at once. Without it (or when the listener drops) workers poll.
    useListenNotify: true,
    ...overrides,
  });
  // pg-boss reports connection trouble as events; without a listener Node would throw them.
  if (boss.listenerCount('error') === 0) boss.on('error', (error) => console.error(`[pg-boss] ${error.message}`));
  return boss;
}

/**
 * Installs or upgrades pg-boss's schema and stops (`npm run db:migrate`, as the owner role). Web
 * and worker started with JUNCTION_MIGRATE_ON_START=false run pg-boss with `migrate: false`: it
 * then only checks the schema version and never needs DDL rights.
 */
export async function installBossSchema(databaseUrl: string): Promise<void> {
  const boss = createBoss(databaseUrl, {
    max: 1,
    supervise: false,
    schedule: false,
    registerInstance: false,
    useListenNotify: false,
    application_name: 'junction-migrate-boss',
  });
  await boss.start();
  await boss.stop({ graceful: false });
}
