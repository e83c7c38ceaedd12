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

/** The last full audit verification (audit-guard.ts), null when none has run yet. */
export interface AuditGauge {
  ok: boolean;
  ageSeconds: number;
  /** Findings about the trail itself (rows rewritten or missing, a bad anchor). */
  trailFindings: number;
  /** Findings of configuration changed around the trail (config-drift.ts). */
  configDrift: number;
}

export interface DatabaseGaugeData {
  queues: QueueGauge[];
  breakers: BreakerGauge[];
  audit?: AuditGauge | null;
}

export async function readQueueAndBreakerGauges(db: DatabaseOrTransaction): Promise<DatabaseGaugeData> {
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
  const [audit] = await db.execute<{ ok: boolean; age: number; drift: number; findings: number }>(sql`
    select full_ok as ok, extract(epoch from now() - full_checked_at)::float8 as age,
           (select count(*)::int from jsonb_array_elements(coalesce(full_findings, '[]'::jsonb)) f where f->>'kind' = 'config_drift') as drift,
           jsonb_array_length(coalesce(full_findings, '[]'::jsonb)) as findings
      from audit_chain_state where id = 1 and full_checked_at is not null`);
  return {
    queues: queues.map((q) => ({ integration: q.integration, queued: Number(q.queued), oldestAgeSeconds: Number(q.oldest_age ?? 0) })),
    breakers: breakers.map((b) => ({ key: b.key, state: b.state, consecutiveFailures: Number(b.consecutive_failures) })),
    audit: audit
      ? {
          ok: audit.ok === true,
          ageSeconds: Number(audit.age),
          configDrift: Number(audit.drift),
          // A failure recorded without findings is the trail's.
          trailFindings: Math.max(Number(audit.findings) - Number(audit.drift), audit.ok === true || Number(audit.findings) > 0 ? 0 : 1),
        }
      : null,
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
export function gaugeRegistry(data: DatabaseGaugeData | null): Registry {
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
  // The audit trail's state for machines (the Audit page and the alerts say it to people); absent
  // until the first full verification has run.
  if (data.audit) {
    new Gauge({
      name: 'junction_audit_verification_ok',
      help: 'Whether the last full audit verification passed (1) or found something (0): the trail changed, or configuration changed around it.',
      registers,
    }).set(data.audit.ok ? 1 : 0);
    new Gauge({
      name: 'junction_audit_verification_age_seconds',
      help: 'Seconds since the last full audit verification (JUNCTION_AUDIT_VERIFY_INTERVAL_SECONDS apart while a worker runs).',
      registers,
    }).set(Math.round(data.audit.ageSeconds * 1000) / 1000);
    const findings = new Gauge({
      name: 'junction_audit_findings',
      help: 'What the last full audit verification found, by kind: trail (rows rewritten or missing, a bad anchor) or config_drift (configuration changed outside the console).',
      labelNames: ['kind'],
      registers,
    });
    findings.set({ kind: 'trail' }, data.audit.trailFindings);
    findings.set({ kind: 'config_drift' }, data.audit.configDrift);
  }
  return registry;
}
