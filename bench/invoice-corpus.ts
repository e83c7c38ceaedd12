import type { InvoiceRecord } from '../lib/integrations/accounting-export/source';

/**
 * Invoice records as the export reads them (same shape and value formats as readInvoicesAfter),
 * generated in memory and deterministic for a seed: the mapping benchmark's corpus.
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

const NAMES = ['Acme Ltd', 'Globex GmbH', 'Initech SARL', 'Umbrella Inc', 'Stark BV', 'Wayne AB', 'Wonka Ltd', 'Tyrell GmbH'];
const MARKETS = [
  { country: 'US', currency: 'USD', tax: 0 },
  { country: 'DE', currency: 'EUR', tax: 0.19 },
  { country: 'GB', currency: 'GBP', tax: 0.2 },
  { country: 'SE', currency: 'SEK', tax: 0.25 },
];
const ITEMS = [
  { description: 'Platform subscription', account: '4000' },
  { description: 'Professional services', account: '4100' },
  { description: 'Support plan', account: '4200' },
  { description: 'Training day', account: '4400' },
];

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

export function invoiceCorpus(count: number, seed = 7): InvoiceRecord[] {
  const random = mulberry32(seed);
  const base = Date.UTC(2026, 0, 1);
  return Array.from({ length: count }, (_, i) => {
    const market = MARKETS[Math.floor(random() * MARKETS.length)];
    const c = Math.floor(random() * 500);
    const lines = Array.from({ length: 1 + Math.floor(random() * 4) }, (_, position) => {
      const item = ITEMS[Math.floor(random() * ITEMS.length)];
      const quantity = 1 + Math.floor(random() * 10);
      const unitCents = 1000 + Math.floor(random() * 200_000);
      return {
        position,
        description: item.description,
        quantity: quantity.toFixed(3),
        unitPrice: (unitCents / 100).toFixed(2),
        taxRate: market.tax.toFixed(4),
        account: item.account,
        net: quantity * unitCents,
      };
    });
    const net = lines.reduce((s, l) => s + l.net, 0);
    const tax = Math.round(net * market.tax);
    const posted = new Date(base + Math.floor(random() * 300 * 86_400_000));
    return {
      id: `00000000-0000-4000-8000-${hex(i, 12)}`,
      number: `INV-${String(i + 1).padStart(7, '0')}`,
      status: 'posted',
      issuedOn: posted.toISOString().slice(0, 10),
      dueOn: new Date(posted.getTime() + 30 * 86_400_000).toISOString().slice(0, 10),
      currency: market.currency,
      netTotal: (net / 100).toFixed(2),
      taxTotal: (tax / 100).toFixed(2),
      grossTotal: ((net + tax) / 100).toFixed(2),
      postedAt: posted.toISOString(),
      updatedAt: posted.toISOString(),
      customer: {
        id: `c0000000-0000-4000-8000-${hex(c, 12)}`,
        externalId: c % 3 ? `crm-${c}` : null,
        name: `${NAMES[c % NAMES.length]} ${c}`,
        email: null,
        country: market.country,
      },
      lines: lines.map(({ net: _, ...l }) => l),
    };
  });
}
