import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type { Database } from './client';
import { RESTRICT_AUDIT_LOG_SQL } from './roles';

export const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** The advisory lock that serialises migration runs (audit's chain lock is 727275). */
export const MIGRATION_LOCK = 727274;

/**
 * Applies every pending migration; start-up, `npm run db:migrate` and the tests share this one
 * path. Concurrent starters (web and worker booting at once, several workers) are serialised: the
 * whole run — reading the last applied migration included — happens in one transaction that holds
 * the advisory lock, so the second starter waits, then finds nothing left to apply. (The lock used
 * to be taken in a transaction of its own that committed before `migrate()` ran: it serialised
 * nothing, and two starters on an empty database both applied 0000 and one failed.)
 */
export async function applyMigrations(db: Database): Promise<void> {
  // Nothing to apply: no lock, no DDL (a role without DDL rights can start on a current database).
  if (!(await migrationStatus(db)).current) await migrate(db);
  await ensureRunPartitionsAround(db);
}

/**
 * The weekly partitions of runs, attempts and attempt_logs (migration 0016) from three weeks back
 * to four weeks ahead, where missing: `npm run db:migrate` creates the weeks ahead even when the
 * worker runs as the runtime role. ensure_run_partitions is SECURITY DEFINER (it runs as the
 * tables' owner), so a role without DDL rights can call it too; the worker does, hourly.
 */
async function ensureRunPartitionsAround(db: Database): Promise<void> {
  await db.execute(sql`select ensure_run_partitions(now() - interval '3 weeks', 8)`);
}

async function migrate(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    // What drizzle's migrate() does, but on this connection and inside the lock (its own
    // version reads the last applied migration before taking a transaction of its own).
    await tx.execute(sql`create schema if not exists drizzle`);
    await tx.execute(
      sql`create table if not exists drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`,
    );
    const [last] = await tx.execute<{ created_at: string | null }>(
      sql`select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`,
    );
    for (const migration of readMigrationFiles({ migrationsFolder })) {
      if (last && Number(last.created_at) >= migration.folderMillis) continue;
      for (const statement of migration.sql) await tx.execute(sql.raw(statement));
      await tx.execute(
        sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${migration.hash}, ${migration.folderMillis})`,
      );
    }
    // Default privileges (db/roles.ts) grant the runtime role DML on every new table; audit_log
    // stays INSERT and SELECT only for every role but its owner, whatever a migration created.
    await tx.execute(sql.raw(RESTRICT_AUDIT_LOG_SQL));
  });
}

interface Journal {
  entries: { idx: number; tag: string; when: number }[];
}

/** The migrations this build ships with, from drizzle-kit's journal. */
export function shippedMigrations(): Journal['entries'] {
  const journal = JSON.parse(readFileSync(path.join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as Journal;
  return journal.entries;
}

export interface MigrationStatus {
  applied: number;
  shipped: number;
  current: boolean;
}

/** Compares what the database has applied with what this build ships. */
export async function migrationStatus(db: Database): Promise<MigrationStatus> {
  const shipped = shippedMigrations();
  let applied = 0;
  let lastApplied = 0;
  try {
    const rows = await db.execute<{ n: number; last: string | null }>(
      sql`select count(*)::int as n, max(created_at)::text as last from drizzle.__drizzle_migrations`,
    );
    applied = rows[0]?.n ?? 0;
    lastApplied = Number(rows[0]?.last ?? 0);
  } catch {
    applied = 0;
  }
  const lastShipped = shipped.at(-1)?.when ?? 0;
  return { applied, shipped: shipped.length, current: applied >= shipped.length && lastApplied >= lastShipped };
}
