import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type { Database } from './client';

export const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Applies every pending migration; start-up, the worker and the tests share this one path. */
export async function applyMigrations(db: Database): Promise<void> {
  // Serialise concurrent starters (web + worker booting at once) on one advisory lock.
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(727274)`);
  });
  await migrate(db, { migrationsFolder });
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
