import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts } from '../../../db/schema';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { editInvoice, exactlyOnceReport, invoiceVersions } from '../../../test/fixtures/invoices';
import { waitForRun } from '../../../test/fixtures/shipped-integrations';
import { waitFor } from '../../../test/fixtures/wait';
import { runNow } from '../../platform/triggers/triggers';

/**
 * Issue 13, reproduction 1 (outage, no kill): a run over 1 000 invoices, batches of 50; at about
 * 400 booked the accounting API goes down (503), an already booked invoice is edited, the API
 * comes back. The attempt fails, the breaker opens and defers the run, and the retried attempt
 * resumes from the run's checkpoint; with per-version externalIds nothing is booked twice (before
 * the fix: ~500 duplicates, the same cause as after a kill).
 */

const INVOICES = 1_000;
let h: ExportTest;

beforeAll(async () => {
  h = await startExportTest({
    seed: 31,
    hostData: { customers: 25, invoices: INVOICES, seed: 31 },
    exportConfig: { settings: { batchSize: 50 }, retryDelays: ['1s', '1s', '2s'], breakerFailures: 3, breakerCooldown: '2s' },
  });
}, 120_000);
afterAll(() => h?.close());

describe('an invoice edited during an outage of the accounting API', () => {
  it('books every version at most once; the retried attempt resumes from the checkpoint', async () => {
    await h.admin.setFaults('accounting', { latencyMs: 100 });
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    await waitFor('about 400 invoices to be booked', async () => (await h.admin.bookings()).total >= 400, 120_000);
    await h.admin.setFaults('accounting', { down: true });
    await waitFor(
      'the attempt to fail on the outage',
      async () => {
        const rows = await h.db.select().from(attempts).where(eq(attempts.runId, runId));
        return rows.some((a) => a.outcome === 'failed');
      },
      60_000,
    );
    const bookedAtOutage = await h.admin.bookedEntries();
    const edited = bookedAtOutage[Math.floor(bookedAtOutage.length / 2)];
    const [{ id: editedId }] = await h.db.$client<{ id: string }[]>`select id from invoices where number = ${edited.reference}`;
    await editInvoice(h.db.$client, editedId);
    await h.admin.clearFaults('accounting');

    const run = await waitForRun(h.db, runId, ['succeeded'], 120_000);
    const afterRun = await h.admin.bookings();
    expect(afterRun.duplicates).toEqual([]);
    expect(afterRun.total).toBe(INVOICES);
    const rows = await h.db.select().from(attempts).where(eq(attempts.runId, runId)).orderBy(asc(attempts.startedAt));
    const used = rows.filter((a) => a.outcome !== 'deferred');
    expect(used[0]).toMatchObject({ number: 1, outcome: 'failed' });
    expect(used.at(-1)).toMatchObject({ outcome: 'succeeded', resumedFrom: { updatedAt: expect.any(String), id: expect.any(String) } });

    // The run's result and progress cover every attempt: what the stand-in booked for this run,
    // not only what the last attempt added after the checkpoint.
    const booked = bookedAtOutage.length;
    expect(run.result).toMatchObject({
      processed: INVOICES,
      batches: INVOICES / 50,
      alreadyBooked: 0,
      summary: `Booked ${INVOICES} journal entries in ${INVOICES / 50} batches (${booked} of them in earlier attempts of this run); 0 rejected`,
      earlierAttempts: { booked, done: booked, batches: booked / 50, alreadyBooked: 0, rejectedCount: 0 },
    });
    expect(run).toMatchObject({ progressDone: INVOICES, progressTotal: INVOICES });

    // A new run starts from zero: the previous run's counts ride in the cursor and are ignored.
    const next = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    const nextRun = await waitForRun(h.db, next.runId, ['succeeded'], 60_000);
    expect(nextRun.result).toMatchObject({
      processed: 1,
      batches: 1,
      // The edited invoice's new version replaced the booking of the version before.
      summary: 'Booked 1 journal entries in 1 batches (1 earlier booking of an edited invoice undone); 0 rejected',
      replaced: 1,
      earlierAttempts: null,
    });
    expect(nextRun).toMatchObject({ progressDone: 1, progressTotal: 1 });
    const report = exactlyOnceReport(await invoiceVersions(h.db.$client), await h.admin.bookedEntries());
    console.log(
      `edit during outage: invoices ${INVOICES}, booked at the outage ${bookedAtOutage.length}, attempts ${used.map((a) => `${a.number}:${a.outcome}`).join(' ')}, ` +
        `deferrals ${rows.length - used.length}, resumed from ${JSON.stringify(used.at(-1)!.resumedFrom)}, bookings ${report.bookings}, duplicate versions ${report.duplicates}, ` +
        `extra per invoice ${report.extraPerInvoice}, latest version missing ${report.latestMissing.length}`,
    );
    expect(report).toMatchObject({
      posted: INVOICES,
      bookings: INVOICES + 1,
      duplicates: 0,
      extraPerInvoice: 0,
      latestMissing: [],
      withoutExternalId: 0,
      reversioned: 1,
      // The ledger counts each invoice once: the edit replaced the booking of the version before.
      openTwice: [],
      staleOpen: [],
    });
  }, 300_000);
});
