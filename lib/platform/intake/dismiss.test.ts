import { and, desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { alerts, auditLog, incidents, webhookEvents } from '../../../db/schema';
import { deliverSigned, startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { platformEvents, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IncomingEvent, type IntegrationDefinition } from '../contract';
import { AppError, PermanentError } from '../errors';
import { dismissFailedEvent } from './dismiss';
import { eventCounts, listEvents, replayEvents } from './events-read';

/**
 * Dismissing a failed event that can never be applied: operator's reason required, audited with
 * who and the correlation id, shown on the event, never replayed, and the events_failed incident
 * closes (with a recovery message saying so) once no failed event is left.
 */

const applied: string[] = [];

const defs = [
  defineIntegration({
    name: 'orders',
    description: 'Receives order events; an order deleted upstream can never be applied',
    settings: z.object({}),
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      async handle(events: IncomingEvent[], ctx) {
        for (const e of events)
          if ((e.payload as { gone?: boolean }).gone) throw new PermanentError(`order of ${e.id} was deleted upstream`);
        if (!ctx.dryRun) applied.push(...events.map((e) => e.id));
      },
    },
  }),
] as IntegrationDefinition[];

let intake: IntakeTest;
let t: IntakeTest['t'];
let boss: IntakeTest['boss'];

beforeAll(async () => {
  intake = await startIntakeTest(defs, {
    workerId: 'dismiss-worker',
    alerting: true,
    secretsFor: ['orders'],
  });
  ({ t, boss } = intake);
});
afterAll(() => intake?.close());

async function deliver(id: string, body: object) {
  const answer = await deliverSigned(intake.deps, {
    integration: 'orders',
    secret: intake.secrets.get('orders')!,
    id,
    body: JSON.stringify(body),
  });
  expect(answer.status).toBe(200);
}

const event = async (id: string) => (await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, id)))[0];
const settled = (id: string, replays = 0) =>
  waitFor(`${id} to be handled`, async () => {
    const row = await event(id);
    return row && row.status !== 'pending' && row.replays === replays ? row : undefined;
  });
const incident = () =>
  t.db
    .select()
    .from(incidents)
    .where(and(eq(incidents.integration, 'orders'), eq(incidents.kind, 'events_failed')))
    .orderBy(desc(incidents.openedAt));
const dismissAudit = () => t.db.select().from(auditLog).where(eq(auditLog.fieldName, 'events.dismiss')).orderBy(auditLog.id);

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('dismissing a failed event', () => {
  it('closes the events_failed incident once the last failed event is dismissed, audited, never replayed', async () => {
    await deliver('ord-gone-1', { type: 'order.updated', gone: true });
    await deliver('ord-gone-2', { type: 'order.updated', gone: true });
    await deliver('ord-ok', { type: 'order.updated' });
    expect((await settled('ord-gone-1')).status).toBe('failed');
    expect((await settled('ord-gone-2')).status).toBe('failed');
    expect((await settled('ord-ok')).status).toBe('processed');
    const [opened] = await waitFor('the events_failed incident to count 2', async () => {
      const rows = await incident();
      return rows[0]?.eventCount === 2 ? rows : undefined;
    });
    expect(opened.closedAt).toBeNull();

    // Refused, changing nothing: no reason (blank), an event that is not failed, an unknown one.
    const base = { integration: 'orders', actor: 'oscar@example.com', correlationId: crypto.randomUUID() };
    const blank = await refusal(dismissFailedEvent(t.db, boss, { ...base, eventId: 'ord-gone-1', reason: '   ' }));
    expect([blank.code, blank.message, blank.fieldErrors]).toEqual([
      'invalid_input',
      'Reason is required: say why this event will never be applied',
      { reason: 'is required: say why this event will never be applied' },
    ]);
    const processed = await refusal(dismissFailedEvent(t.db, boss, { ...base, eventId: 'ord-ok', reason: 'x' }));
    expect([processed.code, processed.message]).toEqual([
      'invalid_state',
      'Event ord-ok cannot be dismissed: it is processed. Only a failed event can be dismissed.',
    ]);
    expect((await refusal(dismissFailedEvent(t.db, boss, { ...base, eventId: 'ord-nope', reason: 'x' }))).code).toBe('not_found');
    expect(await event('ord-gone-1')).toMatchObject({ status: 'failed', dismissedAt: null, dismissedBy: null, dismissReason: null });
    expect(await dismissAudit()).toEqual([]);

    // One dismissed: it says who, when and why; one failed event is left, so the incident stays open.
    const first = await dismissFailedEvent(t.db, boss, { ...base, eventId: 'ord-gone-1', reason: '  order deleted at the shop  ' });
    expect(first).toEqual({ eventId: 'ord-gone-1', failedLeft: 1 });
    const dismissed = await event('ord-gone-1');
    expect(dismissed).toMatchObject({
      status: 'dismissed',
      dismissedBy: 'oscar@example.com',
      dismissReason: 'order deleted at the shop',
      outcome: expect.stringContaining('deleted upstream'),
    });
    expect(Date.now() - dismissed.dismissedAt!.getTime()).toBeLessThan(60_000);
    const [audit] = await dismissAudit();
    expect(audit).toMatchObject({
      kind: 'action',
      integration: 'orders',
      changedBy: 'oscar@example.com',
      correlationId: base.correlationId,
      newValue: {
        eventId: 'ord-gone-1',
        eventType: 'order.updated',
        reason: 'order deleted at the shop',
        failedWith: expect.stringContaining('deleted upstream'),
      },
    });
    expect(await platformEvents(t.db, 'events.cleared')).toEqual([]);
    const again = await refusal(dismissFailedEvent(t.db, boss, { ...base, eventId: 'ord-gone-1', reason: 'again' }));
    expect(again.message).toBe(
      'Event ord-gone-1 cannot be dismissed: it was already dismissed by oscar@example.com. Only a failed event can be dismissed.',
    );

    // Never replayed: not by id, not by a filter that matches it (only the failed one goes).
    const byId = await refusal(replayEvents(t.db, boss, { integration: 'orders', eventIds: ['ord-gone-1'], actor: 'oscar' }));
    expect(byId.message).toMatch(/^No event to replay: .*dismissed \(never replayed\)/);
    const byFilter = await replayEvents(t.db, boss, { integration: 'orders', filter: { q: 'ord-gone' }, actor: 'oscar' });
    expect(byFilter.replayed).toBe(1);
    expect((await settled('ord-gone-2', 1)).status).toBe('failed');
    expect(await event('ord-gone-1')).toMatchObject({ status: 'dismissed', replays: 0 });
    await waitFor('the incident to count the failed replay', async () => ((await incident())[0].eventCount === 3 ? true : undefined));

    // The last failed event dismissed: the incident closes, with a recovery message that says why.
    expect(await dismissFailedEvent(t.db, boss, { ...base, eventId: 'ord-gone-2', reason: 'order deleted at the shop too' })).toEqual({
      eventId: 'ord-gone-2',
      failedLeft: 0,
    });
    const closed = await waitFor('the incident to close', async () => {
      const [row] = await incident();
      return row.closedAt ? row : undefined;
    });
    expect(closed.id).toBe(opened.id);
    const sent = await t.db.select().from(alerts).where(eq(alerts.incidentId, opened.id)).orderBy(alerts.createdAt);
    expect(sent.map((a) => a.event)).toEqual(['opened', 'recovered']);
    expect(sent[1].body).toMatchObject({ event: 'incident.recovered', kind: 'events_failed', integration: 'orders', runId: null });
    expect(sent[1].body.text).toContain("Integration 'orders' recovered: none of its events is left failed.");
    expect(sent[1].body.text).toContain(
      'The last failed event, ord-gone-2, was dismissed by oscar@example.com and will not be applied. Reason: order deleted at the shop too',
    );
    expect(applied).toEqual(['ord-ok']);

    // The Events tab's reads: the state, the counts and the status filter.
    const counts = await eventCounts(t.db, 'orders');
    expect(counts.byStatus).toMatchObject({ failed: 0, dismissed: 2, processed: 1 });
    const page = await listEvents(t.db, 'orders', { status: 'dismissed', limit: 50 });
    expect(page.rows.map((r) => [r.eventId, r.dismissedBy, r.dismissReason])).toEqual([
      ['ord-gone-2', 'oscar@example.com', 'order deleted at the shop too'],
      ['ord-gone-1', 'oscar@example.com', 'order deleted at the shop'],
    ]);
  });
});
