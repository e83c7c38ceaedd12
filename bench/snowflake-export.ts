import type postgres from 'postgres';
import { invoiceExternalId, type InvoiceRecord } from '../lib/integrations/accounting-export/source';
import { mapInvoicesByHand } from './hand-mapping';

/**
 * The "snowflake": the accounting export written the direct way, as a one-off script would be:
 * get a token, read posted invoices page by page, map them with plain code, POST each batch with
 * fetch. No run records, no retries, no breaker, no idempotency keys, no audit, no dry-run, no
 * progress, no watermark, no checkpoints, no change-capture bound. It sends the same per-entry
 * `externalId` (<invoice id>@<version>) and `replaces` (<invoice id>) as the platform, so the stand-in does the same work for
 * both. Benchmark 2 measures the platform's export against it.
 */

export interface SnowflakeParams {
  sql: postgres.Sql;
  baseUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  batchSize: number;
}

export async function snowflakeExport(p: SnowflakeParams): Promise<{ booked: number; rejected: number; batches: number }> {
  const tokenResponse = await fetch(p.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: p.clientId,
      client_secret: p.clientSecret,
      scope: 'journal:write',
    }),
  });
  if (!tokenResponse.ok) throw new Error(`token request failed: ${tokenResponse.status} ${await tokenResponse.text()}`);
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };

  let after = { updatedAt: '1970-01-01T00:00:00.000Z', id: '00000000-0000-0000-0000-000000000000' };
  let booked = 0;
  let rejected = 0;
  let batches = 0;
  for (;;) {
    const rows = await p.sql<{ record: InvoiceRecord; updated_at_text: string; id: string; version: string }[]>`
      select json_build_object(
               'id', i.id, 'number', i.number, 'status', i.status, 'issuedOn', i.issued_on, 'dueOn', i.due_on,
               'currency', i.currency, 'netTotal', i.net_total::text, 'taxTotal', i.tax_total::text, 'grossTotal', i.gross_total::text,
               'postedAt', i.posted_at, 'updatedAt', i.updated_at,
               'customer', json_build_object('id', c.id, 'externalId', c.external_id, 'name', c.name, 'email', c.email, 'country', c.country),
               'lines', coalesce((select json_agg(json_build_object('position', l.position, 'description', l.description,
                                    'quantity', l.quantity::text, 'unitPrice', l.unit_price::text, 'taxRate', l.tax_rate::text, 'account', l.account)
                                  order by l.position) from invoice_lines l where l.invoice_id = i.id), '[]'::json)
             ) as record,
             to_char(i.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as updated_at_text, i.id,
             (extract(epoch from i.updated_at) * 1000000)::bigint::text as version
        from invoices i join customers c on c.id = i.customer_id
       where i.status = 'posted' and (i.updated_at, i.id) > (${after.updatedAt}::timestamptz, ${after.id}::uuid)
       order by i.updated_at, i.id
       limit ${p.batchSize}`;
    if (rows.length === 0) break;
    const mapped = mapInvoicesByHand(rows.map((r) => r.record));
    rejected += mapped.rejected.length;
    if (mapped.mapped.length > 0) {
      const response = await fetch(`${p.baseUrl}/v1/journal-entries`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          entries: mapped.mapped.map((m) => ({
            ...m.value,
            externalId: invoiceExternalId(rows[m.index].id, rows[m.index].version),
            replaces: rows[m.index].id,
          })),
        }),
      });
      if (!response.ok) throw new Error(`booking failed: ${response.status} ${await response.text()}`);
      const body = (await response.json()) as { booked?: unknown[]; rejected?: unknown[] };
      booked += body.booked?.length ?? 0;
      rejected += body.rejected?.length ?? 0;
      batches++;
    }
    const last = rows[rows.length - 1];
    after = { updatedAt: last.updated_at_text, id: last.id };
  }
  return { booked, rejected, batches };
}
