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
  /** Every transaction of the pool is read only (default_transaction_read_only): a write is refused. */
  readOnly?: boolean;
}

/** The read-only pool beside each pool `connect` opened, made on first use (see `readOnlyPeer`). */
const peers = new WeakMap<Database, { open(): Database; opened?: Database }>();

/** Opens a pool. postgres.js reconnects by itself after a database restart. */
export function connect(url: string, options: ConnectOptions = {}): Database {
  const client = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // JIT compilation costs tens of ms per call once a plan's estimate passes jit_above_cost; the
    // platform's queries are short OLTP reads and writes that never repay it (bench/README.md, 4).
    connection: {
      application_name: options.name ?? 'junction',
      jit: 'off',
      ...(options.readOnly && { default_transaction_read_only: true }),
    },
    idle_timeout: options.idleTimeoutSeconds ?? 30,
    // postgres.js waits 3^n/100 s (up to 20 s) before its n-th reconnect after failures, so after a
    // 20 s outage a worker could sit idle for up to 20 s with the database back. Capped at 1 s:
    // runs resume within a few seconds of the database coming back (database-outage test).
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
  });
  const db = drizzle(client, { schema }) as Database;
  if (!options.readOnly) {
    // Half the pool's size, idle connections closed within a minute: handlers read through it
    // between their writes, and the connections it takes count against max_connections.
    const peerOptions: ConnectOptions = {
      ...options,
      name: `${options.name ?? 'junction'}-reads`,
      readOnly: true,
      max: Math.max(2, Math.ceil((options.max ?? 10) / 2)),
      idleTimeoutSeconds: Math.min(options.idleTimeoutSeconds ?? 30, 60),
    };
    const peer: { open(): Database; opened?: Database } = { open: () => (peer.opened ??= connect(url, peerOptions)) };
    peers.set(db, peer);
  }
  return db;
}

/**
 * The same database through a pool of its own whose every transaction is read only (PostgreSQL
 * refuses a write in it, SQLSTATE 25006): what a handler gets as `ctx.db`, so a write that skips
 * `ctx.tx` (which a dry-run rolls back and which commits only while its attempt owns the run) fails
 * instead of landing. Opened on first use (half the size of the pool, otherwise its settings) and ended by `disconnect`.
 * A guard against mistakes, not a wall: a transaction may still declare itself read write. A
 * database `connect` did not open (a transaction, say) is returned as it is.
 */
export function readOnlyPeer(db: Database): Database {
  return peers.get(db)?.open() ?? db;
}

/** PostgreSQL's refusal of a write in a read-only transaction: the error, or its cause as Drizzle wraps it. */
export function readOnlyRefusal(error: unknown): Error | undefined {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++)
    if ((e as { code?: unknown }).code === '25006') return e as Error;
  return undefined;
}

/** The postgres.js client under a Drizzle database (its pool) or transaction (its connection). */
export function postgresClient(db: DatabaseOrTransaction): postgres.Sql {
  return '$client' in db ? db.$client : (db as unknown as { session: { client: postgres.Sql } }).session.client;
}

export async function disconnect(db: Database): Promise<void> {
  const peer = peers.get(db)?.opened;
  await Promise.all([db.$client.end({ timeout: 5 }), peer?.$client.end({ timeout: 5 })]);
}
