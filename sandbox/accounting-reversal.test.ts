import { describe, expect, it } from 'vitest';
import { ZReversalEntry } from './accounting-api';
import { accountingStandIn, journalEntry } from './test-entries';

/**
 * The accounting stand-in's reversals: an entry with `reverses: <record>` reverses every booking of
 * that record (externalId `<record>@<version>`) not reversed yet, at most once per reversal
 * externalId; over real HTTP, as the export sends them.
 */

const accounting = accountingStandIn();
const { post, summary } = accounting;

function booking(record: string, version: string, reference = `INV-${record}`): Record<string, unknown> {
  return journalEntry(reference, { externalId: `${record}@${version}` });
}

function reversal(record: string, version: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { reverses: record, externalId: `${record}@${version}`, date: '2026-11-20', description: `Void of ${record}`, ...overrides };
}

describe('accounting API reversals', () => {
  it('reverses every booking of the record not reversed yet, once: sent again in another batch it is a replay', async () => {
    await post([booking('a', '1'), booking('a', '2'), booking('b', '1')]);
    const first = await post([reversal('a', '3')]);
    expect(first.status).toBe(201);
    expect(first.body.booked).toEqual([]);
    expect(first.body.reversed).toEqual([
      { reference: 'INV-a', id: 'RV-0000001', externalId: 'a@3', reverses: 'a', reversedBookings: ['JE-0000001', 'JE-0000002'] },
    ]);
    const again = await post([booking('c', '1'), reversal('a', '3')]);
    expect(again.body.reversed).toEqual([
      {
        reference: 'INV-a',
        id: 'RV-0000001',
        externalId: 'a@3',
        reverses: 'a',
        reversedBookings: ['JE-0000001', 'JE-0000002'],
        replay: true,
      },
    ]);
    const s = await summary();
    expect(s.reversals).toEqual({
      total: 1,
      bookingsReversed: 2,
      nothingToReverse: 0,
      replays: 1,
      byRecord: { a: 1 },
      byExternalId: { 'a@3': ['JE-0000001', 'JE-0000002'] },
    });
    expect(s.deliveriesByExternalId['a@3']).toBe(2);
    expect(s.total).toBe(3 + 1);
    expect(accounting.sandbox.state.ledger.bookings.filter((b) => b.reversedBy !== null).map((b) => b.externalId)).toEqual(['a@1', 'a@2']);
  });

  it('a later reversal of the same record reverses only what was booked since (a record voided, reposted, voided again)', async () => {
    await post([booking('a', '1')]);
    await post([reversal('a', '2')]);
    await post([booking('a', '3')]);
    const second = await post([reversal('a', '4')]);
    expect(second.body.reversed[0]).toMatchObject({ id: 'RV-0000002', reversedBookings: ['JE-0000002'] });
    expect((await summary()).reversals).toMatchObject({ total: 2, bookingsReversed: 2, byRecord: { a: 2 } });
  });

  it('records a reversal of a record with no booking as nothing to reverse, and books nothing', async () => {
    const res = await post([reversal('never-booked', '5')]);
    expect(res.status).toBe(201);
    expect(res.body.reversed).toEqual([
      { reference: null, id: 'RV-0000001', externalId: 'never-booked@5', reverses: 'never-booked', reversedBookings: [] },
    ]);
    const s = await summary();
    expect(s.total).toBe(0);
    expect(s.reversals).toMatchObject({ total: 1, bookingsReversed: 0, nothingToReverse: 1 });
  });

  it('refuses a malformed reversal by field, books what else the batch holds, and answers 422 when nothing is valid', async () => {
    const mixed = await post([booking('a', '1'), reversal('a', '2', { date: '2026-02-30', extra: 1 }), reversal('b@1', '2')]);
    expect(mixed.status).toBe(201);
    expect(mixed.body.booked.map((b) => b.externalId)).toEqual(['a@1']);
    expect(mixed.body.rejected.map((r) => [r.index, r.errors.map((e) => e.field).sort()])).toEqual([
      [1, ['date', 'extra']],
      [2, ['reverses']],
    ]);
    const none = await post([reversal('a', '2', { externalId: undefined })]);
    expect(none.status).toBe(422);
    expect(none.body.rejected[0].errors).toEqual([{ field: 'externalId', message: 'externalId is required' }]);
    expect((await summary()).reversals.total).toBe(0);
    expect(accounting.sandbox.state.ledger.bookings[0].reversedBy).toBeNull();
  });

  it('ZReversalEntry takes reverses, externalId, date and an optional description, nothing else', () => {
    expect(ZReversalEntry.safeParse(reversal('a', '1')).success).toBe(true);
    expect(ZReversalEntry.safeParse(reversal('a', '1', { description: undefined })).success).toBe(true);
    const refused = ZReversalEntry.safeParse(reversal('a', '1', { grossAmount: '1.00', reverses: '' }));
    expect(refused.error!.issues.map((i) => i.path.join('.') || (i as { keys?: string[] }).keys?.join()).sort()).toEqual([
      'grossAmount',
      'reverses',
    ]);
  });
});
