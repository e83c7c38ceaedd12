import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { editInvoice, exactlyOnceReport, invoiceVersions } from '../../../test/fixtures/invoices';
import { waitForRun } from '../../../test/fixtures/shipped-integrations';
import { waitFor } from '../../../test/fixtures/wait';
import { runNow } from '../../platform/triggers/triggers';

/**
 * An invoice edited after the export booked it: the next run books the new version AND the
 * accounting system undoes the booking of the version before (the entry names its invoice in
 * `replaces`), so the ledger counts every invoice once, at its current amounts. Before, the new
 * version was booked beside the first and the ledger counted the invoice twice (exactly once per
 * version, not per invoice). Through a real worker, real PostgreSQL and the stand-in over HTTP,
 * with the accounting API's answers lost while the edits are exported (the retried POSTs are
 * replays that must undo nothing again).
 */

const INVOICES = 30;
let h: ExportTest;
let ordered: { id: string; number: string }[];

async function exportNow() {
  const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
  return waitForRun(h.db, runId, ['succeeded'], 120_000);
}

async function ledger() {
  return exactlyOnceReport(await invoiceVersions(h.db.$client), await h.admin.bookedEntries());
}

beforeAll(async () => {
  h = await startExportTest({
    seed: 97,
    hostData: { customers: 4, invoices: INVOICES, seed: 97 },
    exportConfig: { settings: { batchSize: 7 }, retryDelays: ['1s', '1s', '1s'], breakerFailures: 10, breakerCooldown: '2s' },
  });
  ordered = await h.db.$client<{ id: string; number: string }[]>`select id, number from invoices order by updated_at, id`;
  expect((await exportNow()).result).toMatchObject({ processed: INVOICES, replaced: 0 });
}, 120_000);
afterAll(() => h?.close());

describe('an invoice edited after it was booked', () => {
  it('is booked in its new version and its first booking is undone, once, even when the answers are lost', async () => {
    const edited = ordered.slice(0, 8);
    for (const i of edited) await editInvoice(h.db.$client, i.id);
    // Edited twice between two runs: only the latest version is read, and it undoes the one booked.
    await editInvoice(h.db.$client, edited[2].id);
    // Edited, then voided: the void's reversal undoes the first booking; the edit was never booked.
    await h.db.$client`update invoices set status = 'void', updated_at = now() where id = ${edited[5].id}`;

    // The accounting API books the first batch and its answer is lost: the POST is retried with the
    // same key and content and answered from the stand-in's store.
    await h.admin.setFaults('accounting', { timeoutRate: 1 });
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    await waitFor('the first batch of new versions to be booked', async () => (await h.admin.bookings()).total > INVOICES, 30_000, 20);
    await h.admin.clearFaults('accounting');
    const run = await waitForRun(h.db, runId, ['succeeded'], 120_000);

    const summary = await h.admin.bookings();
    const report = await ledger();
    console.log(
      `edit replaces: ${run.result?.summary}; replacements ${JSON.stringify(summary.replacements)}, request replays ${summary.replays}`,
    );
    expect(summary.replays).toBeGreaterThanOrEqual(1);
    expect(run.result).toMatchObject({ processed: 8, reversals: 1, replaced: 7, alreadyBooked: 0 });
    expect(run.result?.summary).toContain('(7 earlier bookings of edited invoices undone)');
    expect(summary.replacements).toEqual({ total: 7, bookingsReplaced: 7 });
    expect(summary.reversals).toMatchObject({ total: 1, bookingsReversed: 1 });
    expect(summary.openTwice).toEqual([]);
    expect(report).toMatchObject({
      bookings: INVOICES + 7,
      duplicates: 0,
      latestMissing: [],
      openTwice: [],
      staleOpen: [],
      voidedOpen: [],
      reversioned: 7,
    });
    // Each replaced booking names what undid it: the booking of the invoice's new version.
    const entries = await h.admin.bookedEntries();
    const byId = new Map(entries.map((e) => [e.id, e]));
    for (const e of entries.filter((x) => x.replaced.length > 0)) {
      expect(e.replaced.map((id) => byId.get(id)?.reversedBy)).toEqual([e.id]);
      expect(e.replaced.map((id) => byId.get(id)?.reference)).toEqual([e.reference]);
    }

    // Nothing changed since: the next run sends nothing and undoes nothing.
    expect((await exportNow()).result).toMatchObject({ processed: 0, replaced: 0 });
    expect((await h.admin.bookings()).replacements).toEqual({ total: 7, bookingsReplaced: 7 });
  }, 180_000);

  it('a new version the accounting API refuses leaves the booking before it open until a bookable version follows', async () => {
    const invoice = ordered[20];
    // Gross no longer net + tax: the API refuses the entry, and a refused entry undoes nothing.
    await h.db.$client`update invoices set gross_total = gross_total + 5, updated_at = now() where id = ${invoice.id}`;
    const refused = await exportNow();
    expect(refused.result).toMatchObject({ processed: 0, rejectedCount: 1, replaced: 0 });
    expect((await ledger()).staleOpen).toEqual([invoice.number]);
    expect((await ledger()).openTwice).toEqual([]);

    await h.db.$client`update invoices set gross_total = net_total + tax_total, updated_at = now() where id = ${invoice.id}`;
    const fixed = await exportNow();
    expect(fixed.result).toMatchObject({ processed: 1, replaced: 1 });
    expect(await ledger()).toMatchObject({ openTwice: [], staleOpen: [], latestMissing: [] });
  }, 120_000);
});
