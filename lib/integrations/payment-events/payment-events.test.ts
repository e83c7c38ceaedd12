import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alerts, customers, incidents, invoicePaymentHistory, invoices, webhookEvents, webhookRejections } from '../../../db/schema';
import { PaymentProvider } from '../../../sandbox/payment-provider';
import { standardWebhookHeaders, startIntakeTest, startTestAlerting, type IntakeTest } from '../../../test/fixtures/intake-test';
import { insertPostedInvoice } from '../../../test/fixtures/invoices';
import { waitFor } from '../../../test/fixtures/platform';
import type { IncomingEvent } from '../../platform/contract';
import { replayEvents } from '../../platform/intake/events-read';
import { listInventory } from '../../platform/read-models/inventory';
import { integrations } from '../index';
import { paymentEvents } from './index';

let intake: IntakeTest;
let t: IntakeTest['t'];
let boss: IntakeTest['boss'];
let server: NonNullable<IntakeTest['server']>;
let provider: PaymentProvider;
let secret: string;

beforeAll(async () => {
  intake = await startIntakeTest(integrations, {
    workerId: 'payments-worker',
    secretsFor: ['payment-events'],
    secretLabel: 'provider',
    server: true,
  });
  ({ t, boss } = intake);
  server = intake.server!;
  secret = intake.secrets.get('payment-events')!;
  provider = new PaymentProvider({
    targetUrl: `${server.url}/hooks/payment-events`,
    secret,
    retryDelaysMs: [100, 200, 400],
    faults: { badSignature: 0.15, staleTimestamp: 0.1, duplicate: 0.3, outOfOrder: 0.3 },
    seed: 17,
    holdBackMs: 400,
  });
});
afterAll(async () => {
  provider?.stop();
  await intake?.close();
});

describe('payment-events', () => {
  it('records payments, refunds and payouts on the invoices exactly once, whatever the provider injects', async () => {
    const [customer] = await t.db.insert(customers).values({ name: 'Acme' }).returning();
    const numbers = Array.from({ length: 30 }, (_, i) => `PAY-${String(i).padStart(3, '0')}`);
    for (const number of numbers) await insertPostedInvoice(t.db.$client, { number, customerId: customer.id, cents: 12_345 });

    const payments = numbers.map((invoiceNumber) => provider.paymentSucceeded({ invoiceNumber, amount: '123.45', currency: 'EUR' }));
    const refunded = numbers.slice(0, 10);
    for (const [i, number] of refunded.entries()) {
      provider.paymentRefunded({
        paymentId: (payments[i].data.payment_id as string)!,
        invoiceNumber: number,
        amount: '123.45',
        currency: 'EUR',
      });
    }
    await provider.drained(60_000);
    // Payouts settle payments the host knows.
    await waitFor('payments applied', async () => {
      const pending = await t.db.select().from(webhookEvents).where(eq(webhookEvents.status, 'pending'));
      return pending.length === 0;
    });
    const payout = provider.payoutPaid({
      paymentIds: payments.slice(10, 20).map((p) => p.data.payment_id as string),
      amount: '1234.50',
      currency: 'EUR',
    });
    await provider.drained(60_000);
    await waitFor('payout applied', async () => {
      const [row] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, payout.id));
      return row?.status === 'processed';
    });

    const rows = await t.db.select().from(invoices);
    for (const inv of rows) {
      expect(inv.paymentStatus, inv.number).toBe(refunded.includes(inv.number) ? 'refunded' : 'paid');
    }
    expect(rows.filter((r) => r.payoutId === payout.data.payout_id)).toHaveLength(10);

    const history = await t.db.select().from(invoicePaymentHistory);
    const perEvent = new Map<string, number>();
    for (const h of history) perEvent.set(`${h.eventId}/${h.invoiceId}`, (perEvent.get(`${h.eventId}/${h.invoiceId}`) ?? 0) + 1);
    expect([...perEvent.values()].filter((n) => n > 1)).toEqual([]);
    // Per payment, versions only grow in the order applied.
    const byPayment = new Map<string, number[]>();
    for (const h of history.filter((x) => x.eventType !== 'payout.paid').sort((a, b) => a.id - b.id))
      byPayment.set(h.paymentId!, [...(byPayment.get(h.paymentId!) ?? []), h.version!]);
    for (const versions of byPayment.values()) expect(versions).toEqual([...versions].sort((a, b) => a - b));

    const events = await t.db.select().from(webhookEvents);
    expect(events).toHaveLength(provider.emitted.length);
    const stale = events.filter((e) => e.status === 'stale');
    // A success that arrived after its refund is stale, never applied over it.
    for (const e of stale) expect(e.eventType).toBe('payment.succeeded');
    expect(events.filter((e) => e.status === 'failed')).toEqual([]);
    const stats = provider.snapshot();
    expect(stats.accepted).toBe(provider.emitted.length);
    expect(stats.injected.badSignature + stats.injected.staleTimestamp).toBeGreaterThan(0);
    expect(stats.injected.duplicate).toBeGreaterThan(0);
    expect(events.reduce((n, e) => n + e.duplicates, 0)).toBe(stats.duplicatesAnswered);
    const rejections = await t.db.select().from(webhookRejections);
    expect(rejections).toHaveLength(stats.byStatus['401'] ?? 0);
    console.log(
      `[payment-events] events ${events.length}, attempts ${stats.attempts}, statuses ${JSON.stringify(stats.byStatus)}, injected ${JSON.stringify(stats.injected)}, stale ${stale.length}, history rows ${history.length}`,
    );
  });

  it('applies a payout that arrived before its payments when they arrive, once each', async () => {
    const [customer] = await t.db.insert(customers).values({ name: 'Early Payouts Ltd' }).returning();
    const numbers = Array.from({ length: 5 }, (_, i) => `EARLY-${i}`);
    for (const number of numbers) await insertPostedInvoice(t.db.$client, { number, customerId: customer.id, cents: 10_000 });
    const paymentIds = numbers.map((_, i) => `pay_early_${i}`);
    // The payout comes first and is applied while none of its payments is known.
    const payout = provider.payoutPaid({ paymentIds, amount: '500.00', currency: 'EUR' });
    await provider.drained(60_000);
    await waitFor('the early payout applied', async () => {
      const [row] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, payout.id));
      return row?.status === 'processed';
    });
    const before = await t.db.select().from(invoices).where(eq(invoices.customerId, customer.id));
    expect(before.every((i) => i.payoutId === null)).toBe(true);

    const payments = numbers.map((invoiceNumber, i) =>
      provider.paymentSucceeded({ paymentId: paymentIds[i], invoiceNumber, amount: '100.00', currency: 'EUR' }),
    );
    await provider.drained(60_000);
    await waitFor('the payments applied', async () => {
      const rows = await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventType, 'payment.succeeded'));
      return payments.every((p) => rows.find((r) => r.eventId === p.id)?.status === 'processed');
    });
    const after = await t.db.select().from(invoices).where(eq(invoices.customerId, customer.id));
    for (const inv of after) {
      expect(inv.paymentStatus, inv.number).toBe('paid');
      expect(inv.payoutId, inv.number).toBe(payout.data.payout_id);
      expect(inv.paidOutAt, inv.number).not.toBeNull();
    }
    // One payout row per invoice in the timeline, after its payment.
    const history = await t.db.select().from(invoicePaymentHistory).where(eq(invoicePaymentHistory.eventId, payout.id));
    expect(history.map((h) => h.invoiceId).sort()).toEqual(after.map((i) => i.id).sort());
    expect(history.every((h) => h.payoutId === payout.data.payout_id && h.eventType === 'payout.paid')).toBe(true);
  });

  it('applies a payout once: a replay of it, or the same payout and sequence under a new event id, adds no history row', async () => {
    provider.setFaults({});
    const [customer] = await t.db.insert(customers).values({ name: 'Once Only GmbH' }).returning();
    await insertPostedInvoice(t.db.$client, { number: 'ONCE-1', customerId: customer.id, cents: 10_000 });
    const payment = provider.paymentSucceeded({ invoiceNumber: 'ONCE-1', amount: '100.00', currency: 'EUR' });
    const payout = provider.payoutPaid({ paymentIds: [payment.data.payment_id as string], amount: '100.00', currency: 'EUR' });
    await provider.drained(60_000);
    const eventRow = (id: string) => t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, id));
    await waitFor('the payout applied', async () => (await eventRow(payout.id))[0]?.status === 'processed');
    const payoutRows = () =>
      t.db
        .select()
        .from(invoicePaymentHistory)
        .where(
          and(eq(invoicePaymentHistory.eventType, 'payout.paid'), eq(invoicePaymentHistory.payoutId, payout.data.payout_id as string)),
        );
    expect(await payoutRows()).toHaveLength(1);

    // The operator replays it from the Events tab.
    await replayEvents(t.db, boss, { integration: 'payment-events', eventIds: [payout.id], actor: 'oscar' });
    const [replayed] = await waitFor('the replay handled', async () => {
      const rows = await eventRow(payout.id);
      return rows[0]?.status !== 'pending' ? rows : undefined;
    });
    expect(replayed).toMatchObject({ status: 'processed', replays: 1, outcome: expect.stringContaining('already applied') });

    // The provider sends the same payout again under a new event id.
    const body = JSON.stringify({ ...payout, id: 'evt_resent_payout' });
    const headers = standardWebhookHeaders(secret, 'evt_resent_payout', body);
    const answer = await fetch(`${server.url}/hooks/payment-events`, { method: 'POST', headers, body });
    expect(answer.status).toBe(200);
    const [resent] = await waitFor('the resent payout handled', async () => {
      const rows = await eventRow('evt_resent_payout');
      return rows[0] && rows[0].status !== 'pending' ? rows : undefined;
    });
    expect(resent.outcome).toContain(`already applied: version 1 of ${payout.data.payout_id} was applied by event ${payout.id}`);
    expect(await payoutRows()).toHaveLength(1);
  });

  it('the handler settles an invoice once per payout version however often it is handed the payout', async () => {
    const [customer] = await t.db.insert(customers).values({ name: 'Handler Guard AG' }).returning();
    await insertPostedInvoice(t.db.$client, { number: 'GUARD-1', customerId: customer.id, cents: 10_000 });
    const event = (id: string, type: string, data: Record<string, unknown>): IncomingEvent => ({
      id,
      type,
      orderingKey: null,
      version: null,
      payload: { id, type, created: Math.floor(Date.now() / 1000), data },
      receivedAt: new Date(),
      replayed: false,
    });
    const payment = event('evt_guard_pay', 'payment.succeeded', {
      payment_id: 'pay_guard',
      invoice_number: 'GUARD-1',
      amount: '100.00',
      currency: 'EUR',
      sequence: 1,
    });
    const payoutData = { payout_id: 'po_guard', payment_ids: ['pay_guard'], amount: '100.00', currency: 'EUR', sequence: 1 };
    const handle = paymentEvents.events!.handle;
    const ctx = { log: { debug() {}, info() {} } } as unknown as Parameters<typeof handle>[1];
    await t.db.transaction(async (tx) => {
      await handle([payment], ctx, tx);
      await handle([event('evt_guard_po', 'payout.paid', payoutData)], ctx, tx);
      await handle([event('evt_guard_po', 'payout.paid', payoutData)], ctx, tx);
      await handle([event('evt_guard_po_again', 'payout.paid', payoutData)], ctx, tx);
    });
    const rows = await t.db.select().from(invoicePaymentHistory).where(eq(invoicePaymentHistory.payoutId, 'po_guard'));
    expect(rows.map((r) => [r.eventId, r.version])).toEqual([['evt_guard_po', 1]]);
    // A newer version of the payout is a change: it is recorded.
    await t.db.transaction((tx) => handle([event('evt_guard_po_v2', 'payout.paid', { ...payoutData, sequence: 2 })], ctx, tx));
    const after = await t.db.select().from(invoicePaymentHistory).where(eq(invoicePaymentHistory.payoutId, 'po_guard'));
    expect(after.map((r) => r.version).sort()).toEqual([1, 2]);
  });

  it('opens one incident for a burst of failed events, alerts once with what to do, and closes when none is left failed', async () => {
    provider.setFaults({});
    const alerting = await startTestAlerting(intake.deps);
    try {
      const [customer] = await t.db.insert(customers).values({ name: 'Late Invoices SA' }).returning();
      // Two payments for invoices the host does not have (yet): refused for good, a burst.
      const a = provider.paymentSucceeded({ invoiceNumber: 'ALERT-404', amount: '10.00', currency: 'EUR' });
      const b = provider.paymentSucceeded({ invoiceNumber: 'ALERT-405', amount: '20.00', currency: 'EUR' });
      await provider.drained(60_000);
      const status = async (id: string) => (await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, id)))[0];
      const handled = (id: string, replays: number) =>
        waitFor(`${id} handled`, async () => {
          const row = await status(id);
          return row && row.status !== 'pending' && row.replays === replays ? row : undefined;
        });
      expect((await handled(a.id, 0)).status).toBe('failed');
      expect((await handled(b.id, 0)).status).toBe('failed');
      const incident = (count: number) =>
        waitFor(`the events_failed incident to count ${count}`, async () => {
          const rows = await t.db.select().from(incidents).where(eq(incidents.kind, 'events_failed'));
          return rows.length === 1 && rows[0].eventCount === count ? rows[0] : undefined;
        });
      const opened = await incident(2);
      expect(opened).toMatchObject({ integration: 'payment-events', closedAt: null });
      expect(opened.lastError).toContain('does not exist on the host');
      const sent = await t.db.select().from(alerts).where(eq(alerts.incidentId, opened.id));
      expect(sent).toHaveLength(1);
      const message = sent[0].body;
      expect(message).toMatchObject({ event: 'incident.opened', kind: 'events_failed', integration: 'payment-events' });
      // The refusals are announced by one queued job while it waits: the alert names the first, or
      // both when alerting handled the job after the second refusal.
      expect(message.title).toMatch(/^payment-events: (event evt_\w+ \(payment\.succeeded\)|2 events \(evt_\w+, evt_\w+\)) failed$/);
      expect(message.text).toMatch(
        /could not apply (event evt_\w+ \(payment\.succeeded\)|2 events \(evt_\w+, evt_\w+\)): .*invoice ALERT-40[45] does not exist on the host/,
      );
      expect(message.text).toContain('fix the cause');
      expect(message.text).toContain('Replay the failed events from the Events tab');
      expect(message.consoleUrl).toBe('http://localhost:3000/integrations/payment-events/events?status=failed');
      expect((await listInventory(t.db, { name: 'payment-events' }))[0].state).toBe('failing');

      // One cause fixed and its event replayed: the other is still failed, the incident stays open.
      await insertPostedInvoice(t.db.$client, { number: 'ALERT-404', customerId: customer.id, cents: 1_000 });
      await replayEvents(t.db, boss, { integration: 'payment-events', eventIds: [a.id], actor: 'oscar' });
      expect((await handled(a.id, 1)).status).toBe('processed');
      // Replayed before its cause is fixed: it fails again, counted on the incident without a new alert.
      await replayEvents(t.db, boss, { integration: 'payment-events', eventIds: [b.id], actor: 'oscar' });
      expect((await handled(b.id, 1)).status).toBe('failed');
      expect((await incident(3)).closedAt).toBeNull();
      expect(await t.db.select().from(alerts).where(eq(alerts.incidentId, opened.id))).toHaveLength(1);

      await insertPostedInvoice(t.db.$client, { number: 'ALERT-405', customerId: customer.id, cents: 2_000 });
      await replayEvents(t.db, boss, { integration: 'payment-events', eventIds: [b.id], actor: 'oscar' });
      expect((await handled(b.id, 2)).status).toBe('processed');
      const closed = await waitFor('the incident to close', async () => {
        const [row] = await t.db.select().from(incidents).where(eq(incidents.id, opened.id));
        return row.closedAt ? row : undefined;
      });
      expect(closed.eventCount).toBe(3);
      const all = await t.db.select().from(alerts).where(eq(alerts.incidentId, opened.id));
      expect(all.map((x) => x.event).sort()).toEqual(['opened', 'recovered']);
      expect((await listInventory(t.db, { name: 'payment-events' }))[0].state).not.toBe('failing');
    } finally {
      await alerting.stop();
    }
  });

  it('fails an event whose data lacks a field with a message that names it in words', async () => {
    const body = JSON.stringify({
      id: 'evt_no_invoice',
      type: 'payment.succeeded',
      created: 1,
      data: { payment_id: 'pay_x', sequence: 1 },
    });
    const answer = await fetch(`${server.url}/hooks/payment-events`, {
      method: 'POST',
      headers: standardWebhookHeaders(secret, 'evt_no_invoice', body),
      body,
    });
    expect(answer.status).toBe(200);
    const [failed] = await waitFor('the event handled', async () => {
      const rows = await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, 'evt_no_invoice'));
      return rows[0] && rows[0].status !== 'pending' ? rows : undefined;
    });
    // Before: "data.invoice_number Invalid input: expected string, received undefined".
    expect(failed).toMatchObject({ status: 'failed' });
    expect(failed.outcome).toMatch(/data\.\w+ is missing: expected /);
    expect(failed.outcome).not.toContain('Invalid input');
  });
});
