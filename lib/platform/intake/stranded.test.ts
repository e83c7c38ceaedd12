import { and, desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { incidents, runs, webhookEvents } from '../../../db/schema';
import { deliverSigned, startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IncomingEvent, type IntegrationDefinition } from '../contract';
import { AppError } from '../errors';
import { cancelRun } from '../triggers/triggers';
import { dismissFailedEvent } from './dismiss';
import { eventCounts, replayEvents } from './events-read';

/**
 * A received (2xx) event is never left pending with no run to apply it and nothing saying so:
 * - an event run that fails for good (its retries used up) marks the events it leaves pending
 *   'failed' with the run's reason (the events_failed incident, Replay and Dismiss apply), and
 *   queues no run of its own (a poison event would fail it again, for ever);
 * - an event run an operator cancels stays cancelled (no run is queued behind the operator's
 *   back), its events are counted as waiting with no run, Replay applies them, and Dismiss says
 *   what is true of them.
 */

const gate = { down: true, hold: true };
const entered = Promise.withResolvers<void>();
const applied: string[] = [];

const defs = [
  defineIntegration({
    name: 'fragile',
    description: 'Its upstream is down until the test brings it back',
    settings: z.object({}),
    defaults: { retry: { delays: ['100ms'] }, breaker: { failures: 100, cooldown: '1m' } },
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      async handle(events: IncomingEvent[]) {
        if (gate.down) throw new Error('upstream unavailable (503)');
        applied.push(...events.map((e) => e.id));
      },
    },
  }),
  defineIntegration({
    name: 'gated',
    description: 'Its handler waits (until cancelled) while the test holds it',
    settings: z.object({}),
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      async handle(events: IncomingEvent[], ctx) {
        if (gate.hold) {
          entered.resolve();
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
        }
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
    workerId: 'stranded-worker',
    alerting: true,
    secretsFor: ['fragile', 'gated'],
  });
  ({ t, boss } = intake);
});
afterAll(() => intake?.close());

async function deliver(integration: string, id: string) {
  const body = JSON.stringify({ type: 'thing.changed' });
  const answer = await deliverSigned(intake.deps, { integration, secret: intake.secrets.get(integration)!, id, body });
  expect(answer.status).toBe(200);
}

const event = async (id: string) => (await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, id)))[0];
const runsOf = (integration: string) => t.db.select().from(runs).where(eq(runs.integration, integration)).orderBy(runs.createdAt);

describe('events of an event run that ends without applying them', () => {
  it('a run that fails for good marks its pending events failed with its reason, opens the incident, queues no run', async () => {
    await deliver('fragile', 'fr-1');
    await deliver('fragile', 'fr-2');
    const [run] = await waitFor('the event run to fail for good', async () => {
      const rows = await runsOf('fragile');
      return rows.length === 1 && rows[0].status === 'failed' ? rows : undefined;
    });
    expect(run.attemptCount).toBe(2);
    // In the transaction that failed the run: never seen pending with no run.
    for (const id of ['fr-1', 'fr-2']) {
      const row = await event(id);
      expect(row.status, `${id} after its run failed`).toBe('failed');
      expect(row.runId).toBe(run.id);
      expect(row.outcome).toMatch(/^not applied: its event run failed after 2 attempts: upstream unavailable \(503\)/);
    }
    expect((await eventCounts(t.db, 'fragile')).waitingWithoutRun).toBe(0);
    const [incident] = await waitFor('the events_failed incident to count both', async () => {
      const rows = await t.db
        .select()
        .from(incidents)
        .where(and(eq(incidents.integration, 'fragile'), eq(incidents.kind, 'events_failed')))
        .orderBy(desc(incidents.openedAt));
      return rows[0]?.eventCount === 2 ? rows : undefined;
    });
    expect(incident.closedAt).toBeNull();
    // No run of its own: a poison event would fail it again and again.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await runsOf('fragile')).toHaveLength(1);

    // Upstream back: the operator's Replay applies them, in order, and the incident closes.
    gate.down = false;
    const replay = await replayEvents(t.db, boss, { integration: 'fragile', filter: { status: 'failed' }, actor: 'oscar' });
    expect(replay.replayed).toBe(2);
    for (const id of ['fr-1', 'fr-2'])
      await waitFor(`${id} to be applied by the replay`, async () => ((await event(id)).status === 'processed' ? true : undefined));
    expect(applied.filter((id) => id.startsWith('fr-'))).toEqual(['fr-1', 'fr-2']);
    await waitFor('the incident to close', async () => {
      const [row] = await t.db.select().from(incidents).where(eq(incidents.id, incident.id));
      return row.closedAt ? row : undefined;
    });
  }, 60_000);

  it('a cancelled run stays cancelled; its events are counted waiting with no run, Replay applies them, Dismiss tells the truth', async () => {
    await deliver('gated', 'gt-1');
    await entered.promise;
    const [run] = await runsOf('gated');
    // While a run is there to apply it, the event is not waiting without one.
    expect((await eventCounts(t.db, 'gated')).waitingWithoutRun).toBe(0);
    await cancelRun(t.db, boss, { runId: run.id, by: 'oscar' });
    await waitFor('the cancelled attempt to end', async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, run.id));
      return row.finishedAt ? row : undefined;
    });

    // The operator's cancel is respected: nothing queues a run behind their back.
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await runsOf('gated')).map((r) => r.status)).toEqual(['cancelled']);
    expect((await event('gt-1')).status).toBe('pending');
    const counts = await eventCounts(t.db, 'gated');
    expect(counts.byStatus.pending).toBe(1);
    expect(counts.waitingWithoutRun).toBe(1);

    // Dismiss refuses it (it is not failed) without claiming a run is about to apply it.
    const refused = await dismissFailedEvent(t.db, boss, { integration: 'gated', eventId: 'gt-1', reason: 'x', actor: 'oscar' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).message).not.toMatch(/about to apply/);
    expect((refused as AppError).message).toMatch(/no run is queued to apply it.*Replay/);

    // Replay applies it: by id, or with the pending filter.
    gate.hold = false;
    const replay = await replayEvents(t.db, boss, { integration: 'gated', filter: { status: 'pending' }, actor: 'oscar' });
    expect(replay.replayed).toBe(1);
    expect((await eventCounts(t.db, 'gated')).waitingWithoutRun).toBe(0);
    await waitFor('gt-1 to be applied', async () => ((await event('gt-1')).status === 'processed' ? true : undefined));
    expect(applied).toContain('gt-1');
    expect((await runsOf('gated'))[0].status).toBe('cancelled');
  }, 60_000);
});
