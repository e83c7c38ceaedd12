import { and, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { alerts, incidents, runs, webhookEvents } from '../../../db/schema';
import { deliverSigned, startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { platformEvents, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IncomingEvent, type IntegrationDefinition } from '../contract';
import { cancelRun, retryRun } from '../triggers/triggers';
import { replayEvents } from './events-read';

/**
 * An event run that fails for good, with the real worker and alerting:
 * - it is ONE incident (events_failed, naming the run and how many events it left failed), with one
 *   alert, not a run_failed one beside it; a later successful event run leaves it open (its events
 *   are still failed), the replay that applies them closes it;
 * - however many pending events it fails, it enqueues one events.failed job (alerting queue);
 * - a retry of an event run of an integration that has both `execute` and `events` applies events;
 * - two event runs failing one after the other (the first left its events to the second, queued
 *   meanwhile) are ONE incident: the first run's alert, the second's failure counted on it, one
 *   recovery when the replay applies the events.
 */

const BACKLOG = 500;
const backlog = { down: true };
const both = { mode: 'hold' as 'hold' | 'down' | 'ok', entered: Promise.withResolvers<void>() };
const twice = { entered: Promise.withResolvers<void>(), gate: Promise.withResolvers<void>(), down: true };
const applied: string[] = [];
const executed: string[] = [];

const defs = [
  defineIntegration({
    name: 'backlogged',
    description: 'Its upstream is down until the test brings it back',
    settings: z.object({}),
    defaults: { retry: { delays: ['100ms'] }, breaker: { failures: 1000, cooldown: '1m' } },
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      // Replay runs of 100 events stay short on a loaded machine (see startWorker).
      batchSize: 50,
      async handle(events: IncomingEvent[]) {
        if (backlog.down) throw new Error('upstream unavailable (503)');
        applied.push(...events.map((e) => e.id));
      },
    },
  }),
  defineIntegration({
    name: 'both-ways',
    description: 'Runs on a schedule (execute) and receives events',
    settings: z.object({}),
    defaults: { retry: { delays: ['100ms'] }, breaker: { failures: 1000, cooldown: '1m' } },
    async execute() {
      executed.push('execute');
      return { processed: 0, summary: 'executed' };
    },
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      async handle(events: IncomingEvent[], ctx) {
        if (both.mode === 'hold') {
          both.entered.resolve();
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
        }
        if (both.mode === 'down') throw new Error('host database unavailable (503)');
        applied.push(...events.map((e) => e.id));
      },
    },
  }),
  defineIntegration({
    name: 'twice',
    description: 'Its first event run holds until the test queues a second one, then both fail',
    settings: z.object({}),
    defaults: { retry: { delays: ['100ms'] }, breaker: { failures: 1000, cooldown: '1m' } },
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      async handle(events: IncomingEvent[]) {
        twice.entered.resolve();
        await twice.gate.promise;
        if (twice.down) throw new Error('ledger unavailable (503)');
        applied.push(...events.map((e) => e.id));
      },
    },
  }),
] as IntegrationDefinition[];

let intake: IntakeTest;
let t: IntakeTest['t'];
let boss: IntakeTest['boss'];

beforeAll(async () => {
  intake = await startIntakeTest(defs, {
    sync: true,
    secretsFor: ['backlogged', 'both-ways', 'twice'],
  });
  ({ t, boss } = intake);
});
afterAll(() => intake?.close());

/** The worker and alerting start once the backlog is stored: one event run fails all of it. */
async function startWorker() {
  if (intake.worker) return;
  // A job expiry longer than the tests' 5 s: on a loaded machine a replay run's claim was lost,
  // failing it for a reason of its own (a run_failed incident this test is not about).
  await intake.startWorker('event-run-failure', { ...TEST_WORKER_OPTIONS, queue: { ...TEST_WORKER_OPTIONS.queue, expireInSeconds: 120 } });
  await intake.startAlerting();
}

async function deliver(integration: string, id: string) {
  const body = JSON.stringify({ type: 'thing.changed' });
  const answer = await deliverSigned(intake.deps, { integration, secret: intake.secrets.get(integration)!, id, body });
  expect(answer.status).toBe(200);
}

const event = async (id: string) => (await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, id)))[0];
const runsOf = (integration: string) => t.db.select().from(runs).where(eq(runs.integration, integration)).orderBy(runs.createdAt);
const incidentsOf = (integration: string) =>
  t.db.select().from(incidents).where(eq(incidents.integration, integration)).orderBy(incidents.openedAt);
const finished = (runId: string) =>
  waitFor(`run ${runId} to finish`, async () => {
    const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
    return row.finishedAt ? row : undefined;
  });
/** Every platform event job the alerting queue has had, handled or not. */
const jobsOf = async (integration: string, type: string) => (await platformEvents(t.db, type)).filter((e) => e.integration === integration);

describe('an event run that fails for good', () => {
  it(`is one events_failed incident with one alert and one events.failed job for ${BACKLOG} events`, async () => {
    for (let i = 0; i < BACKLOG; i += 25)
      await Promise.all(Array.from({ length: Math.min(25, BACKLOG - i) }, (_, k) => deliver('backlogged', `bl-${i + k}`)));
    await startWorker();
    const [run] = await waitFor('the event run to fail for good', async () => {
      const rows = await runsOf('backlogged');
      return rows.length === 1 && rows[0].status === 'failed' ? rows : undefined;
    });
    const [{ failed }] = await t.db.execute<{ failed: number }>(
      sql`select count(*)::int as failed from webhook_events where integration = 'backlogged' and status = 'failed' and run_id = ${run.id}`,
    );
    expect(failed).toBe(BACKLOG);

    // One job for the run's failure, whatever its backlog: not one per event.
    const failedJobs = await jobsOf('backlogged', 'events.failed');
    expect(failedJobs).toHaveLength(1);
    // The first event stored (deliveries go 25 at a time, so that is not always bl-0).
    const [{ first }] = await t.db.execute<{ first: string }>(
      sql`select event_id as first from webhook_events where integration = 'backlogged' order by id limit 1`,
    );
    expect(failedJobs[0]).toMatchObject({ runId: run.id, count: BACKLOG, eventId: first });
    expect((failedJobs[0].eventIds as string[])[0]).toBe(first);
    expect((failedJobs[0].eventIds as string[]).length).toBeLessThanOrEqual(10);
    // The run's failure is told by that incident, not by a run_failed one beside it.
    expect(await jobsOf('backlogged', 'run.failed')).toEqual([]);

    const [incident] = await waitFor('the events_failed incident to count the backlog', async () => {
      const rows = await incidentsOf('backlogged');
      return rows[0]?.eventCount === BACKLOG ? rows : undefined;
    });
    expect(incident).toMatchObject({ kind: 'events_failed', runId: run.id, closedAt: null });
    const opened = await t.db.select().from(alerts).where(eq(alerts.integration, 'backlogged'));
    expect(opened).toHaveLength(1);
    expect(opened[0].body).toMatchObject({ event: 'incident.opened', kind: 'events_failed', runId: run.id, attempts: 2 });
    expect(opened[0].body.title).toMatch(/event run failed.*500 events/);
    expect(opened[0].body.text).toMatch(/upstream unavailable \(503\)/);

    // A later event run that succeeds leaves it open: the backlog is still failed.
    backlog.down = false;
    await deliver('backlogged', 'bl-late');
    await waitFor('bl-late to be applied', async () => ((await event('bl-late')).status === 'processed' ? true : undefined));
    const later = (await runsOf('backlogged')).at(-1)!;
    expect((await finished(later.id)).status).toBe('succeeded');
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await incidentsOf('backlogged')).map((i) => [i.kind, i.closedAt])).toEqual([['events_failed', null]]);

    // The replay that applies them closes it, with one recovery message.
    const replay = await replayEvents(t.db, boss, {
      integration: 'backlogged',
      filter: { status: 'failed' },
      actor: 'oscar',
      pace: { runs: 50, per: '1s' },
    });
    expect(replay.replayed).toBe(BACKLOG);
    const closed = await waitFor(
      'the incident to close',
      async () => {
        const [row] = await t.db.select().from(incidents).where(eq(incidents.id, incident.id));
        return row.closedAt ? row : undefined;
      },
      60_000,
    );
    expect(closed.eventCount).toBe(BACKLOG);
    const messages = await t.db.select().from(alerts).where(eq(alerts.integration, 'backlogged')).orderBy(alerts.createdAt);
    expect(messages.map((a) => a.event)).toEqual(['opened', 'recovered']);
    expect((await incidentsOf('backlogged')).map((i) => i.kind)).toEqual(['events_failed']);
  }, 120_000);
});

describe('a retry of an event run of an integration with execute and events', () => {
  it('applies the pending events (not execute), and fails them when it fails for good', async () => {
    await startWorker();
    await deliver('both-ways', 'bw-1');
    await both.entered.promise;
    const [cancelled] = await runsOf('both-ways');
    expect(cancelled.trigger).toBe('event');
    await cancelRun(t.db, boss, { runId: cancelled.id, by: 'oscar' });
    await finished(cancelled.id);
    expect((await event('bw-1')).status).toBe('pending');

    both.mode = 'ok';
    const { runId: retried } = await retryRun(t.db, boss, { runId: cancelled.id, triggeredBy: 'oscar' });
    expect((await finished(retried)).status).toBe('succeeded');
    expect(executed).toEqual([]);
    expect(applied).toContain('bw-1');
    expect(await event('bw-1')).toMatchObject({ status: 'processed', runId: retried });

    // Such a retry that fails for good fails the events it leaves pending, as an event run does.
    both.mode = 'hold';
    both.entered = Promise.withResolvers<void>();
    await deliver('both-ways', 'bw-2');
    await both.entered.promise;
    const second = (await runsOf('both-ways')).at(-1)!;
    await cancelRun(t.db, boss, { runId: second.id, by: 'oscar' });
    await finished(second.id);
    both.mode = 'down';
    const { runId: retry1 } = await retryRun(t.db, boss, { runId: second.id, triggeredBy: 'oscar' });
    expect((await finished(retry1)).status).toBe('failed');
    // Its failure left bw-2 failed, named by the events_failed incident.
    expect(await event('bw-2')).toMatchObject({ status: 'failed', runId: retry1 });
    expect(executed).toEqual([]);
    await waitFor('the events_failed incident', async () => {
      const rows = await t.db
        .select()
        .from(incidents)
        .where(and(eq(incidents.integration, 'both-ways'), inArray(incidents.kind, ['events_failed', 'run_failed'])));
      return rows.length ? rows : undefined;
    }).then((rows) => expect(rows.map((r) => [r.kind, r.runId])).toEqual([['events_failed', retry1]]));
  }, 60_000);
});

describe('two event runs of one integration failing one after the other', () => {
  it('are one incident: the first run alerts, the second is counted on it, the replay closes it once', async () => {
    await startWorker();
    await deliver('twice', 'tw-1');
    await twice.entered.promise;
    const [first] = await runsOf('twice');
    // tw-2 arrives while the first run is applying tw-1: a second event run is queued for it.
    await deliver('twice', 'tw-2');
    const second = await waitFor('a second event run', async () => (await runsOf('twice'))[1]);
    expect([first.trigger, second.trigger]).toEqual(['event', 'event']);
    twice.gate.resolve();

    // The first fails for good and leaves both events to the second, which fails for good too.
    expect((await finished(first.id)).status).toBe('failed');
    expect((await finished(second.id)).status).toBe('failed');
    expect(await event('tw-1')).toMatchObject({ status: 'failed', runId: second.id });
    expect(await event('tw-2')).toMatchObject({ status: 'failed', runId: second.id });
    expect(await jobsOf('twice', 'run.failed')).toEqual([expect.objectContaining({ runId: first.id })]);
    expect(await jobsOf('twice', 'events.failed')).toEqual([expect.objectContaining({ runId: second.id, count: 2 })]);

    // One incident for the outage: the first run's, with the second's failure counted on it.
    const [incident] = await waitFor('the second failure to be counted', async () => {
      const rows = await incidentsOf('twice');
      return rows.some((r) => r.kind === 'events_failed') ? rows : undefined;
    });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await incidentsOf('twice')).toEqual([
      expect.objectContaining({ id: incident.id, kind: 'events_failed', runId: first.id, eventCount: 3, closedAt: null }),
    ]);
    expect(incident.lastError).toMatch(
      /event run failed after 2 attempts.*ledger unavailable \(503\).*2 events \(tw-1, tw-2\) not applied/,
    );
    // One alert, sent when the first run failed: its error, and the events it left to the second.
    const opened = await t.db.select().from(alerts).where(eq(alerts.integration, 'twice'));
    expect(opened.map((a) => a.body.event)).toEqual(['incident.opened']);
    expect(opened[0].incidentId).toBe(incident.id);
    expect(opened[0].body).toMatchObject({ kind: 'run_failed', runId: first.id, attempts: 2 });
    expect(opened[0].body.text).toMatch(/ledger unavailable \(503\)/);
    expect(opened[0].body.text).toContain(`It left 2 pending events to run ${second.id}`);
    expect(opened[0].body.text).toContain('http://localhost:3000/integrations/twice/events?status=failed');

    // The replay that applies them closes it, with one recovery message.
    twice.down = false;
    const replay = await replayEvents(t.db, boss, { integration: 'twice', filter: { status: 'failed' }, actor: 'oscar' });
    expect(replay.replayed).toBe(2);
    const closed = await waitFor('the incident to close', async () => {
      const [row] = await t.db.select().from(incidents).where(eq(incidents.id, incident.id));
      return row.closedAt ? row : undefined;
    });
    expect(closed.eventCount).toBe(3);
    expect(applied).toEqual(expect.arrayContaining(['tw-1', 'tw-2']));
    // The replay runs' successes (announced: the first run's failure) close nothing more.
    await waitFor('the replay runs to succeed', async () => {
      const rows = await runsOf('twice');
      return rows.length >= 3 && rows.slice(2).every((r) => r.status === 'succeeded') ? rows : undefined;
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const messages = await t.db.select().from(alerts).where(eq(alerts.integration, 'twice')).orderBy(alerts.createdAt);
    expect(messages.map((a) => [a.event, a.incidentId])).toEqual([
      ['opened', incident.id],
      ['recovered', incident.id],
    ]);
    // Two runs failed (the second marked the events failed) and 2 events: counted apart, not "3 failures".
    expect(messages[1].body.text).toContain('closed after 2 failed runs and 2 failed events');
    expect(closed).toMatchObject({ failedRuns: 2, failedEvents: 2 });
    expect((await incidentsOf('twice')).map((i) => [i.kind, Boolean(i.closedAt)])).toEqual([['events_failed', true]]);
  }, 60_000);
});
