import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../test/db';
import { countInvoices, generateHostData } from './host-data';
import { seedDemo } from './seed';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('demo seed', () => {
  it('seeds once and skips on the next start', async () => {
    expect(await seedDemo(t.db)).toBe(true);
    const after = await countInvoices(t.db);
    expect(after).toBe(300);
    expect(await seedDemo(t.db)).toBe(false);
    expect(await countInvoices(t.db)).toBe(after);
  });

  it('generates invoices whose gross equals net plus tax, with lines', async () => {
    const made = await generateHostData(t.db, { customers: 3, invoices: 50, seed: 1, numberOffset: 10_000 });
    expect(made.lines).toBeGreaterThanOrEqual(50);
    const rows = await t.db.$client<{ ok: boolean }[]>`
      select bool_and(gross_total = net_total + tax_total) as ok from invoices`;
    expect(rows[0].ok).toBe(true);
  });
});
