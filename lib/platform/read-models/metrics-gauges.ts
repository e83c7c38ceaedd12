import { sql } from 'drizzle-orm';
import { Gauge, Registry } from 'prom-client';
import type { DatabaseOrTransaction } from '../../../db/client';
import { databaseReason } from '../errors';

/**
 * The metrics that describe what is in the database rather than what one process did: queued runs
 * and the age of the oldest per integration, and the state of every breaker. Read once per scrape
 * by the web app (two indexed queries), so they are reported once however many workers run.
 */

export interface QueueGauge {
  integration: string;
  queued: number;
  oldestAgeSeconds: number;
}

export interface BreakerGauge {
  key: string;
  state: 'closed' | 'open' | 'half_open';
  consecutiveFailures: number;
}

export async function readQueueAndBreakerGauges(db: DatabaseOrTransaction): Promise<{ queues: QueueGauge[]; breakers: BreakerGauge[] }> {
  const queues = await db.execute<{ integration: string; queued: number; oldest_age: number | string | null }>(sql`
    select i.name as integration, count(r.id)::int as queued,
           coalesce(extract(epoch from now() - min(r.created_at)), 0)::float8 as oldest_age
      from integrations i
      left join runs r on r.integration = i.name and r.status = 'queued'
     where i.registered
     group by i.name
     order by i.name`);
  const breakers = await db.execute<{ key: string; state: BreakerGauge['state']; consecutive_failures: number }>(sql`
    select key, state, consecutive_failures from breakers order by key`);
  return {
    queues: queues.map((q) => ({ integration: q.integration, queued: Number(q.queued), oldestAgeSeconds: Number(q.oldest_age ?? 0) })),
    breakers: breakers.map((b) => ({ key: b.key, state: b.state, consecutiveFailures: Number(b.consecutive_failures) })),
  };
}

const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;

/** How long a scrape waits for the gauges' queries (Prometheus gives a scrape 10 s by default). */
export const GAUGES_TIMEOUT_MS = 5_000;

/**
 * The gauges for one scrape, never an error: when the database refuses or does not answer within
 * `timeoutMs`, the scrape still gets the process's counters (the caller merges them) and
 * `junction_database_gauges_up 0` instead of stale or missing-without-a-word gauges; the reason is
 * logged. The queries run in one transaction with `statement_timeout` set to `timeoutMs` (SET
 * LOCAL), so a query given up on is also cancelled by PostgreSQL, not left running on its
 * connection.
 */
export async function databaseGauges(db: DatabaseOrTransaction, options: { timeoutMs?: number } = {}): Promise<Registry> {
  const timeoutMs = options.timeoutMs ?? GAUGES_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the database did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    // The same timeout on the server: PostgreSQL cancels the queries at it and the pooled connection
    // is free again, instead of running them on (waiting for a lock, a slow disk) after the scrape
    // has answered without them. The timer above still answers when the database says nothing.
    const read = db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('statement_timeout', ${`${Math.max(1, Math.ceil(timeoutMs))}ms`}, true)`);
      return readQueueAndBreakerGauges(tx);
    });
    return gaugeRegistry(await Promise.race([read, deadline]));
  } catch (error) {
    console.error(`[metrics] the database-backed gauges are left out of this scrape: ${databaseReason(error)}`);
    return gaugeRegistry(null);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The gauges as a registry of their own, built per scrape from the rows just read; with null (the
 * database did not answer) only `junction_database_gauges_up 0`.
 */
export function gaugeRegistry(data: { queues: QueueGauge[]; breakers: BreakerGauge[] } | null): Registry {
  const registry = new Registry();
  const registers = [registry];
  new Gauge({
    name: 'junction_database_gauges_up',
    help: 'Whether this scrape read the database-backed gauges (1), or the database refused or did not answer in time (0: they are left out).',
    registers,
  }).set(data ? 1 : 0);
  if (!data) return registry;
  const queued = new Gauge({
    name: 'junction_runs_queued',
    help: 'Runs waiting to start (status queued, held ones included), by integration.',
    labelNames: ['integration'],
    registers,
  });
  const oldest = new Gauge({
    name: 'junction_oldest_queued_run_age_seconds',
    help: 'Age of the oldest queued run, by integration (0 when none is queued).',
    labelNames: ['integration'],
    registers,
  });
  const state = new Gauge({
    name: 'junction_breaker_state',
    help: 'Circuit breaker state per key: 1 for the current state (closed, open, half_open), 0 for the others.',
    labelNames: ['key', 'state'],
    registers,
  });
  const failures = new Gauge({
    name: 'junction_breaker_consecutive_failures',
    help: 'Consecutive transient failures counted by each breaker.',
    labelNames: ['key'],
    registers,
  });
  for (const q of data.queues) {
    queued.set({ integration: q.integration }, q.queued);
    oldest.set({ integration: q.integration }, Math.round(q.oldestAgeSeconds * 1000) / 1000);
  }
  for (const b of data.breakers) {
    for (const s of BREAKER_STATES) state.set({ key: b.key, state: s }, b.state === s ? 1 : 0);
    failures.set({ key: b.key }, b.consecutiveFailures);
  }
  return registry;
}
