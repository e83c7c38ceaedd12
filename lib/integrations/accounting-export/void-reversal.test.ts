import { eq } from 'drizzle-orm';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts } from '../../../db/schema';
import type { BookingSummary } from '../../../sandbox/accounting-api';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { editInvoice, insertPostedInvoice } from '../../../test/fixtures/invoices';
import { cursorOf, waitForRun } from '../../../test/fixtures/shipped-integrations';
import { waitFor } from '../../../test/fixtures/wait';
import type { PlannedRequest } from '../../platform/resilience/dry-run';
import { runNow } from '../../platform/triggers/triggers';

/**
 * An invoice voided in the host after the export booked it is reversed in the accounting system by
 * the next run, once: a reversal entry `{ reverses: <invoice id>, externalId: <id>@<void version> }`
 * that the stand-in applies to every booking of that invoice not reversed yet, and answers as a
 * replay when it arrives again. Through a real worker, real PostgreSQL and the stand-in over HTTP.
 *
 * 20 invoices in batches of 5; each case below changes some and runs the export again.
 */

let h: ExportTest;
let ordered: { id: string; number: string }[];
let customerId: string;

type Sql = postgres.Sql;

/** Voids an invoice as the host application would: `updated_at = now()` (a new version), posted_at kept. */
async function voidInvoice(sql: Sql, id: string): Promise<string> {
  const [row] = await sql<{ version: string }[]>`
    update invoices set status = 'void', updated_at = now() where id = ${id}
    returning (extract(epoch from updated_at) * 1000000)::bigint::text as version`;
  return row.version;
}

async function versionOf(sql: Sql, id: string): Promise<string> {
  const [row] = await sql<
    { version: string }[]
  >`select (extract(epoch from updated_at) * 1000000)::bigint::text as version from invoices where id = ${id}`;
  return row.version;
}

async function exportNow(options: { dryRun?: boolean } = {}) {
  const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com', ...options });
  return waitForRun(h.db, runId, ['succeeded'], 120_000);
}

async function entriesByExternalId(): Promise<Map<string, { id: string; reversedBy: string | null }>> {
  const entries = (await h.admin.bookedEntries()) as unknown as { id: string; externalId: string; reversedBy: string | null }[];
  return new Map(entries.map((e) => [e.externalId, e]));
}

beforeAll(async () => {
  h = await startExportTest({
    seed: 71,
    hostData: { customers: 4, invoices: 20, seed: 71 },
    exportConfig: { settings: { batchSize: 5 }, retryDelays: ['1s', '1s', '1s'], breakerFailures: 10, breakerCooldown: '2s' },
  });
  ordered = await h.db.$client<{ id: string; number: string }[]>`select id, number from invoices order by updated_at, id`;
  [{ id: customerId }] = await h.db.$client<{ id: string }[]>`select id from customers limit 1`;
  const first = await exportNow();
  expect(first.result).toMatchObject({ processed: 20 });
}, 120_000);
afterAll(() => h?.close());

describe('an invoice voided in the host', () => {
  it('after it was exported: the next run sends one reversal of its booking; the run after sends nothing', async () => {
    const voided = ordered[3];
    const bookedAs = (await h.admin.bookedEntries()).find((e) => e.reference === voided.number)!;
    const version = await voidInvoice(h.db.$client, voided.id);
    // A draft voided before it was ever posted: never exported, so nothing to send.
    const [{ id: draft }] = await h.db.$client<{ id: string }[]>`
      insert into invoices (number, customer_id, currency, status, issued_on, due_on, net_total, tax_total, gross_total)
      values ('DRAFT-1', ${customerId}, 'EUR', 'draft', '2026-11-30', '2026-12-30', 10, 0, 10) returning id`;
    await voidInvoice(h.db.$client, draft);

    const run = await exportNow();
    const s: BookingSummary = await h.admin.bookings();
    expect(run.result).toMatchObject({ processed: 1, reversals: 1, alreadyReversed: 0 });
    expect(s.total).toBe(20);
    expect(s.reversals).toMatchObject({
      total: 1,
      bookingsReversed: 1,
      nothingToReverse: 0,
      byExternalId: { [`${voided.id}@${version}`]: [bookedAs.id] },
    });
    expect(Object.keys(s.deliveriesByExternalId).filter((k) => k.startsWith(draft))).toEqual([]);
    expect((await entriesByExternalId()).get(bookedAs.externalId!)?.reversedBy).toMatch(/^RV-/);

    const again = await exportNow();
    expect(again.result).toMatchObject({ processed: 0, reversals: 0 });
    expect((await h.admin.bookings()).reversals).toMatchObject({ total: 1, replays: 0 });
  });

  it('edited then voided between two runs: the edited version is never booked, the reversal reverses the booking made', async () => {
    const edited = ordered[7];
    const before = (await h.admin.bookedEntries()).find((e) => e.reference === edited.number)!;
    await editInvoice(h.db.$client, edited.id);
    const editedVersion = await versionOf(h.db.$client, edited.id);
    const voidVersion = await voidInvoice(h.db.$client, edited.id);
    // Posted and voided before any run read it: the export cannot know it was never booked; the
    // accounting system can, and books nothing for it.
    const late = await insertPostedInvoice(h.db.$client, { number: 'INV-LATE-VOID', customerId });
    const lateVersion = await voidInvoice(h.db.$client, late);

    const run = await exportNow();
    expect(run.result).toMatchObject({ processed: 2, reversals: 2 });
    const s = await h.admin.bookings();
    expect(s.total).toBe(20);
    expect(s.deliveriesByExternalId[`${edited.id}@${editedVersion}`]).toBeUndefined();
    expect(s.byReference['INV-LATE-VOID']).toBeUndefined();
    expect(s.reversals.byExternalId).toMatchObject({
      [`${edited.id}@${voidVersion}`]: [before.id],
      [`${late}@${lateVersion}`]: [],
    });
    expect(s.reversals).toMatchObject({ total: 3, bookingsReversed: 2, nothingToReverse: 1 });
  });

  it('in a dry-run: the reversal is planned, not sent, and the cursor stays; the real run after it sends it once', async () => {
    const voided = ordered[11];
    const version = await voidInvoice(h.db.$client, voided.id);
    const cursorBefore = await cursorOf(h.db, 'accounting-export');
    const requestsBefore = (await h.admin.requests()).accounting.total;

    const dry = await exportNow({ dryRun: true });
    const planned = (dry.plan as PlannedRequest[]).flatMap((p) => (p.body as { entries: Record<string, unknown>[] }).entries);
    expect(planned).toEqual([
      {
        reverses: voided.id,
        externalId: `${voided.id}@${version}`,
        date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
        description: `Void of invoice ${voided.number}`,
      },
    ]);
    expect(dry.result).toMatchObject({ processed: 1, reversals: 0 });
    expect((await h.admin.requests()).accounting.total).toBe(requestsBefore);
    expect(await cursorOf(h.db, 'accounting-export')).toEqual(cursorBefore);
    expect((await h.admin.bookings()).reversals.total).toBe(3);

    const real = await exportNow();
    expect(real.result).toMatchObject({ processed: 1, reversals: 1 });
    expect((await h.admin.bookings()).reversals).toMatchObject({ total: 4, bookingsReversed: 3 });
  });

  it('whose reversal is acknowledged but its answer lost: the retried attempt reverses nothing twice', async () => {
    const [a, b, c] = [ordered[13], ordered[15], ordered[17]];
    const va = await voidInvoice(h.db.$client, a.id);
    await editInvoice(h.db.$client, c.id);
    const vb = await voidInvoice(h.db.$client, b.id);
    await h.admin.setFaults('accounting', { timeoutRate: 1 });
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    await waitFor(
      'the batch with both reversals to be applied (its answer withheld)',
      async () => (await h.admin.bookings()).reversals.total >= 6,
      30_000,
      20,
    );
    // The edited invoice leaves the run's range: a retry that re-reads sends another batch.
    await editInvoice(h.db.$client, c.id);
    await h.admin.clearFaults('accounting');
    const run = await waitForRun(h.db, runId, ['succeeded'], 120_000);

    const s = await h.admin.bookings();
    console.log(`void + lost answer: ${run.result?.summary}; request replays ${s.replays}, reversal replays ${s.reversals.replays}`);
    expect(s.reversals).toMatchObject({ total: 6, bookingsReversed: 5, nothingToReverse: 1 });
    expect(s.replays + s.reversals.replays).toBeGreaterThanOrEqual(1);
    expect(s.deliveriesByExternalId[`${a.id}@${va}`]).toBeGreaterThanOrEqual(1);
    expect(s.deliveriesByExternalId[`${b.id}@${vb}`]).toBeGreaterThanOrEqual(1);
    expect(run.result).toMatchObject({ reversals: 2 });
    const entries = await entriesByExternalId();
    const undone = [...entries.values()].filter((e) => e.reversedBy !== null);
    // Five bookings undone by reversals, and c's first booking replaced by its edited version (booked in the lost batch).
    expect(undone.filter((e) => e.reversedBy!.startsWith('RV-'))).toHaveLength(5);
    expect(undone.filter((e) => e.reversedBy!.startsWith('JE-'))).toHaveLength(1);
    expect(s.duplicates).toEqual([]);

    // The next run books the edited invoice's latest version, replacing the one booked, and reverses nothing again.
    const next = await exportNow();
    expect(next.result).toMatchObject({ processed: 1, reversals: 0, replaced: 1 });
    expect((await h.admin.bookings()).openTwice).toEqual([]);
    expect((await h.admin.bookings()).reversals.total).toBe(6);
  }, 180_000);

  it('many, across batches, with an outage after the first: the retry resumes after the acknowledged batch, each reversal sent once', async () => {
    const voided = [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 14].map((i) => ordered[i]);
    const versions = new Map<string, string>();
    for (const v of voided) versions.set(v.id, await voidInvoice(h.db.$client, v.id));
    const before = (await h.admin.bookings()).reversals.total;
    await h.admin.setFaults('accounting', { latencyMs: 500 });
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    await waitFor(
      'the first batch of reversals to be applied',
      async () => (await h.admin.bookings()).reversals.total >= before + 5,
      30_000,
      20,
    );
    await h.admin.setFaults('accounting', { down: true });
    await waitFor('the attempt to fail on the outage', async () => {
      const rows = await h.db.select().from(attempts).where(eq(attempts.runId, runId));
      return rows.some((a) => a.outcome === 'failed');
    });
    await h.admin.clearFaults('accounting');
    const run = await waitForRun(h.db, runId, ['succeeded'], 120_000);

    const s = await h.admin.bookings();
    console.log(`voids across an outage: ${run.result?.summary}`);
    expect(s.reversals).toMatchObject({ total: before + 11, replays: 0 });
    for (const v of voided) expect(s.deliveriesByExternalId[`${v.id}@${versions.get(v.id)}`]).toBe(1);
    expect(run.result).toMatchObject({ reversals: 11, alreadyReversed: 0, resumedFrom: { id: expect.any(String) } });
    const earlier = (run.result as { earlierAttempts: { reversals: number } }).earlierAttempts.reversals;
    expect(earlier).toBeGreaterThanOrEqual(5);
    expect(run.result?.summary).toContain(`reversed 11 voided invoices (${earlier} of them in earlier attempts of this run)`);
    const entries = await entriesByExternalId();
    // Every booking undone once: 5 by the cases above, 11 now (one booking each); and by replacement
    // the two earlier versions of the invoice edited around the lost answer.
    expect([...entries.values()].filter((e) => e.reversedBy?.startsWith('RV-'))).toHaveLength(16);
    expect([...entries.values()].filter((e) => e.reversedBy?.startsWith('JE-'))).toHaveLength(2);
    expect(s.reversals.bookingsReversed).toBe(16);
  }, 180_000);
});
