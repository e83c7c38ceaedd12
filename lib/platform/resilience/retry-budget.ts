import { sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';

/**
 * Retry budget: `integrations.retry_budget` (0..1, null = none) caps automatic retries as a share of
 * the integration's attempts in the last hour (attempt number > 1 counts as a retry; deferred
 * attempts — breaker open, worker released — and interrupted ones — worker lost, database
 * unavailable — are not attempts). Over budget, a transient failure is
 * not retried: the run fails with "retry budget exhausted". A quiet integration is not capped: the
 * budget applies once the hour holds RETRY_BUDGET_MIN_ATTEMPTS attempts, so one failure at night
 * still gets its retries.
 */

export const RETRY_BUDGET_WINDOW = '1 hour';
export const RETRY_BUDGET_MIN_ATTEMPTS = 10;

export interface RetryBudgetStatus {
  /** The configured share, null when the integration has no budget. */
  budget: number | null;
  /** Attempts in the last hour (deferred ones excluded). */
  attempts: number;
  /** Of those, automatic retries (attempt number > 1). */
  retries: number;
  /** True when one more retry would take the share of retries over the budget. */
  exhausted: boolean;
}

export async function retryBudgetStatus(
  db: DatabaseOrTransaction,
  params: { integration: string; budget: number | null },
): Promise<RetryBudgetStatus> {
  if (params.budget === null || params.budget === undefined) return { budget: null, attempts: 0, retries: 0, exhausted: false };
  const budget = Number(params.budget);
  const [row] = await db.execute<{ attempts: number; retries: number }>(sql`
    select count(*)::int as attempts, (count(*) filter (where a.number > 1))::int as retries
    from attempts a join runs r on r.id = a.run_id
    where a.started_at > now() - interval '1 hour' and r.integration = ${params.integration} and a.outcome not in ('deferred', 'interrupted')`);
  const attempts = Number(row.attempts);
  const retries = Number(row.retries);
  const exhausted = attempts >= RETRY_BUDGET_MIN_ATTEMPTS && (retries + 1) / (attempts + 1) > budget;
  return { budget, attempts, retries, exhausted };
}

export function retryBudgetMessage(status: RetryBudgetStatus, lastError: string): string {
  const share = Math.round((status.budget ?? 0) * 100);
  return `retry budget exhausted: ${status.retries} of ${status.attempts} attempts in the last hour were automatic retries (budget ${share}%), so this transient failure was not retried. Last error: ${lastError}`;
}
