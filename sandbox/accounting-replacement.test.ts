import { describe, expect, it } from 'vitest';
import { accountingStandIn, journalEntry } from './test-entries';

/**
 * The accounting stand-in's replacements: a journal entry naming `replaces: <record>` (a new
 * version of an edited invoice) undoes that record's open bookings in the step it is booked, so the
 * ledger holds one open booking per record; over real HTTP, as the export sends them.
 */

const { post, summary, entries } = accountingStandIn();

function version(record: string, v: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return journalEntry(`INV-${record}`, { externalId: `${record}@${v}`, replaces: record, ...overrides });
}

describe('accounting API replacements', () => {
  it('books a new version and undoes the earlier one in the same step: one booking open per record', async () => {
    const first = await post([version('a', '1'), version('b', '1')]);
    expect(first.body.booked.map((b) => b.replaced)).toEqual([undefined, undefined]);
    const second = await post([version('a', '2')]);
    expect(second.status).toBe(201);
    expect(second.body.booked).toEqual([{ reference: 'INV-a', id: 'JE-0000003', externalId: 'a@2', replaced: ['JE-0000001'] }]);
    expect(await entries()).toMatchObject([
      { id: 'JE-0000001', externalId: 'a@1', reversedBy: 'JE-0000003', replaced: [] },
      { id: 'JE-0000002', externalId: 'b@1', reversedBy: null, replaced: [] },
      { id: 'JE-0000003', externalId: 'a@2', reversedBy: null, replaced: ['JE-0000001'] },
    ]);
    const s = await summary();
    expect(s.replacements).toEqual({ total: 1, bookingsReplaced: 1 });
    expect(s.openTwice).toEqual([]);
    expect(s.reversals.total).toBe(0);
  });

  it('without replaces both versions stay open, and the summary names the record', async () => {
    await post([journalEntry('INV-a', { externalId: 'a@1' })]);
    await post([journalEntry('INV-a', { externalId: 'a@2' })]);
    expect((await summary()).openTwice).toEqual([{ record: 'a', bookings: ['JE-0000001', 'JE-0000002'] }]);
  });

  it('a replayed new version (another batch, another key) undoes nothing again and books nothing', async () => {
    await post([version('a', '1')]);
    await post([version('a', '2')], 'k1');
    const replay = await post([version('b', '1'), version('a', '2')], 'k2');
    expect(replay.body.booked[1]).toEqual({ reference: 'INV-a', id: 'JE-0000002', externalId: 'a@2', replay: true });
    expect((await entries()).map((e) => [e.id, e.reversedBy])).toEqual([
      ['JE-0000001', 'JE-0000002'],
      ['JE-0000002', null],
      ['JE-0000003', null],
    ]);
    expect((await summary()).replacements).toEqual({ total: 1, bookingsReplaced: 1 });
  });

  it('a new version the ledger refuses changes nothing: the earlier booking stays open', async () => {
    await post([version('a', '1')]);
    const refused = await post([version('a', '2', { grossAmount: '1.00' }), version('b', '1')]);
    expect(refused.status).toBe(201);
    expect(refused.body.rejected).toMatchObject([{ index: 0, reference: 'INV-a', errors: [{ field: 'grossAmount' }] }]);
    expect((await entries()).map((e) => [e.externalId, e.reversedBy])).toEqual([
      ['a@1', null],
      ['b@1', null],
    ]);
  });

  it('a void after an edit undoes only the booking still open', async () => {
    await post([version('a', '1')]);
    await post([version('a', '2')]);
    const voided = await post([{ reverses: 'a', externalId: 'a@3', date: '2026-11-20' }]);
    expect(voided.body.reversed[0].reversedBookings).toEqual(['JE-0000002']);
    expect((await summary()).openTwice).toEqual([]);
  });

  it('refuses replaces without an externalId, or naming another record, with the field and the reason', async () => {
    const res = await post([
      journalEntry('INV-x', { replaces: 'x' }),
      journalEntry('INV-y', { externalId: 'y@1', replaces: 'z' }),
      journalEntry('INV-w', { externalId: 'w@1', replaces: 7 }),
    ]);
    expect(res.status).toBe(422);
    expect(res.body.rejected.map((r) => r.errors)).toEqual([
      [{ field: 'replaces', message: expect.stringContaining('needs an externalId') }],
      [{ field: 'replaces', message: expect.stringContaining('must be the record part of externalId ("y")') }],
      [{ field: 'replaces', message: 'replaces must be text' }],
    ]);
    expect(await entries()).toEqual([]);
  });
});
