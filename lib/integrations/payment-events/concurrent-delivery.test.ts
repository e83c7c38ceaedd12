import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customers, invoicePaymentHistory, invoices, webhookEvents } from '../../../db/schema';
import { standardWebhookHeaders, startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { insertPostedInvoice } from '../../../test/fixtures/invoices';
import { waitFor } from '../../../test/fixtures/platform';
import { replayEvents } from '../../platform/intake/events-read';
import { integrations } from '../index';

/**
 * Deliveries the provider's own retries and fan-out make concurrent, over HTTP to the intake:
 * the same signed event posted many times at once (a retry fired while the first delivery is still
 * in flight), and a refund and its payment's success posted at once, the refund first. Each event
 * is stored once, applied once, and the invoice ends in the newest version of its payment; an
 * event that failed, was replayed, then redelivered (twice at once) is applied once.
 */

let intake: IntakeTest;
let t: IntakeTest['t'];
let boss: IntakeTest['boss'];

beforeAll(async () => {
  intake = await startIntakeTest(integrations, {
    workerId: 'concurrent-worker',
    secretsFor: ['payment-events'],
    secretLabel: 'provider',
    server: true,
  });
  ({ t, boss } = intake);
});
afterAll(() => intake?.close());

function deliver(event: { id: string } & Record<string, unknown>) {
  const body = JSON.stringify(event);
  const headers = standardWebhookHeaders(intake.secrets.get('payment-events')!, event.id, body);
  return fetch(`${intake.server!.url}/hooks/payment-events`, { method: 'POST', headers, body });
}

const payment = (id: string, type: string, invoice: string, sequence: number) => ({
  id,
  type,
  created: Math.floor(Date.now() / 1000),
  data: { payment_id: `pay_${invoice}`, invoice_number: invoice, amount: '100.00', currency: 'EUR', sequence },
});

describe('concurrent deliveries of payment events', () => {
  it('stores and applies an event posted 12 times at once exactly once', async () => {
    const [customer] = await t.db.insert(customers).values({ name: 'Concurrent GmbH' }).returning();
    await insertPostedInvoice(t.db.$client, { number: 'CONC-1', customerId: customer.id, cents: 10_000 });
    const event = payment('evt_conc_1', 'payment.succeeded', 'CONC-1', 1);
    const answers = await Promise.all(Array.from({ length: 12 }, () => deliver(event)));
    const statuses = answers.map((a) => a.status);
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as { duplicate?: boolean }[];
    console.log(`same event x12 at once: statuses ${statuses.join(',')}, duplicates answered ${bodies.filter((b) => b.duplicate).length}`);
    // Every delivery is acknowledged (a 5xx would make the provider retry), one stored.
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(bodies.filter((b) => b.duplicate)).toHaveLength(11);
    const [row] = await waitFor('the event applied', async () => {
      const rows = await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, 'evt_conc_1'));
      return rows[0]?.status === 'processed' ? rows : undefined;
    });
    expect(row).toMatchObject({ duplicates: 11 });
    expect(await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, 'evt_conc_1'))).toHaveLength(1);
    const history = await t.db.select().from(invoicePaymentHistory).where(eq(invoicePaymentHistory.eventId, 'evt_conc_1'));
    expect(history).toHaveLength(1);
  });

  it('a refund and its payment success posted at once, the refund first, leave the invoice refunded, each applied at most once', async () => {
    const [customer] = await t.db.insert(customers).values({ name: 'Race AB' }).returning();
    const numbers = Array.from({ length: 10 }, (_, i) => `RACE-${i}`);
    for (const number of numbers) await insertPostedInvoice(t.db.$client, { number, customerId: customer.id, cents: 10_000 });
    await Promise.all(
      numbers.flatMap((n) => [
        deliver(payment(`evt_${n}_refund`, 'payment.refunded', n, 2)),
        deliver(payment(`evt_${n}_success`, 'payment.succeeded', n, 1)),
      ]),
    );
    await waitFor('every event handled', async () => {
      const rows = await t.db.select().from(webhookEvents);
      return rows.filter((r) => r.eventId.startsWith('evt_RACE')).every((r) => r.status !== 'pending') || undefined;
    });
    for (const n of numbers) {
      const [invoice] = await t.db.select().from(invoices).where(eq(invoices.number, n));
      expect({ n, status: invoice.paymentStatus, version: invoice.paymentVersion }).toEqual({ n, status: 'refunded', version: 2 });
      const history = await t.db.select().from(invoicePaymentHistory).where(eq(invoicePaymentHistory.invoiceId, invoice.id));
      // The refund once; the success once at most (when it was applied before the refund), never after it.
      expect(history.filter((h) => h.eventType === 'payment.refunded')).toHaveLength(1);
      expect(history.filter((h) => h.eventType === 'payment.succeeded').length).toBeLessThanOrEqual(1);
      expect(history.at(-1)?.eventType).toBe('payment.refunded');
    }
  });

  it('an event that failed, was replayed by an operator, then redelivered by the provider is applied once', async () => {
    const event = payment('evt_late_1', 'payment.succeeded', 'LATE-1', 1);
    expect((await deliver(event)).status).toBe(200);
    const eventRow = async () => (await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, 'evt_late_1')))[0];
    // The invoice is not on the host yet: the event fails.
    await waitFor('the event to fail', async () => ((await eventRow())?.status === 'failed' ? true : undefined));
    const [customer] = await t.db.insert(customers).values({ name: 'Late Invoice SARL' }).returning();
    await insertPostedInvoice(t.db.$client, { number: 'LATE-1', customerId: customer.id, cents: 10_000 });
    await replayEvents(t.db, boss, { integration: 'payment-events', eventIds: ['evt_late_1'], actor: 'oscar' });
    await waitFor('the replay applied', async () => ((await eventRow())?.status === 'processed' ? true : undefined));
    // The provider had not seen a 2xx for its own reasons and delivers it again, twice at once.
    const again = await Promise.all([deliver(event), deliver(event)]);
    expect(again.map((a) => a.status)).toEqual([200, 200]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const [invoice] = await t.db.select().from(invoices).where(eq(invoices.number, 'LATE-1'));
    expect(invoice).toMatchObject({ paymentStatus: 'paid', paymentVersion: 1 });
    const history = await t.db.select().from(invoicePaymentHistory).where(eq(invoicePaymentHistory.invoiceId, invoice.id));
    expect(history.map((h) => h.eventId)).toEqual(['evt_late_1']);
    expect(await eventRow()).toMatchObject({ status: 'processed', replays: 1, duplicates: 2 });
  });
});
