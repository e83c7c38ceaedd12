import { sql } from 'drizzle-orm';
import type { Database } from '../../../db/client';

/**
 * Raises the bound below every unfinished run's created_at (migration 0032) as far as is safe now:
 * an hour (the margin) before the oldest unfinished run, or before the start of the oldest
 * transaction still open when that is earlier. The turn subqueries skip the weekly partitions
 * before it. Returns the new bound, or null when it was left as it was (another raise is running,
 * a transaction writing runs in the past holds it, a prepared transaction exists, or a session's
 * transaction is hidden from this role). The worker's maintenance loop calls it (startPruner).
 */
export async function raiseRunFloor(db: Database, options: { marginMs?: number } = {}): Promise<Date | null> {
  // The margin below the oldest run or transaction (default an hour: the server's clock may step
  // back); tests take it down to the millisecond created_at is rounded to.
  const margin = options.marginMs === undefined ? sql`` : sql`make_interval(secs => ${options.marginMs / 1000})`;
  // Its own statement outside any transaction the caller may hold: the function needs READ COMMITTED.
  const [row] = await db.execute<{ since: string | null }>(sql`select raise_run_active_floor(${margin})::text as since`);
  return row.since === null ? null : new Date(row.since);
}
