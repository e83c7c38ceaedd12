import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alerts, attempts, incidents } from '../../../db/schema';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { waitFor } from '../../../test/fixtures/platform';
import { keyring, runOf, waitForRun } from '../../../test/fixtures/shipped-integrations';
import { startAlerting } from '../../platform/alerts';
import { createChannel } from '../../platform/alerts/channels';
import { getBreaker } from '../../platform/resilience/breaker';
import { runNow } from '../../platform/triggers/triggers';

/**
 * An outage of the accounting API, end to end: the stand-in answers 503 to everything; the first
 * attempt fails on it until the shared breaker 'accounting-api' opens; while it is open not one
 * request reaches the API and the run waits as 'deferred' without using attempts; alerting (a
 * webhook channel on the stand-in's catcher) sends ONE 'opened' message; when the API is back the
 * half-open trial closes the breaker, a recovery message follows and the export books every invoice
 * exactly once. The cooldown is shrunk from 1 minute to 10 seconds.
 */

const INVOICES = 300;
let h: ExportTest;
let alerting: { stop(): Promise<void> };

beforeAll(async () => {
  h = await startExportTest({
    hostData: { customers: 10, invoices: INVOICES, seed: 5 },
    exportConfig: { settings: { batchSize: 50 }, retryDelays: ['1s', '1s', '1s'], breakerFailures: 3, breakerCooldown: '10s' },
  });
  const channel = await createChannel(h.db, {
    input: { type: 'webhook', name: 'ops', url: `${h.sandbox.url}/catcher/webhook/ops` },
    actor: 'ada@example.com',
    keyring,
  });
  if (!channel.ok) throw new Error(channel.message);
  alerting = await startAlerting({
    db: h.db,
    boss: h.boss,
    keyring,
    appUrl: 'http://localhost:3000',
    deliveryRetry: { limit: 3, delaySeconds: 1, backoff: false },
    pollingIntervalSeconds: 0.5,
    sendTimeoutMs: 5_000,
    log: () => {},
  });
});
afterAll(async () => {
  await alerting?.stop();
  await h?.close();
});

const alertEvents = async () => (await h.admin.messages('ops')).map((m) => `${m.json?.event}:${m.json?.kind}:${m.json?.integration}`);

describe('accounting API outage', () => {
  it('opens the breaker, sends no request and uses no attempt while open, alerts once, then recovers and books everything once', async () => {
    await h.admin.setFaults('accounting', { down: true });
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });

    // Transient failures until the breaker opens: the first batch's POST and its two quick retries.
    const opened = await waitFor(
      'the breaker to open',
      async () => {
        const breaker = await getBreaker(h.db, { key: 'accounting-api' });
        return breaker?.state === 'open' ? breaker : undefined;
      },
      30_000,
    );
    const requestsAtOpen = (await h.admin.requests()).accounting;
    expect(requestsAtOpen).toMatchObject({ total: 3, byStatus: { 503: 3 } });

    // The run's next attempt is deferred to the breaker's half-open time without using an attempt.
    const deferred = await waitForRun(h.db, runId, ['deferred'], 30_000);
    expect(deferred.attemptCount).toBe(1);
    const firstAttempts = await h.db.select().from(attempts).where(eq(attempts.runId, runId)).orderBy(asc(attempts.startedAt));
    expect(firstAttempts[0]).toMatchObject({ number: 1, outcome: 'failed', errorClass: 'HttpError' });
    expect(firstAttempts[0].errorMessage).toMatch(/answered 503/);
    expect(firstAttempts.slice(1).map((a) => [a.outcome, a.errorClass])).toEqual([['deferred', 'CircuitOpenError']]);

    // Still the same open period (no trial yet): the deferred attempt sent nothing.
    const stillOpen = await getBreaker(h.db, { key: 'accounting-api' });
    expect(stillOpen).toMatchObject({ state: 'open', openedAt: opened.openedAt });
    const requestsWhileOpen = (await h.admin.requests()).accounting.total - requestsAtOpen.total;
    expect(requestsWhileOpen).toBe(0);
    expect((await runOf(h.db, runId)).attemptCount).toBe(1);
    await waitFor('the opened alert at the webhook catcher', async () => (await alertEvents()).length > 0, 30_000);

    // The API comes back; after the cooldown the half-open trial closes the breaker and the run completes.
    await h.admin.clearFaults('accounting');
    const run = await waitForRun(h.db, runId, ['succeeded'], 60_000);
    expect(await getBreaker(h.db, { key: 'accounting-api' })).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    await waitFor('the recovery message', async () => (await alertEvents()).some((e) => e.startsWith('incident.recovered')), 30_000);

    const all = await h.db.select().from(attempts).where(eq(attempts.runId, runId)).orderBy(asc(attempts.startedAt));
    const deferrals = all.filter((a) => a.outcome === 'deferred');
    const used = all.filter((a) => a.outcome !== 'deferred');
    expect(used.map((a) => [a.number, a.outcome])).toEqual([
      [1, 'failed'],
      [2, 'succeeded'],
    ]);
    expect(deferrals.every((a) => a.errorClass === 'CircuitOpenError')).toBe(true);
    expect(run.attemptCount).toBe(2);

    const events = await alertEvents();
    expect(events).toEqual(['incident.opened:breaker_open:accounting-export', 'incident.recovered:breaker_open:accounting-export']);
    const incidentRows = await h.db.select().from(incidents);
    expect(incidentRows).toHaveLength(1);
    expect(incidentRows[0]).toMatchObject({ integration: 'accounting-export', kind: 'breaker_open', closedAt: expect.any(Date) });
    expect(await h.db.select({ event: alerts.event }).from(alerts).orderBy(asc(alerts.createdAt))).toEqual([
      { event: 'opened' },
      { event: 'recovered' },
    ]);

    const bookings = await h.admin.bookings();
    const numbers = (await h.db.execute<{ number: string }>(sql`select number from invoices where status = 'posted'`)).map((r) => r.number);
    const missing = numbers.filter((n) => !bookings.byReference[n]);
    console.log(
      `outage: requests at open: ${requestsAtOpen.total}, requests while open: ${requestsWhileOpen}, attempts used: ${run.attemptCount}, ` +
        `deferrals: ${deferrals.length}, alerts opened: ${events.filter((e) => e.startsWith('incident.opened')).length}, ` +
        `recovered: ${events.filter((e) => e.startsWith('incident.recovered')).length}, invoices: ${numbers.length}, ` +
        `booked once: ${Object.values(bookings.byReference).filter((n) => n === 1).length}, duplicates: ${bookings.duplicates.length}, missing: ${missing.length}`,
    );
    expect(numbers).toHaveLength(INVOICES);
    expect(missing).toEqual([]);
    expect(bookings.duplicates).toEqual([]);
    expect(bookings.distinctReferences).toBe(INVOICES);
  }, 120_000);
});
