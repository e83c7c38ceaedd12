import { sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { integrations } from '../../lib/integrations';
import { startAlerting } from '../../lib/platform/alerts';
import { startPlatformWorker, type PlatformWorker } from '../../lib/platform/execution/worker';
import { createSecretsProvider } from '../../lib/platform/governance/secrets';
import { compileStoredMapping } from '../../lib/platform/mapping';
import { buildRegistry } from '../../lib/platform/registry';
import { getBreaker } from '../../lib/platform/resilience/breaker';
import { runNow } from '../../lib/platform/triggers/triggers';
import { startStandIns, type StandIns } from '../../sandbox/stand-ins';
import { freshDatabase, type TestDatabase } from '../db';
import { platformEvents, startTestBoss, TEST_WORKER_OPTIONS, waitFor } from '../fixtures/platform';
import {
  addCatcherChannel,
  addInvoices,
  configureAccountingExport,
  createRunQueues,
  INTEGRATION,
  invoiceNumbers,
  newSecretsKey,
  report,
  runStatusCounts,
  sleep,
} from './support';

/**
 * Issue 8, item 3: everything at once on the stand-ins: 30 % errors, 10 % timeouts (the client
 * gives up after 1 s; the stand-in has processed the request), 429 bursts with Retry-After, and a
 * 60-second outage joining them after the fourth run. The token endpoint gets errors and timeouts
 * too, and its tokens last 2 s, so it is asked again and again. Each run books its invoices in five
 * batches, so every kind of fault reaches the booking API many times (the suite counts what the
 * stand-in injected and requires each kind). Exports complete exactly once, the breaker opens and
 * closes (many times: it flaps), every incident has exactly one alert and one recovery, and the
 * recovery hold keeps the flapping to a few incidents: the catcher never sees a storm.
 */

const RUNS = 12;
const INVOICES_PER_RUN = 10;
/** Five booking requests per run; a run that fails for good leaves batches the next run rebuilds identically. */
const BATCH_SIZE = 2;
const OUTAGE_SECONDS = 60;
const CHANNEL = 'chaos';
/** A recovery closes its incident only after this long without another failure (flap damping). */
const RECOVERY_HOLD_SECONDS = 15;
const CHAOS = { errorRate: 0.3, timeoutRate: 0.1, rateLimit: { burst: 4, retryAfterSeconds: 1 } };

let t: TestDatabase;
let standIns: StandIns;
let boss: PgBoss;
let worker: PlatformWorker | undefined;
let alerting: { stop(): Promise<void> } | undefined;
const { keyring } = newSecretsKey();

beforeAll(async () => {
  t = await freshDatabase();
  // Tokens last 2 s, so the worker goes back to the faulty token endpoint throughout the suite.
  standIns = await startStandIns({ port: 0, smtpPort: 0, seed: 3, faults: {}, tokenTtlSeconds: 2 });
  await configureAccountingExport(t.db, {
    sandboxUrl: standIns.url,
    keyring,
    batchSize: BATCH_SIZE,
    retryDelays: ['1s', '1s', '2s', '2s', '3s', '3s'],
    breakerCooldown: '3s',
    breakerFailures: 3,
  });
  await addCatcherChannel(t.db, { sandboxUrl: standIns.url, keyring, name: CHANNEL });
  boss = await startTestBoss(t.url);
  await createRunQueues(boss, { expireInSeconds: 60, heartbeatSeconds: null, retryLimit: 10 });
  worker = await startPlatformWorker({
    db: t.db,
    boss,
    registry: buildRegistry(integrations),
    workerId: 'chaos-worker',
    secrets: createSecretsProvider(t.db, keyring),
    mapper: compileStoredMapping,
    options: {
      ...TEST_WORKER_OPTIONS,
      syncRegistry: false,
      queue: { expireInSeconds: 60, heartbeatSeconds: null, retryLimit: 10 },
      http: { timeoutMs: 1_000, backoffBaseMs: 50, backoffMaxMs: 300, maxRetryAfterMs: 1_500 },
    },
  });
  alerting = await startAlerting({
    db: t.db,
    boss,
    keyring,
    appUrl: 'http://localhost:3000',
    pollingIntervalSeconds: 0.5,
    deliveryRetry: { limit: 3, delaySeconds: 1, backoff: false },
    recoveryHoldSeconds: RECOVERY_HOLD_SECONDS,
    log: () => {},
  });
}, 120_000);

afterAll(async () => {
  await worker?.stop({ timeoutMs: 5_000 });
  await alerting?.stop();
  await boss?.stop({ graceful: false, timeout: 2_000 }).catch(() => {});
  await standIns?.close();
  await t?.drop();
});

/** What is still going on, for a timeout's message: unfinished runs, their last attempt, the breaker. */
async function unfinishedSummary(): Promise<string> {
  const rows = await t.db.execute<Record<string, unknown>>(sql`
    select r.id, r.status, r.attempt_count, r.next_attempt_at, a.outcome, a.error_class, left(a.error_message, 160) as error
      from runs r
      left join lateral (select * from attempts where run_id = r.id order by started_at desc limit 1) a on true
     where r.status not in ('succeeded', 'failed', 'cancelled') order by r.created_at`);
  const breaker = await getBreaker(t.db, { key: 'accounting-api' });
  return JSON.stringify({ unfinished: rows, breaker, faults: standIns.state.faults.snapshot().systems.accounting }, null, 1);
}

async function allRunsFinished(): Promise<boolean> {
  const [row] = await t.db.execute<{ n: number; done: number }>(
    sql`select count(*)::int as n, count(*) filter (where status in ('succeeded', 'failed', 'cancelled'))::int as done from runs`,
  );
  return row.n === row.done;
}

describe('external chaos on the stand-ins (issue 8, item 3)', () => {
  it('exports every invoice exactly once, opens and closes the breaker, one alert per incident and no storm', async () => {
    const faults = standIns.state.faults;
    faults.set('oauth', { errorRate: 0.3, timeoutRate: 0.1 });
    faults.set('accounting', CHAOS);
    const started = Date.now();
    let outageAt = 0;

    for (let i = 0; i < RUNS; i++) {
      await addInvoices(t.db, INVOICES_PER_RUN);
      await runNow(t.db, boss, { integration: INTEGRATION, triggeredBy: 'reliability-suite', trigger: 'api' });
      if (i === 3) {
        // The outage joins the other faults (setting a config restarts the system's random stream).
        faults.set('accounting', { ...CHAOS, outageSeconds: OUTAGE_SECONDS });
        outageAt = Date.now();
      }
      await sleep(1_500);
    }
    try {
      await waitFor('every run to finish', allRunsFinished, 300_000);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${await unfinishedSummary()}`);
    }
    expect(Date.now() - outageAt).toBeGreaterThan(OUTAGE_SECONDS * 1000);

    // Runs that failed for good leave their invoices to the next run: one calm run picks them up.
    const injected = { accounting: faults.snapshot().systems.accounting.injected, oauth: faults.snapshot().systems.oauth.injected };
    faults.clear();
    const numbers = await invoiceNumbers(t.db);
    let catchUp = false;
    if (standIns.state.ledger.summary().distinctReferences < numbers.length) {
      catchUp = true;
      await runNow(t.db, boss, { integration: INTEGRATION, triggeredBy: 'reliability-suite', trigger: 'api' });
      await waitFor('the catch-up run', allRunsFinished, 60_000);
    }
    await waitFor('the breaker to close', async () => (await getBreaker(t.db, { key: 'accounting-api' }))?.state === 'closed', 30_000);
    await waitFor(
      'open incidents to be recovered and every alert to be final',
      async () => {
        const [row] = await t.db.execute<{ open: number; pending: number; events: number }>(sql`
        select (select count(*)::int from incidents where closed_at is null) as open,
               (select count(*)::int from alerts where status = 'pending') as pending,
               (select count(*)::int from pgboss.job where name = 'platform-events' and state not in ('completed', 'failed', 'cancelled')) as events`);
        return row.open === 0 && row.pending === 0 && row.events === 0;
      },
      60_000,
    );

    const counts = await runStatusCounts(t.db);
    const ledger = standIns.state.ledger.summary();
    const booked = new Map(Object.entries(ledger.byReference));
    const lost = numbers.filter((n) => !booked.has(n));
    const duplicated = numbers.filter((n) => (booked.get(n) ?? 0) > 1);
    const incidents = await t.db.execute<{
      id: string;
      kind: string;
      closed: boolean;
      opened: number;
      recovered: number;
      events: number;
    }>(sql`
      select i.id, i.kind, i.closed_at is not null as closed, i.event_count as events,
             count(a.*) filter (where a.event = 'opened')::int as opened,
             count(a.*) filter (where a.event = 'recovered')::int as recovered
        from incidents i left join alerts a on a.incident_id = i.id
       group by i.id order by i.opened_at`);
    const [{ alerts }] = await t.db.execute<{ alerts: number }>(sql`select count(*)::int as alerts from alerts`);
    const failedWithoutAlert = await t.db.execute<{ id: string }>(sql`
      select r.id from runs r
       where r.status = 'failed'
         and not exists (
           select 1 from incidents i join alerts a on a.incident_id = i.id
            where i.integration = r.integration and i.kind = 'run_failed'
              and i.opened_at <= r.finished_at + interval '1 second'
              and (i.closed_at is null or i.closed_at >= r.finished_at - interval '1 second'))`);
    const messages = standIns.state.catchers.messages.filter((m) => m.name === CHANNEL);
    const breakerOpened = await platformEvents(t.db, 'breaker.opened');
    const breakerClosed = await platformEvents(t.db, 'breaker.closed');
    const [deferred] = await t.db.execute<{ n: number }>(sql`select count(*)::int as n from attempts where outcome = 'deferred'`);
    const requests = standIns.state.requests.snapshot();

    report('external chaos', {
      runs: RUNS + (catchUp ? 1 : 0),
      succeeded: counts.succeeded ?? 0,
      failed: counts.failed ?? 0,
      invoices: numbers.length,
      lost: lost.length,
      duplicated: duplicated.length,
      idempotentReplays: ledger.replays,
      breakerOpened: breakerOpened.length,
      breakerClosed: breakerClosed.length,
      deferredAttempts: deferred.n,
      incidents: incidents.length,
      incidentsByKind: Object.fromEntries(
        [...new Set(incidents.map((i) => i.kind))].map((k) => [k, incidents.filter((i) => i.kind === k).length]),
      ),
      incidentEvents: incidents.reduce((s, i) => s + i.events, 0),
      reportedLate: incidents.filter((i) => i.opened === 0).length,
      alerts,
      catcherMessages: messages.length,
      outageSeconds: OUTAGE_SECONDS,
      accountingResponses: requests.accounting,
      injected,
      seconds: Math.round((Date.now() - started) / 1000),
    });

    expect(await allRunsFinished()).toBe(true);
    // Every kind of fault reached the booking API, more than a handful of times.
    expect(injected.accounting.error).toBeGreaterThanOrEqual(10);
    expect(injected.accounting.timeout).toBeGreaterThanOrEqual(3);
    expect(injected.accounting['rate-limited']).toBeGreaterThanOrEqual(3);
    expect(injected.accounting.outage).toBeGreaterThanOrEqual(3);
    expect(injected.oauth.error + injected.oauth.timeout).toBeGreaterThanOrEqual(1);
    expect(counts.cancelled ?? 0).toBe(0);
    expect(failedWithoutAlert.map((r) => r.id)).toEqual([]);
    expect(lost).toEqual([]);
    expect(duplicated).toEqual([]);
    expect(breakerOpened.length).toBeGreaterThan(0);
    expect(breakerClosed.length).toBeGreaterThan(0);
    expect((await getBreaker(t.db, { key: 'accounting-api' }))?.state).toBe('closed');
    expect(incidents.some((i) => i.kind === 'breaker_open')).toBe(true);
    // Each incident: an opening and a recovery, or (its failure handled after its recovery) one alert saying both.
    for (const incident of incidents) {
      expect(incident, `incident ${incident.kind} ${incident.id}`).toMatchObject({ closed: true, recovered: 1 });
      expect(incident.opened, `incident ${incident.kind} ${incident.id}`).toBeLessThanOrEqual(1);
    }
    // No storm: the flapping breaker is a few incidents, not one per opening; one message per alert,
    // at most two alerts per incident, however many events.
    expect(incidents.filter((i) => i.kind === 'breaker_open').length).toBeLessThanOrEqual(Math.ceil(breakerOpened.length / 2));
    expect(alerts).toBe(incidents.reduce((n, i) => n + i.opened + i.recovered, 0));
    expect(messages.length).toBe(alerts);
  }, 480_000);
});
