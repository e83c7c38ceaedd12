import { and, eq, isNotNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { alerts, incidents, runs, webhookEvents } from '../../../db/schema';
import { deliverSigned, startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { platformEvents, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { handlePlatformEvent } from '../alerts/incidents';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { PermanentError } from '../errors';
import { PLATFORM_EVENTS_QUEUE, type PlatformEvent } from '../execution/events';
import { announceRefusal } from '../execution/queue';

/**
 * A burst of events an integration's handler refuses (PermanentError) is ONE queued announcement
 * to alerting per integration while one waits (pg-boss upsert by singletonKey), not one job per
 * event, and it counts every refusal since the last one: the incident counts each refused event
 * exactly once, and a refusal arriving while the announcement is being handled queues the next.
 */

const BURST = 300;

const defs = [
  defineIntegration({
    name: 'refuser',
    description: 'Refuses every event for good',
    settings: z.object({}),
    defaults: { retry: { delays: ['100ms'] }, breaker: { failures: 1000, cooldown: '1m' } },
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      batchSize: 50,
      async handle(events) {
        throw new PermanentError(`order ${events[0].id} does not exist on the host`);
      },
    },
  }),
  defineIntegration({
    name: 'by-hand',
    description: 'Its refusals are written by the test, to pin the order of things',
    settings: z.object({}),
    events: { scheme: 'standard-webhooks', typeFrom: () => 'x', async handle() {} },
  }),
] as IntegrationDefinition[];

let intake: IntakeTest;
let t: IntakeTest['t'];

beforeAll(async () => {
  intake = await startIntakeTest(defs, { sync: true, secretsFor: ['refuser'] });
  ({ t } = intake);
});
afterAll(() => intake?.close());

const refusalJobs = (integration: string) =>
  t.db.execute<{ id: string; state: string; data: Record<string, unknown> }>(
    sql`select id, state, data from pgboss.job where name = ${PLATFORM_EVENTS_QUEUE} and data->>'type' = 'events.failed'
         and data->>'integration' = ${integration} order by created_on, id`,
  );

describe('refused events announced to alerting', () => {
  it('a refusal while the announcement is being handled is counted by the next one, none twice', async () => {
    const { boss } = intake;
    const refuse = (eventId: string) =>
      t.db.transaction(async (tx) => {
        await tx.insert(webhookEvents).values({
          integration: 'by-hand',
          eventId,
          eventType: 'x',
          payload: {},
          status: 'failed',
          outcome: `refused by the handler: ${eventId} is unknown`,
          processedAt: sql`now()`,
          refusalUnannouncedAt: sql`now()`,
        });
        await announceRefusal(boss, tx, {
          type: 'events.failed',
          at: new Date().toISOString(),
          integration: 'by-hand',
          runId: 'run-by-hand',
          eventId,
          eventType: 'x',
          reason: `refused by the handler: ${eventId} is unknown`,
        });
      });
    const handle = (data: unknown) => handlePlatformEvent(t.db, { boss, event: data as PlatformEvent, appUrl: 'http://localhost:3000' });

    await refuse('a1');
    await refuse('a2');
    // Two refusals, one waiting job.
    expect((await refusalJobs('by-hand')).map((j) => j.state)).toEqual(['created']);
    const [first] = await boss.fetch(PLATFORM_EVENTS_QUEUE);
    expect(first).toBeDefined();
    // While it is being handled (active), a refusal queues the next job, and the one after joins it.
    await refuse('a3');
    expect((await refusalJobs('by-hand')).map((j) => j.state)).toEqual(['active', 'created']);
    const opened = await handle(first.data);
    expect(opened).toEqual([expect.objectContaining({ change: 'opened', kind: 'events_failed' })]);
    await boss.complete(PLATFORM_EVENTS_QUEUE, first.id);
    await refuse('a4');
    expect((await refusalJobs('by-hand')).map((j) => j.state)).toEqual(['completed', 'created']);

    const [incident] = await t.db.select().from(incidents).where(eq(incidents.integration, 'by-hand'));
    // The first job counted what was refused before it was handled: a1, a2 and a3 (committed by then).
    expect(incident).toMatchObject({ kind: 'events_failed', eventCount: 3, failedEvents: 3, closedAt: null });
    const [second] = await boss.fetch(PLATFORM_EVENTS_QUEUE);
    expect(await handle(second.data)).toEqual([expect.objectContaining({ change: 'counted', incidentId: incident.id })]);
    // Nothing left to count: a job queued after these finds none and changes nothing.
    await refuse('a5');
    const [third] = await boss.fetch(PLATFORM_EVENTS_QUEUE);
    expect(await handle(third.data)).toEqual([expect.objectContaining({ change: 'counted', incidentId: incident.id })]);
    // Handled again (or a job queued while it ran): nothing left to count, nothing changes.
    expect(await handle(third.data)).toEqual([{ change: 'none', integration: 'by-hand', kind: 'events_failed' }]);
    const [after] = await t.db.select().from(incidents).where(eq(incidents.id, incident.id));
    expect(after).toMatchObject({ eventCount: 5, failedEvents: 5 });
    expect(await t.db.select().from(alerts).where(eq(alerts.incidentId, incident.id))).toHaveLength(1);
    const left = await t.db.select().from(webhookEvents).where(isNotNull(webhookEvents.refusalUnannouncedAt));
    expect(left).toEqual([]);
  });

  it(`a burst of ${BURST} refusals is a few jobs, one incident counting each once, one alert`, async () => {
    const body = JSON.stringify({ type: 'order.created' });
    for (let i = 0; i < BURST; i++) {
      const answer = await deliverSigned(intake.deps, {
        integration: 'refuser',
        secret: intake.secrets.get('refuser')!,
        id: `r-${i}`,
        body,
      });
      expect(answer.status).toBe(200);
    }
    // Alerting handles the announcements while the run refuses the events one by one.
    await intake.startAlerting();
    const started = Date.now();
    await intake.startWorker('refusal-burst', { ...TEST_WORKER_OPTIONS, queue: { ...TEST_WORKER_OPTIONS.queue, expireInSeconds: 300 } });
    await waitFor(
      'the event run to finish',
      async () => {
        const rows = await t.db.select().from(runs).where(eq(runs.integration, 'refuser'));
        return rows.length > 0 && rows.every((r) => r.finishedAt) ? rows : undefined;
      },
      240_000,
    );
    const refusedIn = Date.now() - started;
    const failed = await t.db
      .select({ n: sql<number>`count(*)::int` })
      .from(webhookEvents)
      .where(and(eq(webhookEvents.integration, 'refuser'), eq(webhookEvents.status, 'failed')));
    expect(failed[0].n).toBe(BURST);

    const incident = await waitFor(
      `the events_failed incident to count ${BURST}`,
      async () => {
        const rows = await t.db.select().from(incidents).where(eq(incidents.integration, 'refuser'));
        return rows.length === 1 && rows[0].eventCount === BURST ? rows[0] : undefined;
      },
      120_000,
    );
    expect(incident).toMatchObject({ kind: 'events_failed', failedEvents: BURST, failedRuns: 0, closedAt: null });
    expect(incident.lastError).toMatch(/^event r-\d+ \(order\.created\): refused by the handler: order r-\d+ does not exist on the host$/);
    const sent = await t.db.select().from(alerts).where(eq(alerts.incidentId, incident.id));
    expect(sent).toHaveLength(1);

    const jobs = (await platformEvents(t.db, 'events.failed')).filter((e) => e.integration === 'refuser');
    console.log(`refusal burst: ${BURST} events refused in ${refusedIn} ms, ${jobs.length} events.failed jobs queued`);
    // One per event before (300); now one per announcement handled during the burst.
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs.length).toBeLessThanOrEqual(BURST / 5);
    const states = await refusalJobs('refuser');
    await waitFor('every announcement handled', async () =>
      (await refusalJobs('refuser')).every((j) => j.state === 'completed') ? true : undefined,
    );
    expect(states.length).toBe(jobs.length);
    const unannounced = await t.db
      .select({ n: sql<number>`count(*)::int` })
      .from(webhookEvents)
      .where(isNotNull(webhookEvents.refusalUnannouncedAt));
    expect(unannounced[0].n).toBe(0);
  }, 400_000);
});
