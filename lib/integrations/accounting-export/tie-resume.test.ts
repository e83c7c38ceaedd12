import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts } from '../../../db/schema';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { editInvoice, exactlyOnceReport, invoiceVersions } from '../../../test/fixtures/invoices';
import { waitForRun } from '../../../test/fixtures/shipped-integrations';
import { waitFor } from '../../../test/fixtures/wait';
import { runNow } from '../../platform/triggers/triggers';

/**
 * Invoices posted in bulk by one transaction share one updated_at (now() is the transaction's
 * start). A run pages through that group by id (keyset on updated_at, id), the accounting API goes
 * down with the checkpoint inside the group, one invoice of the group already booked and one not
 * yet booked are edited, the API comes back: the retried attempt resumes inside the group. Counted
 * at the stand-in: every invoice of the group booked, none twice, the unbooked edited one only in
 * its latest version, and the booked edited one's new version by the next run.
 */

const INVOICES = 150;
let h: ExportTest;

beforeAll(async () => {
  h = await startExportTest({
    seed: 47,
    hostData: { customers: 10, invoices: INVOICES, seed: 47 },
    // The bulk posting: every posted invoice in one statement, one updated_at.
    prepare: async ({ db }) => void (await db.$client`update invoices set updated_at = now() where status = 'posted'`),
    exportConfig: { settings: { batchSize: 20 }, retryDelays: ['1s', '1s', '2s'], breakerFailures: 3, breakerCooldown: '2s' },
  });
}, 120_000);
afterAll(() => h?.close());

describe('a run resumed inside a group of invoices sharing one updated_at', () => {
  it('books every invoice of the group once, the edited ones in their latest version', async () => {
    const [{ n: distinct }] = await h.db.$client<
      { n: number }[]
    >`select count(distinct updated_at)::int as n from invoices where status = 'posted'`;
    expect(distinct).toBe(1);
    await h.admin.setFaults('accounting', { latencyMs: 150 });
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    await waitFor('about 60 invoices to be booked', async () => (await h.admin.bookings()).total >= 60, 60_000, 20);
    await h.admin.setFaults('accounting', { down: true });
    await waitFor(
      'the attempt to fail on the outage',
      async () => (await h.db.select().from(attempts).where(eq(attempts.runId, runId))).some((a) => a.outcome === 'failed'),
      60_000,
    );
    const bookedAtOutage = await h.admin.bookedEntries();
    const bookedRefs = new Set(bookedAtOutage.map((b) => b.reference));
    const posted = await h.db.$client<{ id: string; number: string }[]>`
      select id, number from invoices where status = 'posted' order by updated_at, id`;
    const bookedOne = posted.find((p) => bookedRefs.has(p.number))!;
    const unbooked = posted.filter((p) => !bookedRefs.has(p.number));
    const unbookedOne = unbooked[Math.floor(unbooked.length / 2)];
    await editInvoice(h.db.$client, bookedOne.id);
    await editInvoice(h.db.$client, unbookedOne.id);
    await h.admin.clearFaults('accounting');

    const run = await waitForRun(h.db, runId, ['succeeded'], 120_000);
    const inRun = exactlyOnceReport(await invoiceVersions(h.db.$client), await h.admin.bookedEntries());
    console.log(
      `tie resume: group of ${posted.length}, booked at the outage ${bookedAtOutage.length}, resumed inside the group; after the run: bookings ${inRun.bookings}, duplicates ${inRun.duplicates}, latest missing ${inRun.latestMissing.length}; ${run.result?.summary}`,
    );
    // The retried attempt started from a checkpoint inside the group (its updated_at, an id in it).
    const used = await h.db.select().from(attempts).where(eq(attempts.runId, runId));
    const resumed = used.find((a) => a.outcome === 'succeeded')?.resumedFrom as { id: string } | null;
    expect(posted.slice(1, -1).some((p) => p.id === resumed?.id)).toBe(true);
    expect(inRun.duplicates).toBe(0);
    // Both edited invoices left the run's range; every other one of the group is booked.
    expect(inRun.latestMissing.sort()).toEqual([bookedOne.number, unbookedOne.number].sort());
    expect(inRun.bookings).toBe(posted.length - 1);

    const next = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    await waitForRun(h.db, next.runId, ['succeeded'], 60_000);
    const report = exactlyOnceReport(await invoiceVersions(h.db.$client), await h.admin.bookedEntries());
    expect(report).toMatchObject({
      posted: posted.length,
      bookings: posted.length + 1,
      duplicates: 0,
      extraPerInvoice: 0,
      latestMissing: [],
      withoutExternalId: 0,
      reversioned: 1,
      // The ledger counts each invoice once: the edit replaced the booking of the version before.
      openTwice: [],
      staleOpen: [],
    });
  }, 240_000);
});
