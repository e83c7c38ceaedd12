import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportTest } from '../../../test/fixtures/export-test';
import { exportNow, LOWERCASE, NO_LINES, saveFixedMapping, startRefusedInvoices } from '../../../test/fixtures/refused-invoices';

/**
 * The latest version of every record is eventually delivered, also when the record was rejected
 * because of the field mapping: an admin fixes the mapping, and the next run books the invoices
 * the old mapping (or the API, given what the old mapping made of them) refused, each once,
 * without the invoices being edited. Invoices booked before are not booked again. The data and
 * the fix: test/fixtures/refused-invoices.ts.
 */

let h: ExportTest;
let ordered: { id: string; number: string }[];

beforeAll(async () => void ({ h, ordered } = await startRefusedInvoices()));
afterAll(() => h?.close());

describe('an invoice rejected because of the mapping', () => {
  it('is booked, once, by the first run after an admin fixes the mapping; nothing else is booked twice', async () => {
    const first = await exportNow(h);
    expect(first.rejected.map((r) => [r.reference, r.stage, r.field]).sort()).toEqual(
      [
        [ordered[NO_LINES].number, 'mapping', 'account'],
        [ordered[LOWERCASE].number, 'api', 'currency'],
      ].sort(),
    );
    expect((await h.admin.bookings()).total).toBe(28);

    // A run with the same mapping books nothing: the rejected invoices would be refused again.
    const same = await exportNow(h);
    expect(same.processed).toBe(0);

    expect(await saveFixedMapping(h)).toBe(true);

    const after = await exportNow(h);
    const bookings = await h.admin.bookings();
    console.log(
      `mapping fixed: first run booked 28 and rejected 2; after the fix: ${after.summary}; bookings ${bookings.total}, duplicates ${bookings.duplicates.length}`,
    );
    expect(after.rejected).toEqual([]);
    expect(bookings.total).toBe(30);
    expect(bookings.byReference[ordered[NO_LINES].number]).toBe(1);
    expect(bookings.byReference[ordered[LOWERCASE].number]).toBe(1);
    expect(Object.values(bookings.byReference).every((n) => n === 1)).toBe(true);
    expect(bookings.duplicates).toEqual([]);
    // And the run after it has nothing left to do.
    expect((await exportNow(h)).processed).toBe(0);
  });
});
