import { sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from './client';
import { customers, invoiceLines, invoices } from './schema';

/**
 * Host-platform data generator: customers and invoices with lines and taxes, deterministic for a
 * seed. The demo seed uses a few hundred invoices; benchmarks generate 100 000 and more.
 */

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COMPANIES = [
  'Acme',
  'Globex',
  'Initech',
  'Umbrella',
  'Stark',
  'Wayne',
  'Wonka',
  'Tyrell',
  'Cyberdyne',
  'Soylent',
  'Hooli',
  'Vandelay',
  'Pied Piper',
  'Gringotts',
  'Oscorp',
  'Monarch',
];
const SUFFIXES = ['Ltd', 'GmbH', 'SARL', 'Inc', 'BV', 'AB'];
const MARKETS = [
  { country: 'US', currency: 'USD', tax: '0.0000' },
  { country: 'DE', currency: 'EUR', tax: '0.1900' },
  { country: 'FR', currency: 'EUR', tax: '0.2000' },
  { country: 'GB', currency: 'GBP', tax: '0.2000' },
  { country: 'SE', currency: 'SEK', tax: '0.2500' },
] as const;
const ITEMS = [
  { description: 'Platform subscription', account: '4000' },
  { description: 'Professional services', account: '4100' },
  { description: 'Support plan', account: '4200' },
  { description: 'Hardware', account: '4300' },
  { description: 'Training day', account: '4400' },
];

const money = (cents: number) => (cents / 100).toFixed(2);

export interface GenerateOptions {
  customers: number;
  invoices: number;
  seed?: number;
  /** Invoice numbers start after this, so several batches can be generated. */
  numberOffset?: number;
  /** Posted timestamps are spread over the days before this instant. */
  until?: Date;
  spreadDays?: number;
}

export async function generateHostData(
  db: DatabaseOrTransaction,
  options: GenerateOptions,
): Promise<{ customers: number; invoices: number; lines: number }> {
  const random = mulberry32(options.seed ?? 42);
  const offset = options.numberOffset ?? 0;
  const until = (options.until ?? new Date()).getTime();
  const spread = (options.spreadDays ?? 30) * 86_400_000;

  const customerRows = Array.from({ length: options.customers }, (_, i) => {
    const market = MARKETS[Math.floor(random() * MARKETS.length)];
    const name = `${COMPANIES[i % COMPANIES.length]} ${SUFFIXES[Math.floor(random() * SUFFIXES.length)]}${i >= COMPANIES.length ? ` ${Math.floor(i / COMPANIES.length) + 1}` : ''}`;
    return {
      name,
      email: `billing+${offset + i}@${name.toLowerCase().replace(/[^a-z]+/g, '')}.example`,
      country: market.country,
      currency: market.currency,
    };
  });
  const insertedCustomers: { id: string; currency: string; country: string }[] = [];
  for (let i = 0; i < customerRows.length; i += 1000) {
    insertedCustomers.push(
      ...(await db
        .insert(customers)
        .values(customerRows.slice(i, i + 1000))
        .returning({ id: customers.id, currency: customers.currency, country: customers.country })),
    );
  }

  let lineCount = 0;
  const CHUNK = 2000;
  for (let start = 0; start < options.invoices; start += CHUNK) {
    const invoiceRows: (typeof invoices.$inferInsert)[] = [];
    const linesByInvoice: {
      position: number;
      description: string;
      quantity: string;
      unitPrice: string;
      taxRate: string;
      account: string;
    }[][] = [];
    for (let i = start; i < Math.min(options.invoices, start + CHUNK); i++) {
      const customer = insertedCustomers[Math.floor(random() * insertedCustomers.length)];
      const market = MARKETS.find((m) => m.country === customer.country) ?? MARKETS[0];
      const taxRate = Number(market.tax);
      const lines = Array.from({ length: 1 + Math.floor(random() * 4) }, (_, position) => {
        const item = ITEMS[Math.floor(random() * ITEMS.length)];
        const quantity = 1 + Math.floor(random() * 10);
        const unitCents = 1000 + Math.floor(random() * 200_000);
        return {
          position,
          description: item.description,
          quantity: quantity.toFixed(3),
          unitPrice: money(unitCents),
          taxRate: market.tax,
          account: item.account,
          netCents: quantity * unitCents,
        };
      });
      const net = lines.reduce((sum, l) => sum + l.netCents, 0);
      const tax = lines.reduce((sum, l) => sum + Math.round(l.netCents * taxRate), 0);
      const postedAt = new Date(until - Math.floor(random() * spread));
      const issued = postedAt.toISOString().slice(0, 10);
      invoiceRows.push({
        number: `INV-${String(offset + i + 1).padStart(7, '0')}`,
        customerId: customer.id,
        currency: customer.currency,
        status: 'posted',
        issuedOn: issued,
        dueOn: new Date(postedAt.getTime() + 30 * 86_400_000).toISOString().slice(0, 10),
        netTotal: money(net),
        taxTotal: money(tax),
        grossTotal: money(net + tax),
        postedAt,
        updatedAt: postedAt,
      });
      linesByInvoice.push(lines.map(({ netCents: _, ...l }) => l));
    }
    const ids = await db.insert(invoices).values(invoiceRows).returning({ id: invoices.id });
    const lineRows = ids.flatMap(({ id }, k) => linesByInvoice[k].map((l) => ({ ...l, invoiceId: id })));
    for (let i = 0; i < lineRows.length; i += 5000) await db.insert(invoiceLines).values(lineRows.slice(i, i + 5000));
    lineCount += lineRows.length;
  }
  return { customers: insertedCustomers.length, invoices: options.invoices, lines: lineCount };
}

export async function countInvoices(db: DatabaseOrTransaction): Promise<number> {
  const [row] = await db.execute<{ n: number }>(sql`select count(*)::int as n from invoices`);
  return row.n;
}
