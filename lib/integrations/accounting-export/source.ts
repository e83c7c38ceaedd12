import { sql } from 'drizzle-orm';
import type { Database, DatabaseOrTransaction } from '../../../db/client';

/** One invoice as the field mapping sees it: the source record of the accounting export. */
export interface InvoiceRecord {
  id: string;
  number: string;
  status: string;
  issuedOn: string;
  dueOn: string;
  currency: string;
  netTotal: string;
  taxTotal: string;
  grossTotal: string;
  postedAt: string | null;
  updatedAt: string;
  customer: { id: string; externalId: string | null; name: string; email: string | null; country: string };
  lines: { position: number; description: string; quantity: string; unitPrice: string; taxRate: string; account: string }[];
}

/**
 * A posted invoice the host deleted (its row in `invoice_deletions`, written by a trigger in the
 * deleting transaction): all that is left of it, read in the same order at its `deleted_at`.
 */
export interface DeletedInvoice {
  id: string;
  number: string;
  status: 'deleted';
  postedAt: string;
  /** When it was deleted: its position and version in the export. */
  updatedAt: string;
}

/** One item of a page: an invoice as it is now, or a posted invoice's deletion. */
export type ExportedItem =
  | { deleted?: undefined; record: InvoiceRecord; position: ExportWatermark; version: InvoiceVersion }
  | { deleted: true; record: DeletedInvoice; position: ExportWatermark; version: InvoiceVersion };

/** Position in the export: invoices are read in (updated_at, id) order, deletions at (deleted_at, id). */
export interface ExportWatermark {
  updatedAt: string;
  id: string;
}

/** One version of an invoice: its `updated_at` in microseconds since the epoch, as text. */
export type InvoiceVersion = string;

/**
 * The identity of one version of one invoice, sent as the journal entry's `externalId`: the
 * accounting API books each at most once, whatever batch it arrives in.
 */
export function invoiceExternalId(id: string, version: InvoiceVersion): string {
  return `${id}@${version}`;
}

/**
 * The invoices the export reads: posted ones (booked), and ones that had been posted and are not
 * any more, voided or taken back to draft (their bookings reversed). One never posted (a draft, a
 * draft voided) was never booked: nothing to send. The host keeps `posted_at` when it voids an
 * invoice or takes it back.
 */
const EXPORTED_STATUSES = `(i.status = 'posted' or i.posted_at is not null)`;

/**
 * The page query, sent as a named prepared statement (postgres.js caches it per connection by its
 * text): PostgreSQL parses and plans it once per connection instead of once per batch, about
 * 0.5 ms of each 100-invoice batch (bench/README.md, 2). Drizzle's `execute` sends SQL unprepared.
 * Invoices and deletions (invoice_deletions, at deleted_at) are merged in one (time, id) order:
 * each branch is read by its own index up to the page size, the merge keeps the first ones. A
 * deletion of an invoice that exists again (re-inserted with its id, posted) is not read: the invoice is,
 * at its own version, and its booking replaces the ones before (one position per id, so a page
 * boundary between the two cannot skip either).
 */
const PAGE_QUERY = `
    select record, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as updated_at_text, id,
           (extract(epoch from at) * 1000000)::bigint::text as version, deleted
      from ((select json_build_object(
             'id', i.id, 'number', i.number, 'status', i.status, 'issuedOn', i.issued_on, 'dueOn', i.due_on,
             'currency', i.currency, 'netTotal', i.net_total::text, 'taxTotal', i.tax_total::text, 'grossTotal', i.gross_total::text,
             'postedAt', i.posted_at, 'updatedAt', i.updated_at,
             'customer', json_build_object('id', c.id, 'externalId', c.external_id, 'name', c.name, 'email', c.email, 'country', c.country),
             'lines', coalesce((select json_agg(json_build_object('position', l.position, 'description', l.description,
                                  'quantity', l.quantity::text, 'unitPrice', l.unit_price::text, 'taxRate', l.tax_rate::text, 'account', l.account)
                                order by l.position) from invoice_lines l where l.invoice_id = i.id), '[]'::json)
           ) as record, i.updated_at as at, i.id, false as deleted
      from invoices i join customers c on c.id = i.customer_id
     where ${EXPORTED_STATUSES}
       and (i.updated_at, i.id) > ($1::timestamptz, $2::uuid)
       and i.updated_at < $3::timestamptz
     order by i.updated_at, i.id
     limit $4)
     union all
     (select json_build_object('id', d.invoice_id, 'number', d.number, 'status', 'deleted', 'postedAt', d.posted_at, 'updatedAt', d.deleted_at),
             d.deleted_at, d.invoice_id, true
        from invoice_deletions d
       where (d.deleted_at, d.invoice_id) > ($1::timestamptz, $2::uuid)
         and d.deleted_at < $3::timestamptz
         and not exists (select 1 from invoices r where r.id = d.invoice_id and (r.status = 'posted' or r.posted_at is not null))
       order by d.deleted_at, d.invoice_id
       limit $4)) page
     order by at, id
     limit $4`;

/**
 * Posted invoices, voided ones that had been posted (EXPORTED_STATUSES) and deletions of posted
 * ones, changed after the watermark and strictly before `before` (the change-capture bound: the
 * run's creation or the start of the oldest open transaction, see
 * lib/platform/execution/change-capture.ts), oldest first, invoices with customer and lines, one
 * page at a time (keyset on time, id). Each comes with its version (the time in microseconds).
 */
export async function readInvoicesAfter(
  db: Database,
  params: { after?: ExportWatermark; limit: number; before: string },
): Promise<ExportedItem[]> {
  const after = params.after ?? { updatedAt: '1970-01-01T00:00:00.000Z', id: '00000000-0000-0000-0000-000000000000' };
  const rows = await db.$client.unsafe<
    { record: InvoiceRecord | DeletedInvoice; updated_at_text: string; id: string; version: string; deleted: boolean }[]
  >(PAGE_QUERY, [after.updatedAt, after.id, params.before, params.limit], { prepare: true });
  return rows.map((r) =>
    r.deleted
      ? { deleted: true, record: r.record as DeletedInvoice, position: { updatedAt: r.updated_at_text, id: r.id }, version: r.version }
      : { record: r.record as InvoiceRecord, position: { updatedAt: r.updated_at_text, id: r.id }, version: r.version },
  );
}

export async function countInvoicesAfter(db: DatabaseOrTransaction, params: { after?: ExportWatermark; before: string }): Promise<number> {
  const after = params.after ?? { updatedAt: '1970-01-01T00:00:00.000Z', id: '00000000-0000-0000-0000-000000000000' };
  const [row] = await db.execute<{ n: number }>(sql`
    select (select count(*)::int from invoices i
             where ${sql.raw(EXPORTED_STATUSES)} and (i.updated_at, i.id) > (${after.updatedAt}::timestamptz, ${after.id}::uuid)
               and i.updated_at < ${params.before}::timestamptz)
         + (select count(*)::int from invoice_deletions d
             where (d.deleted_at, d.invoice_id) > (${after.updatedAt}::timestamptz, ${after.id}::uuid)
               and d.deleted_at < ${params.before}::timestamptz
               and not exists (select 1 from invoices r where r.id = d.invoice_id and (r.status = 'posted' or r.posted_at is not null))) as n`);
  return row.n;
}
