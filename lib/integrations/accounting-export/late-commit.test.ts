import { asc, eq, inArray } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptLogs, attempts, customers } from '../../../db/schema';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { editInvoice, exactlyOnceReport, insertPostedInvoice, invoiceVersions } from '../../../test/fixtures/invoices';
import { waitForRun } from '../../../test/fixtures/shipped-integrations';
import { runNow } from '../../platform/triggers/triggers';

/**
 * Issue 13, reproduction 2: an invoice inserted with `updated_at = now()` in a host transaction
 * that stays open while a run starts and finishes, committed afterwards. Before the fix the run
 * moved its watermark past the invoice's timestamp (other invoices changed later were booked) and
 * the next run never saw it. Now the run reads only below the start of the oldest open transaction
 * (ctx.captureBound), says so in its log, and the next run books the late invoice and the rest.
 */

let h: ExportTest;
let host: postgres.Sql;
let customerId: string;

beforeAll(async () => {
  h = await startExportTest({
    seed: 77,
    prepare: async ({ db }) => {
      [{ id: customerId }] = await db
        .insert(customers)
        .values({ name: 'Late Commit GmbH', country: 'DE', currency: 'EUR' })
        .returning({ id: customers.id });
      for (let i = 1; i <= 20; i++) await insertPostedInvoice(db.$client, { number: `INV-LC-${String(i).padStart(3, '0')}`, customerId });
    },
  });
  host = postgres(h.t.url, { max: 1, onnotice: () => {}, connection: { application_name: 'host-app-checkout' } });
}, 120_000);
afterAll(async () => {
  await host?.end();
  await h?.close();
});

describe('an invoice whose transaction commits after a run', () => {
  it('is booked by the next run; nothing committed meanwhile is lost or booked twice', async () => {
    const first = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    expect((await waitForRun(h.db, first.runId, ['succeeded'])).result).toMatchObject({ processed: 20 });

    // The host application opens a transaction and inserts an invoice; it stays open.
    let commit!: () => void;
    const committed = new Promise<void>((r) => (commit = r));
    let inserted!: (id: string) => void;
    const lateId = new Promise<string>((r) => (inserted = r));
    const transaction = host.begin(async (sql) => {
      inserted(await insertPostedInvoice(sql, { number: 'INV-LC-LATE', customerId }));
      await committed;
    });
    const late = await lateId;
    // Meanwhile other changes commit: a new invoice and an edit, both later than the open transaction's start.
    await insertPostedInvoice(h.db.$client, { number: 'INV-LC-021', customerId });
    const [{ id: editedId }] = await h.db.$client<{ id: string }[]>`select id from invoices where number = 'INV-LC-005'`;
    await editInvoice(h.db.$client, editedId);

    const during = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    const duringRun = await waitForRun(h.db, during.runId, ['succeeded']);
    const duringAttempts = await h.db.select({ id: attempts.id }).from(attempts).where(eq(attempts.runId, during.runId));
    const logs = await h.db
      .select()
      .from(attemptLogs)
      .where(
        inArray(
          attemptLogs.attemptId,
          duringAttempts.map((a) => a.id),
        ),
      )
      .orderBy(asc(attemptLogs.id));
    const heldBack = logs.find((l) => l.message.startsWith('change capture held back to'));

    commit();
    await transaction;
    const after = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    const afterRun = await waitForRun(h.db, after.runId, ['succeeded']);

    const entries = await h.admin.bookedEntries();
    const report = exactlyOnceReport(await invoiceVersions(h.db.$client), entries);
    console.log(
      `late commit: run during the open transaction booked ${(duringRun.result as { processed: number }).processed}, the next run ${(afterRun.result as { processed: number }).processed}; ` +
        `late invoice booked ${entries.filter((e) => e.reference === 'INV-LC-LATE').length}, bookings ${report.bookings}, duplicate versions ${report.duplicates}, latest version missing ${report.latestMissing.length}; ` +
        `log: ${heldBack?.message ?? 'no hold-back line'}`,
    );
    expect(entries.filter((e) => e.reference === 'INV-LC-LATE').map((e) => e.externalId?.split('@')[0])).toEqual([late]);
    expect(report).toMatchObject({
      posted: 22,
      bookings: 23,
      duplicates: 0,
      extraPerInvoice: 0,
      latestMissing: [],
      withoutExternalId: 0,
      reversioned: 1,
      // The ledger counts each invoice once: the edit replaced the booking of the version before.
      openTwice: [],
      staleOpen: [],
    });
    // The run during the open transaction stopped below it and said why; the next run booked the rest.
    expect(duringRun.result).toMatchObject({ processed: 0 });
    expect(heldBack?.message).toMatch(/by an open transaction \(pid \d+, host-app-checkout, idle in transaction, started /);
    expect(afterRun.result).toMatchObject({ processed: 3 });
  }, 120_000);
});
