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
  if (boss.listenerCount('error') === 0) {
    const log = summarisedErrorLog((line) => console.error(`[pg-boss] ${line}`));
    boss.on('error', (error) => log(error.message));
  }
  return boss;
}

/**
 * A log for errors that repeat: each message is written the first time, and its repeats within a
 * window (a minute) are counted and written once, as "<message> (N more times in the last 60 s)".
 * With the database away every pg-boss loop of a worker (each queue, each slot) reports the same
 * refused connection at every poll: 754 lines in three minutes of one outage, burying the lines that
 * say what else went wrong. The queue and worker named after a message are left out of what counts
 * as the same message.
 */
export function summarisedErrorLog(write: (line: string) => void, windowMs = 60_000): (message: string) => void {
  const repeats = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const seen = [...repeats];
    repeats.clear();
    for (const [message, count] of seen) {
      if (count > 0) write(`${message} (${count} more time${count === 1 ? '' : 's'} in the last ${windowMs / 1000} s)`);
    }
    // Still repeating: keep summarising; quiet for a whole window: the next error is written at once.
    if (seen.some(([, count]) => count > 0)) {
      for (const [message] of seen) repeats.set(message, 0);
      timer = setTimeout(flush, windowMs).unref();
    }
  };
  return (message) => {
    const key = message.replace(/ \(Queue: [^)]*\)$/, '');
    const count = repeats.get(key);
    if (count === undefined) {
      write(message);
      repeats.set(key, 0);
    } else repeats.set(key, count + 1);
    timer ??= setTimeout(flush, windowMs).unref();
  };
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
