import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportTest } from '../../../test/fixtures/export-test';
import { exportNow, LOWERCASE, NO_LINES, saveFixedMapping, startRefusedInvoices } from '../../../test/fixtures/refused-invoices';
import { cursorOf, waitForRun } from '../../../test/fixtures/shipped-integrations';
import type { PlannedRequest } from '../../platform/resilience/dry-run';
import { runNow } from '../../platform/triggers/triggers';

/**
 * A dry-run after a real run, between an admin's mapping fix and the next real run: it plans the
 * invoices the old mapping refused (reading again from where the first was refused), books
 * nothing, sends nothing to the accounting API and leaves the cursor as it was, its note of the
 * refusals (rejectedSince) included, so the real run after it still books them, each once.
 * Same data as mapping-fix.test.ts (test/fixtures/refused-invoices.ts): 30 invoices, #6 without
 * lines, #14 with a lowercase currency.
 */

let h: ExportTest;
let ordered: { id: string; number: string }[];

beforeAll(async () => void ({ h, ordered } = await startRefusedInvoices()));
afterAll(() => h?.close());

describe('a dry-run after a real run and a mapping fix', () => {
  it('books nothing, keeps the cursor and its note of the refusals; the real run after it books the refused invoices once', async () => {
    const first = await exportNow(h);
    expect(first.rejectedCount).toBe(2);
    expect((await h.admin.bookings()).total).toBe(28);
    expect(await saveFixedMapping(h)).toBe(true);

    const cursorBefore = await cursorOf(h.db, 'accounting-export');
    // #6 was refused in the first batch: read again from the beginning.
    expect(cursorBefore).toMatchObject({ rejectedSince: { after: null, mapping: expect.stringMatching(/^[0-9a-f]{16}$/) } });
    const requestsBefore = (await h.admin.requests()).accounting.total;
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', dryRun: true, triggeredBy: 'ada@example.com' });
    const dry = await waitForRun(h.db, runId, ['succeeded']);
    const planned = (dry.plan as PlannedRequest[]).flatMap((p) =>
      (p.body as { entries: { reference: string }[] }).entries.map((e) => e.reference),
    );
    console.log(`dry-run after a mapping fix: planned ${planned.length} entries; ${dry.result?.summary}`);
    // Read again from the first refusal, under the fixed mapping: both refused invoices are planned.
    expect(planned).toContain(ordered[NO_LINES].number);
    expect(planned).toContain(ordered[LOWERCASE].number);
    expect(new Set(planned).size).toBe(30);
    expect(planned).toHaveLength(30);
    expect((await h.admin.bookings()).total).toBe(28);
    expect((await h.admin.requests()).accounting.total).toBe(requestsBefore);
    expect(await cursorOf(h.db, 'accounting-export')).toEqual(cursorBefore);

    const after = await exportNow(h);
    const bookings = await h.admin.bookings();
    expect(after.rejected).toEqual([]);
    expect(bookings.total).toBe(30);
    expect(Object.values(bookings.byReference).every((n) => n === 1)).toBe(true);
    expect(bookings.duplicates).toEqual([]);
  });
});
