import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts } from '../../../db/schema';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { editInvoice, exactlyOnceReport, invoiceVersions } from '../../../test/fixtures/invoices';
import { waitForRun } from '../../../test/fixtures/shipped-integrations';
import { waitFor } from '../../../test/fixtures/wait';
import { runNow } from '../../platform/triggers/triggers';

/**
 * Issue 13, reproduction 1 (kill): a run over 1 000 new invoices, batches of 50, the accounting
 * stand-in at 400 ms; at 400 booked the worker process executing the attempt is killed with
 * SIGKILL, one invoice that was already booked is edited (`updated_at = now()`), and another worker
 * process takes the run over. Before the fix every later batch boundary shifted by one and got a
 * new content-derived key: ~500 invoices were booked twice. Now the retried attempt resumes from
 * the run's checkpoint, every entry carries `<invoice id>@<version>` which the API books at most
 * once, and the edited invoice's new version goes to the next run.
 */

const INVOICES = 1_000;
let h: ExportTest;

beforeAll(async () => {
  h = await startExportTest({
    seed: 13,
    hostData: { customers: 25, invoices: INVOICES, seed: 13 },
    exportConfig: { settings: { batchSize: 50 }, retryDelays: ['1s', '2s', '2s'], breakerFailures: 3, breakerCooldown: '2s' },
    worker: 'processes',
  });
}, 120_000);
afterAll(() => h?.close());

describe('an invoice edited between attempts after a worker is killed', () => {
  it("books every version at most once and the edited invoice's latest version in the next run", async () => {
    await h.admin.setFaults('accounting', { latencyMs: 400 });
    const first = await h.spawnWorker('first');
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });

    await waitFor('400 invoices to be booked', async () => (await h.admin.bookings()).total >= 400, 120_000);
    await first.kill();
    const bookedAtKill = await h.admin.bookedEntries();
    expect(bookedAtKill.length).toBeLessThan(INVOICES);
    // An invoice booked before the kill is edited by the host application.
    const edited = bookedAtKill[Math.floor(bookedAtKill.length / 3)];
    const [{ id: editedId }] = await h.db.$client<{ id: string }[]>`select id from invoices where number = ${edited.reference}`;
    await editInvoice(h.db.$client, editedId);

    await h.spawnWorker('second');
    const run = await waitForRun(h.db, runId, ['succeeded'], 180_000);
    const rows = await h.db.select().from(attempts).where(eq(attempts.runId, runId)).orderBy(asc(attempts.startedAt));
    const used = rows.filter((a) => a.outcome !== 'deferred');

    const afterRun = await h.admin.bookings();
    // The run books each of the 1 000 once: the edited invoice only in the version it had when booked.
    expect(afterRun.duplicates).toEqual([]);
    expect(afterRun.total).toBe(INVOICES);
    // The kill is the infrastructure's failure, not the handler's: the attempt is recorded as
    // interrupted and the next one runs under the same number (issue 14).
    expect(used[0]).toMatchObject({ number: 1, outcome: 'interrupted', errorClass: 'WorkerLost' });
    expect(used[1]).toMatchObject({ number: 1 });
    // The retried attempt resumed from the run's checkpoint instead of from the start.
    const resumed = used.at(-1)!;
    expect(resumed).toMatchObject({ outcome: 'succeeded', resumedFrom: { updatedAt: expect.any(String), id: expect.any(String) } });

    // The next run books the edited invoice's new version, and nothing else.
    const next = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    const nextRun = await waitForRun(h.db, next.runId, ['succeeded'], 120_000);
    expect(nextRun.result).toMatchObject({ processed: 1 });

    const report = exactlyOnceReport(await invoiceVersions(h.db.$client), await h.admin.bookedEntries());
    console.log(
      `edit after kill: invoices ${INVOICES}, booked at the kill ${bookedAtKill.length}, attempts ${used.map((a) => `${a.number}:${a.outcome}${a.errorClass ? `(${a.errorClass})` : ''}`).join(' ')}, ` +
        `resumed from ${JSON.stringify(resumed.resumedFrom)}, bookings ${report.bookings} (after the run ${afterRun.total}), duplicate versions ${report.duplicates}, ` +
        `extra per invoice ${report.extraPerInvoice}, latest version missing ${report.latestMissing.length}, entry replays ${afterRun.entryReplays}, run result ${JSON.stringify({ processed: (run.result as { processed: number }).processed })}`,
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
  }, 400_000);
});
