import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, integer, numeric, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { createdAt, tstz } from './columns';

/** Host platform data (the demo business the integrations move data for), apart from the platform's own tables. */

export const customers = pgTable('customers', {
  id: uuid('id').primaryKey().defaultRandom(),
  externalId: text('external_id').unique(),
  name: text('name').notNull(),
  email: text('email'),
  country: text('country').notNull().default('US'),
  currency: text('currency').notNull().default('USD'),
  /** The external system's version (updated_at) of the record last applied (crm-sync): older versions are never applied over it. */
  externalUpdatedAt: tstz('external_updated_at'),
  createdAt: createdAt(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});
export type Customer = typeof customers.$inferSelect;

export const invoices = pgTable(
  'invoices',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    number: text('number').notNull().unique(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id),
    currency: text('currency').notNull(),
    status: text('status').$type<'draft' | 'posted' | 'void'>().notNull().default('posted'),
    issuedOn: text('issued_on').notNull(),
    dueOn: text('due_on').notNull(),
    netTotal: numeric('net_total', { precision: 14, scale: 2 }).notNull(),
    taxTotal: numeric('tax_total', { precision: 14, scale: 2 }).notNull(),
    grossTotal: numeric('gross_total', { precision: 14, scale: 2 }).notNull(),
    postedAt: tstz('posted_at'),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    /** Payment state from the payment provider's events (payment-events): 'paid' | 'refunded'. */
    paymentStatus: text('payment_status').$type<'paid' | 'refunded'>(),
    paymentId: text('payment_id'),
    /** The provider's sequence of the payment event applied last: an older one never overwrites it. */
    paymentVersion: bigint('payment_version', { mode: 'number' }),
    paidAt: tstz('paid_at'),
    refundedAt: tstz('refunded_at'),
    payoutId: text('payout_id'),
    paidOutAt: tstz('paid_out_at'),
  },
  (t) => [
    index('invoices_updated_idx').on(t.updatedAt, t.id),
    index('invoices_payment_id_idx')
      .on(t.paymentId)
      .where(sql`payment_id IS NOT NULL`),
  ],
);
export type Invoice = typeof invoices.$inferSelect;

/** The host's payment timeline: one row per payment event applied to an invoice. */
export const invoicePaymentHistory = pgTable(
  'invoice_payment_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    invoiceId: uuid('invoice_id')
      .notNull()
      .references(() => invoices.id, { onDelete: 'cascade' }),
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    paymentId: text('payment_id'),
    payoutId: text('payout_id'),
    version: bigint('version', { mode: 'number' }),
    amount: numeric('amount', { precision: 14, scale: 2 }),
    currency: text('currency'),
    appliedAt: tstz('applied_at')
      .notNull()
      .default(sql`clock_timestamp()`),
  },
  (t) => [index('invoice_payment_history_invoice_idx').on(t.invoiceId, t.id)],
);
export type InvoicePaymentHistory = typeof invoicePaymentHistory.$inferSelect;

/**
 * A payout as recorded per payment it covers (payment-events): a payout that arrives before the
 * payment it settles is kept here and applied to the invoice when the payment arrives.
 */
export const paymentPayouts = pgTable('payment_payouts', {
  paymentId: text('payment_id').primaryKey(),
  payoutId: text('payout_id').notNull(),
  eventId: text('event_id').notNull(),
  version: bigint('version', { mode: 'number' }),
  amount: numeric('amount', { precision: 14, scale: 2 }),
  currency: text('currency'),
  paidOutAt: tstz('paid_out_at').notNull(),
  recordedAt: tstz('recorded_at').notNull().defaultNow(),
});

export const invoiceLines = pgTable(
  'invoice_lines',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    invoiceId: uuid('invoice_id')
      .notNull()
      .references(() => invoices.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    description: text('description').notNull(),
    quantity: numeric('quantity', { precision: 12, scale: 3 }).notNull(),
    unitPrice: numeric('unit_price', { precision: 14, scale: 2 }).notNull(),
    taxRate: numeric('tax_rate', { precision: 5, scale: 4 }).notNull(),
    account: text('account').notNull(),
  },
  (t) => [index('invoice_lines_invoice_idx').on(t.invoiceId, t.position)],
);
export type InvoiceLine = typeof invoiceLines.$inferSelect;

/**
 * Posted invoices the host deleted, one row each, written by the trigger `invoices_record_deletion`
 * (migration 0034) in the deleting transaction: a deleted row leaves nothing for a reader of
 * `invoices` to see, so without it an invoice booked and then deleted stayed booked for ever. The
 * accounting export reads these beside the invoices, in the same (time, id) order, and sends each a
 * reversal. `deleted_at` is the deleting transaction's `now()` (the change-capture assumption, as
 * `updated_at`); drafts (never posted, never booked) are not recorded.
 */
export const invoiceDeletions = pgTable(
  'invoice_deletions',
  {
    invoiceId: uuid('invoice_id').primaryKey(),
    number: text('number').notNull(),
    postedAt: tstz('posted_at').notNull(),
    deletedAt: tstz('deleted_at').notNull().defaultNow(),
  },
  (t) => [index('invoice_deletions_deleted_idx').on(t.deletedAt, t.invoiceId)],
);
export type InvoiceDeletion = typeof invoiceDeletions.$inferSelect;
