import { and, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Transaction } from '../../../db/client';
import { invoicePaymentHistory, invoices, paymentPayouts } from '../../../db/schema';
import { defineIntegration, issueMessage, type IncomingEvent } from '../../platform/contract';
import { PermanentError } from '../../platform/errors';

/**
 * Payment events pushed by the payment provider (Standard Webhooks) onto the host's invoices:
 * `payment.succeeded` → paid, `payment.refunded` → refunded, `payout.paid` → the payout that
 * settled the invoice's payment. The platform verifies, deduplicates, orders and retries
 * (lib/platform/intake); this file only says where the fields are and what an event changes.
 *
 * Ordering: the provider's `data.sequence` grows with each event of one payment (or payout), so
 * the payment (payout) id is the ordering key and the sequence its version: a refund that arrived
 * before its payment's success leaves the success stale, never applied over the refund. Writes go
 * through the platform's `tx`, which also marks the events processed: applied exactly once. A
 * payout is recorded per payment it covers (`payment_payouts`): one that arrives before a payment's
 * success settles that invoice when the payment arrives, never lost.
 */

const Money = z.string().regex(/^-?\d{1,12}(\.\d{1,2})?$/, 'must be a decimal amount');
const Payment = z.object({
  payment_id: z.string().min(1).max(100),
  invoice_number: z.string().min(1).max(100),
  amount: Money,
  currency: z.string().length(3),
  sequence: z.number().int().positive(),
});
const Payout = z.object({
  payout_id: z.string().min(1).max(100),
  payment_ids: z.array(z.string().min(1).max(100)).max(1000),
  amount: Money,
  currency: z.string().length(3),
  sequence: z.number().int().positive(),
});
type Body = { id?: unknown; type?: unknown; created?: unknown; data?: Record<string, unknown> };
const body = (d: { body: unknown }): Body => (d.body && typeof d.body === 'object' ? (d.body as Body) : {});
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

function parse<T>(schema: z.ZodType<T>, event: IncomingEvent): T {
  const parsed = schema.safeParse((event.payload as Body).data);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new PermanentError(`event ${event.id} (${event.type}): data.${issue.path.join('.')} ${issueMessage(issue)}`);
}

async function applyPayment(tx: Transaction, event: IncomingEvent, status: 'paid' | 'refunded'): Promise<string> {
  const p = parse(Payment, event);
  const [invoice] = await tx
    .select({ id: invoices.id, paymentId: invoices.paymentId, paymentVersion: invoices.paymentVersion, payoutId: invoices.payoutId })
    .from(invoices)
    .where(eq(invoices.number, p.invoice_number))
    .for('update');
  if (!invoice) throw new PermanentError(`event ${event.id}: invoice ${p.invoice_number} does not exist on the host`);
  // The platform already drops older versions; the host keeps its own guard too.
  if (invoice.paymentId === p.payment_id && (invoice.paymentVersion ?? 0) >= p.sequence)
    return `${event.id}: invoice ${p.invoice_number} already holds version ${invoice.paymentVersion}`;
  const at = sql`to_timestamp(${Number((event.payload as Body).created) || Date.now() / 1000})`;
  await tx
    .update(invoices)
    .set({
      paymentStatus: status,
      paymentId: p.payment_id,
      paymentVersion: p.sequence,
      ...(status === 'paid' ? { paidAt: at } : { refundedAt: at }),
    })
    .where(eq(invoices.id, invoice.id));
  await tx.insert(invoicePaymentHistory).values({
    invoiceId: invoice.id,
    eventId: event.id,
    eventType: event.type,
    paymentId: p.payment_id,
    version: p.sequence,
    amount: p.amount,
    currency: p.currency.toUpperCase(),
  });
  // A payout that arrived before this payment settles the invoice now.
  const [early] = await tx.select().from(paymentPayouts).where(eq(paymentPayouts.paymentId, p.payment_id));
  if (early && invoice.payoutId !== early.payoutId) {
    await tx.update(invoices).set({ payoutId: early.payoutId, paidOutAt: early.paidOutAt }).where(eq(invoices.id, invoice.id));
    await tx.insert(invoicePaymentHistory).values({
      invoiceId: invoice.id,
      eventId: early.eventId,
      eventType: 'payout.paid',
      paymentId: p.payment_id,
      payoutId: early.payoutId,
      version: early.version,
      amount: early.amount,
      currency: early.currency,
    });
    return `${event.id}: invoice ${p.invoice_number} ${status}, settled by payout ${early.payoutId} that arrived first`;
  }
  return `${event.id}: invoice ${p.invoice_number} ${status}`;
}

async function applyPayout(tx: Transaction, event: IncomingEvent): Promise<string> {
  const p = parse(Payout, event);
  if (p.payment_ids.length === 0) return `${event.id}: payout ${p.payout_id} settles no payment`;
  const paidOutAt = new Date((Number((event.payload as Body).created) || Date.now() / 1000) * 1000);
  // Recorded per payment: one whose payment.succeeded has not arrived yet is settled when it does.
  await tx
    .insert(paymentPayouts)
    .values(
      p.payment_ids.map((paymentId) => ({
        paymentId,
        payoutId: p.payout_id,
        eventId: event.id,
        version: p.sequence,
        amount: p.amount,
        currency: p.currency.toUpperCase(),
        paidOutAt,
      })),
    )
    .onConflictDoUpdate({
      target: paymentPayouts.paymentId,
      set: {
        payoutId: sql`excluded.payout_id`,
        eventId: sql`excluded.event_id`,
        version: sql`excluded.version`,
        amount: sql`excluded.amount`,
        currency: sql`excluded.currency`,
        paidOutAt: sql`excluded.paid_out_at`,
      },
      // The same payout at the same or an older version is already recorded.
      setWhere: sql`${paymentPayouts.payoutId} <> excluded.payout_id or coalesce(${paymentPayouts.version}, 0) < excluded.version`,
    });
  // The platform already drops versions it applied; the host keeps its own guard too: an invoice
  // whose timeline holds this payout at this version or a newer one is not settled again.
  const settled = await tx
    .update(invoices)
    .set({ payoutId: p.payout_id, paidOutAt })
    .where(
      and(
        inArray(invoices.paymentId, p.payment_ids),
        sql`not exists (select 1 from ${invoicePaymentHistory} h where h.invoice_id = ${invoices.id} and h.event_type = 'payout.paid' and h.payout_id = ${p.payout_id} and h.version >= ${p.sequence})`,
      ),
    )
    .returning({ id: invoices.id, paymentId: invoices.paymentId });
  if (settled.length)
    await tx.insert(invoicePaymentHistory).values(
      settled.map((i) => ({
        invoiceId: i.id,
        eventId: event.id,
        eventType: event.type,
        paymentId: i.paymentId,
        payoutId: p.payout_id,
        version: p.sequence,
        amount: p.amount,
        currency: p.currency.toUpperCase(),
      })),
    );
  const waiting = p.payment_ids.length - settled.length;
  return `${event.id}: payout ${p.payout_id} settled ${settled.length} of ${p.payment_ids.length} payments${waiting ? ` (${waiting} already settled by it, or settled when their payment arrives)` : ''}`;
}

export const paymentEvents = defineIntegration({
  name: 'payment-events',
  description: 'Records payments, refunds and payouts pushed by the payment provider on the invoices',
  settings: z.object({}),
  defaults: { retry: { delays: ['5s', '30s', '2m'] }, breaker: { failures: 5, cooldown: '1m' } },
  events: {
    scheme: 'standard-webhooks',
    typeFrom: (d) => str(body(d).type),
    orderingKeyFrom: (d) => str(body(d).data?.payment_id) ?? str(body(d).data?.payout_id),
    versionFrom: (d) => (typeof body(d).data?.sequence === 'number' ? (body(d).data!.sequence as number) : undefined),
    batchSize: 20,
    async handle(events, ctx, tx) {
      for (const event of events) {
        const line =
          event.type === 'payment.succeeded'
            ? await applyPayment(tx, event, 'paid')
            : event.type === 'payment.refunded'
              ? await applyPayment(tx, event, 'refunded')
              : event.type === 'payout.paid'
                ? await applyPayout(tx, event)
                : `${event.id}: type ${event.type} is not used`;
        ctx.log.debug(line);
      }
    },
  },
});
