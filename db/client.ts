import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema';

export type Database = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
/** Every query takes this first, so the same function works inside and outside a transaction. */
export type DatabaseOrTransaction = Database | Transaction;

export interface ConnectOptions {
  max?: number;
  /** Application name shown in pg_stat_activity. */
  name?: string;
  /** Seconds an unused connection stays open (default 30). */
  idleTimeoutSeconds?: number;
}

/** Opens a pool. postgres.js reconnects by itself after a database restart. */
export function connect(url: string, options: ConnectOptions = {}): Database {
  const client = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // JIT compilation costs tens of ms per call once a plan's estimate passes jit_above_cost; the
    // platform's queries are short OLTP reads and writes that never repay it (bench/README.md, 4).
    connection: { application_name: options.name ?? 'junction', jit: 'off' },
    idle_timeout: options.idleTimeoutSeconds ?? 30,
    // postgres.js waits 3^n/100 s (up to 20 s) before its n-th reconnect after failures, so after a
    // 20 s outage a worker could sit idle for up to 20 s with the database back. Capped at 1 s:
    // runs resume within a few seconds of the database coming back (database-outage test).
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
  });
  return drizzle(client, { schema }) as Database;
}

/** The postgres.js client under a Drizzle database (its pool) or transaction (its connection). */
export function postgresClient(db: DatabaseOrTransaction): postgres.Sql {
  return '$client' in db ? db.$client : (db as unknown as { session: { client: postgres.Sql } }).session.client;
}

export async function disconnect(db: Database): Promise<void> {
  await db.$client.end({ timeout: 5 });
}
