import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { editInvoice, exactlyOnceReport, insertPostedInvoice, invoiceVersions } from '../../../test/fixtures/invoices';
import { waitForRun } from '../../../test/fixtures/shipped-integrations';
import type { PlannedRequest } from '../../platform/resilience/dry-run';
import { runNow } from '../../platform/triggers/triggers';

/**
 * An invoice deleted in the host after the export booked it: a deleted row leaves nothing for a
 * reader of `invoices`, so before, its booking stayed in the ledger for ever. The host's trigger
 * records the deletion of a posted invoice (`invoice_deletions`, at the deleting transaction's
 * `now()`) and the export reads those in the same order as the invoices, sending each a reversal.
 * Through a real worker, real PostgreSQL and the stand-in over HTTP; a deletion held open in a
 * transaction while a run passes is reversed by the next run.
 */

let h: ExportTest;
let host: postgres.Sql;
let ordered: { id: string; number: string }[];
let customerId: string;

async function exportNow(options: { dryRun?: boolean } = {}) {
  const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com', ...options });
  return waitForRun(h.db, runId, ['succeeded'], 120_000);
}

/** Bookings of an invoice (any version) still open in the ledger. */
async function openBookingsOf(id: string): Promise<string[]> {
  return (await h.admin.bookedEntries()).filter((e) => e.externalId?.startsWith(`${id}@`) && !e.reversedBy).map((e) => e.externalId!);
}

beforeAll(async () => {
  h = await startExportTest({
    seed: 83,
    hostData: { customers: 4, invoices: 20, seed: 83 },
    exportConfig: { settings: { batchSize: 5 }, retryDelays: ['1s', '1s', '1s'], breakerFailures: 10, breakerCooldown: '2s' },
  });
  host = postgres(h.t.url, { max: 1, onnotice: () => {}, connection: { application_name: 'host-app-cleanup' } });
  ordered = await h.db.$client<{ id: string; number: string }[]>`select id, number from invoices order by updated_at, id`;
  [{ id: customerId }] = await h.db.$client<{ id: string }[]>`select id from customers limit 1`;
  expect((await exportNow()).result).toMatchObject({ processed: 20 });
}, 120_000);
afterAll(async () => {
  await host?.end();
  await h?.close();
});

describe('an invoice deleted in the host', () => {
  it('after it was booked: the next run reverses its booking once; a draft deleted sends nothing', async () => {
    const deleted = ordered[3];
    // Edited (booked in its new version, replacing the first), then deleted: every booking undone.
    const editedThenDeleted = ordered[8];
    await editInvoice(h.db.$client, editedThenDeleted.id);
    expect((await exportNow()).result).toMatchObject({ processed: 1, replaced: 1 });
    // Posted and deleted before any run read it: a reversal with nothing to undo.
    const unread = await insertPostedInvoice(h.db.$client, { number: 'INV-DEL-UNREAD', customerId });
    const [{ id: draft }] = await h.db.$client<{ id: string }[]>`
      insert into invoices (number, customer_id, currency, status, issued_on, due_on, net_total, tax_total, gross_total)
      values ('DRAFT-DEL', ${customerId}, 'EUR', 'draft', '2026-11-30', '2026-12-30', 10, 0, 10) returning id`;
    await h.db.$client`delete from invoices where id in ${h.db.$client([deleted.id, editedThenDeleted.id, unread, draft])}`;
    const tombstones = await h.db.$client<{ invoice_id: string }[]>`select invoice_id from invoice_deletions order by number`;
    expect(tombstones.map((t) => t.invoice_id).sort()).toEqual([deleted.id, editedThenDeleted.id, unread].sort());

    const run = await exportNow();
    const s = await h.admin.bookings();
    console.log(`deleted invoices: ${run.result?.summary}`);
    expect(run.result).toMatchObject({ processed: 3, reversals: 3, deleted: 3, alreadyReversed: 0 });
    expect(run.result?.summary).toContain('reversed 3 voided or deleted invoices (3 of them deleted in the host)');
    expect(s.reversals).toMatchObject({ total: 3, bookingsReversed: 2, nothingToReverse: 1 });
    expect(s.reversals.byRecord).toEqual({ [deleted.id]: 1, [editedThenDeleted.id]: 1, [unread]: 1 });
    expect(await openBookingsOf(deleted.id)).toEqual([]);
    expect(await openBookingsOf(editedThenDeleted.id)).toEqual([]);
    const reversal = (await h.admin.bookedEntries()).find((e) => e.reference === deleted.number)!;
    expect(reversal.reversedBy).toMatch(/^RV-/);
    // The invoices still there: one booking open each, their current version.
    expect(exactlyOnceReport(await invoiceVersions(h.db.$client), await h.admin.bookedEntries())).toMatchObject({
      openTwice: [],
      staleOpen: [],
      latestMissing: [],
    });

    // Nothing changed since: nothing sent.
    expect((await exportNow()).result).toMatchObject({ processed: 0, reversals: 0 });
    expect((await h.admin.bookings()).reversals.total).toBe(3);
  });

  it('in a dry-run: the reversal is planned as a deletion, not sent; the real run sends it', async () => {
    const deleted = ordered[12];
    await h.db.$client`delete from invoices where id = ${deleted.id}`;
    const dry = await exportNow({ dryRun: true });
    const planned = (dry.plan as PlannedRequest[]).flatMap((p) => (p.body as { entries: Record<string, unknown>[] }).entries);
    expect(planned).toEqual([
      {
        reverses: deleted.id,
        externalId: expect.stringMatching(new RegExp(`^${deleted.id}@\\d+$`)),
        date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
        description: `Deletion of invoice ${deleted.number}`,
      },
    ]);
    expect(dry.result?.summary).toContain('1 of them reversals of voided or deleted invoices, 1 deleted');
    expect(await openBookingsOf(deleted.id)).toHaveLength(1);
    expect((await exportNow()).result).toMatchObject({ processed: 1, reversals: 1, deleted: 1 });
    expect(await openBookingsOf(deleted.id)).toEqual([]);
  });

  it('in a transaction that commits after a run: the run does not pass it, the next one reverses it', async () => {
    const deleted = ordered[15];
    let commit!: () => void;
    const committed = new Promise<void>((r) => (commit = r));
    let done!: () => void;
    const deletedInTx = new Promise<void>((r) => (done = r));
    const transaction = host.begin(async (sql) => {
      await sql`delete from invoices where id = ${deleted.id}`;
      done();
      await committed;
    });
    await deletedInTx;
    // Committed meanwhile, after the open transaction started: an edit the run must not move past it for.
    await editInvoice(h.db.$client, ordered[16].id);
    const during = await exportNow();
    expect(during.result).toMatchObject({ processed: 0, reversals: 0 });
    commit();
    await transaction;

    const next = await exportNow();
    expect(next.result).toMatchObject({ processed: 2, reversals: 1, deleted: 1, replaced: 1 });
    expect(await openBookingsOf(deleted.id)).toEqual([]);
    expect(exactlyOnceReport(await invoiceVersions(h.db.$client), await h.admin.bookedEntries())).toMatchObject({
      openTwice: [],
      staleOpen: [],
      latestMissing: [],
    });
  });
});
