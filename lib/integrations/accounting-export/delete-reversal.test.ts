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

async function versionOf(id: string): Promise<string> {
  const [row] = await h.db.$client<{ version: string }[]>`
    select (extract(epoch from updated_at) * 1000000)::bigint::text as version from invoices where id = ${id}`;
  return row.version;
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

  it('deleted and inserted again with its id, taken back to draft, or posted without posted_at: one booking open at most, the current one', async () => {
    const sql = h.db.$client;
    const copy = async (id: string) => {
      const [row] = await sql`select * from invoices where id = ${id}`;
      const lines = await sql`select * from invoice_lines where invoice_id = ${id}`;
      return { row, lines };
    };
    const restore = async (tx: typeof sql | postgres.TransactionSql, saved: Awaited<ReturnType<typeof copy>>) => {
      await tx`insert into invoices ${tx(saved.row)}`;
      await tx`update invoices set net_total = net_total + 1, gross_total = gross_total + 1, updated_at = now() where id = ${saved.row.id}`;
      for (const l of saved.lines) await tx`insert into invoice_lines ${tx({ ...l, unit_price: Number(l.unit_price) + 1 })}`;
    };
    // Posted without posted_at (booked, the export reads status), then deleted: recorded all the same.
    const noPostedAt = ordered[5];
    await sql`update invoices set posted_at = null, updated_at = now() where id = ${noPostedAt.id}`;
    expect((await exportNow()).result).toMatchObject({ replaced: 1 });
    // Deleted, then inserted again with the same id (a restore, an undo), in separate statements and in one transaction.
    const apart = ordered[0];
    const savedApart = await copy(apart.id);
    await sql`delete from invoices where id = ${apart.id}`;
    await restore(sql, savedApart);
    const together = ordered[1];
    const savedTogether = await copy(together.id);
    await sql.begin(async (tx) => {
      await tx`delete from invoices where id = ${together.id}`;
      await restore(tx, savedTogether);
    });
    // Deleted, then inserted again as a draft: nothing to book, the deletion is reversed.
    const redrafted = ordered[2];
    const savedDraft = await copy(redrafted.id);
    await sql`delete from invoices where id = ${redrafted.id}`;
    await sql`insert into invoices ${sql({ ...savedDraft.row, status: 'draft', posted_at: null })}`;
    // Taken back from posted to draft (posted_at kept), as a host that unposts does.
    const unposted = ordered[4];
    await sql`update invoices set status = 'draft', updated_at = now() where id = ${unposted.id}`;
    await sql`delete from invoices where id = ${noPostedAt.id}`;

    const run = await exportNow();
    console.log(`deleted and restored: ${run.result?.summary}`);
    expect(await openBookingsOf(apart.id)).toEqual([`${apart.id}@${await versionOf(apart.id)}`]);
    expect(await openBookingsOf(together.id)).toEqual([`${together.id}@${await versionOf(together.id)}`]);
    expect(await openBookingsOf(redrafted.id)).toEqual([]);
    expect(await openBookingsOf(unposted.id)).toEqual([]);
    expect(await openBookingsOf(noPostedAt.id)).toEqual([]);
    const reversal = (await h.admin.bookedEntries()).find((e) => e.reference === unposted.number)!;
    expect(reversal.reversedBy).toMatch(/^RV-/);
    expect(exactlyOnceReport(await invoiceVersions(h.db.$client), await h.admin.bookedEntries())).toMatchObject({
      openTwice: [],
      staleOpen: [],
      latestMissing: [],
    });
  });
});
