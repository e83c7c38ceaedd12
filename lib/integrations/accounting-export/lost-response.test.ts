import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { editInvoice, exactlyOnceReport, invoiceVersions } from '../../../test/fixtures/invoices';
import { waitForRun } from '../../../test/fixtures/shipped-integrations';
import { waitFor } from '../../../test/fixtures/wait';
import { runNow } from '../../platform/triggers/triggers';

/**
 * The accounting API books a batch and its answer is lost (the stand-in's injected timeout:
 * processed, never answered). While the export waits for it, an invoice of that batch is edited.
 * The retry of the POST carries the same Idempotency-Key (same content) and is answered from the
 * stand-in's store, not booked again; the edited invoice's new version is a new externalId, booked
 * once by the next run. Counted at the stand-in per externalId and per invoice.
 */

const INVOICES = 40;
let h: ExportTest;

beforeAll(async () => {
  h = await startExportTest({
    seed: 53,
    hostData: { customers: 5, invoices: INVOICES, seed: 53 },
    exportConfig: { settings: { batchSize: 10 }, retryDelays: ['1s', '1s'], breakerFailures: 5, breakerCooldown: '2s' },
  });
}, 120_000);
afterAll(() => h?.close());

describe('a batch booked by the accounting API whose answer is lost', () => {
  it('is answered from the idempotency store on retry; an invoice edited meanwhile is booked in each version once', async () => {
    const [{ n: posted }] = await h.db.$client<{ n: number }[]>`select count(*)::int as n from invoices where status = 'posted'`;
    await h.admin.setFaults('accounting', { timeoutRate: 1 });
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    await waitFor('the first batch to be booked (its answer withheld)', async () => (await h.admin.bookings()).total >= 10, 30_000, 20);
    const [first] = await h.admin.bookedEntries();
    const [{ id: editedId }] = await h.db.$client<{ id: string }[]>`select id from invoices where number = ${first.reference}`;
    await editInvoice(h.db.$client, editedId);
    await h.admin.clearFaults('accounting');

    const run = await waitForRun(h.db, runId, ['succeeded'], 120_000);
    const bookings = await h.admin.bookings();
    console.log(
      `lost response: posted ${posted}, bookings ${bookings.total}, request replays ${bookings.replays}, entry replays ${bookings.entryReplays}; ${run.result?.summary}`,
    );
    // The lost batch's retry was a replay of the same request: same key, same content.
    expect(bookings.replays).toBeGreaterThanOrEqual(1);
    expect(bookings.total).toBe(posted);
    expect(bookings.duplicates).toEqual([]);
    expect(Object.values(bookings.deliveriesByExternalId).every((n) => n === 1)).toBe(true);
    expect(run.result).toMatchObject({ processed: posted, alreadyBooked: 0 });

    const next = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    const nextRun = await waitForRun(h.db, next.runId, ['succeeded'], 60_000);
    expect(nextRun.result).toMatchObject({ processed: 1, alreadyBooked: 0 });
    const report = exactlyOnceReport(await invoiceVersions(h.db.$client), await h.admin.bookedEntries());
    expect(report).toMatchObject({
      posted,
      bookings: posted + 1,
      duplicates: 0,
      extraPerInvoice: 0,
      latestMissing: [],
      withoutExternalId: 0,
      reversioned: 1,
      // The ledger counts each invoice once: the edit replaced the booking of the version before.
      openTwice: [],
      staleOpen: [],
    });
  }, 180_000);
});
