import type { InvoiceRecord } from '../lib/integrations/accounting-export/source';
import type { MapResult } from '../lib/platform/mapping';

/**
 * The accounting export's 12-field journal mapping written by hand: the physical limit the mapping
 * engine is measured against (benchmark 3) and the snowflake export's mapper (benchmark 2). It does
 * the same checks the engine's field types do on this data (required values, YYYY-MM-DD dates,
 * two-decimal amounts, whole numbers) and reports a failing record with its first failing field.
 */

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const CENTS = /^-?\d{1,15}\.\d{2}$/;

function decimal(value: unknown): string | null {
  if (typeof value === 'string' && CENTS.test(value)) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value.toFixed(2);
  return null;
}

export function mapInvoicesByHand(records: InvoiceRecord[]): MapResult {
  const result: MapResult = { mapped: [], rejected: [], filtered: 0 };
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const key = typeof r.number === 'string' && r.number !== '' ? r.number : `#${i + 1}`;
    const fail = (field: string, reason: string) => result.rejected.push({ key, field, reason });
    if (typeof r.number !== 'string') {
      fail('reference', 'expected text');
      continue;
    }
    if (typeof r.issuedOn !== 'string' || !DATE.test(r.issuedOn)) {
      fail('date', 'expected a date');
      continue;
    }
    if (typeof r.dueOn !== 'string' || !DATE.test(r.dueOn)) {
      fail('dueDate', 'expected a date');
      continue;
    }
    if (typeof r.currency !== 'string') {
      fail('currency', 'expected text');
      continue;
    }
    const customer = r.customer;
    if (!customer || typeof customer.id !== 'string') {
      fail('customerId', 'expected text');
      continue;
    }
    if (typeof customer.name !== 'string') {
      fail('customerName', 'expected text');
      continue;
    }
    const netAmount = decimal(r.netTotal);
    if (netAmount === null) {
      fail('netAmount', 'expected a decimal amount');
      continue;
    }
    const taxAmount = decimal(r.taxTotal);
    if (taxAmount === null) {
      fail('taxAmount', 'expected a decimal amount');
      continue;
    }
    const grossAmount = decimal(r.grossTotal);
    if (grossAmount === null) {
      fail('grossAmount', 'expected a decimal amount');
      continue;
    }
    const lines = Array.isArray(r.lines) ? r.lines : [];
    const account = lines[0]?.account;
    if (typeof account !== 'string') {
      fail('account', 'required value is missing');
      continue;
    }
    result.mapped.push({
      key,
      value: {
        reference: r.number,
        date: r.issuedOn,
        dueDate: r.dueOn,
        currency: r.currency,
        customerId: customer.id,
        customerName: customer.name,
        netAmount,
        taxAmount,
        grossAmount,
        account,
        description: `Invoice ${r.number} for ${customer.name}`,
        lineCount: lines.length,
      },
      index: i,
    });
  }
  return result;
}
