import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BookingSummary } from '../../../sandbox/accounting-api';
import { exportNow, saveFixedMapping, startRefusedInvoices, type RefusedInvoices } from '../../../test/fixtures/refused-invoices';

/**
 * A reversal read again in another batch: after a mapping fix the export reads again from the first
 * invoice the old mapping refused (rejectedSince), and a voided invoice it reversed in between is
 * sent again, cut into another batch under another Idempotency-Key. The accounting API answers it
 * by its externalId as already applied: the booking is undone once. Same data as
 * mapping-fix.test.ts (test/fixtures/refused-invoices.ts): 30 invoices in batches of 10, #6 refused
 * by the mapping in the first batch, #14 by the API.
 */

let h: RefusedInvoices['h'];
let ordered: RefusedInvoices['ordered'];

beforeAll(async () => {
  ({ h, ordered } = await startRefusedInvoices());
});
afterAll(() => h?.close());

describe('a voided invoice read again after a mapping fix', () => {
  it('is answered as reversed before: its booking is undone once', async () => {
    const first = await exportNow(h);
    expect(first.rejectedCount).toBe(2);
    const voided = ordered[2];
    const [{ version }] = await h.db.$client<{ version: string }[]>`
      update invoices set status = 'void', updated_at = now() where id = ${voided.id}
      returning (extract(epoch from updated_at) * 1000000)::bigint::text as version`;

    const reversing = await exportNow(h);
    expect(reversing).toMatchObject({ processed: 1, reversals: 1, alreadyReversed: 0 });
    expect(await saveFixedMapping(h)).toBe(true);
    // Read again from the beginning: 29 invoices (the voided one now last, as a reversal).
    const reread = await exportNow(h);
    expect(reread).toMatchObject({ rejectedCount: 0, reversals: 1, alreadyReversed: 1 });

    const s: BookingSummary = await h.admin.bookings();
    expect(s.reversals).toMatchObject({ total: 1, bookingsReversed: 1, replays: 1 });
    expect(s.deliveriesByExternalId[`${voided.id}@${version}`]).toBe(2);
    expect(s.byReference[voided.number]).toBe(1);
    expect(s.total).toBe(30);
    expect(s.duplicates).toEqual([]);
  });
});
