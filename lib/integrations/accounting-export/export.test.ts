import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { cursorOf, waitForRun } from '../../../test/fixtures/shipped-integrations';
import type { PlannedRequest } from '../../platform/resilience/dry-run';
import { runNow } from '../../platform/triggers/triggers';
import type { Rejection } from './index';

/**
 * accounting-export against the accounting stand-in over HTTP, through a real worker: records the
 * mapping or the API rejects are listed with their reason while the others are booked, and a
 * dry-run shows the batches it would post without booking anything or moving the watermark.
 *
 * 43 invoices in (updated_at, id) order, batches of 10:
 *   #6  has no lines           -> the mapping rejects it (account is required)
 *   #18 gross != net + tax      -> the API rejects it in a batch that is otherwise booked (201)
 *   #21 is a draft              -> not exported at all
 *   #42, #43 lowercase currency -> the API rejects the whole last batch (422): nothing blocks the run
 */

let h: ExportTest;
let ordered: { id: string; number: string }[];
const posted = () => ordered.filter((_, i) => i !== 20);
const MAPPING_REJECTED = 5;
const API_GROSS = 17;
const DRAFT = 20;
const API_CURRENCY = [41, 42];

beforeAll(async () => {
  h = await startExportTest({
    hostData: { customers: 6, invoices: 43, seed: 3 },
    prepare: async ({ db }) => {
      ordered = [...(await db.execute<{ id: string; number: string }>(sql`select id, number from invoices order by updated_at, id`))];
      await db.execute(sql`delete from invoice_lines where invoice_id = ${ordered[MAPPING_REJECTED].id}`);
      await db.execute(sql`update invoices set gross_total = gross_total + 1 where id = ${ordered[API_GROSS].id}`);
      // A draft was never posted: no posted_at (one with posted_at kept was posted and taken back, and is reversed).
      await db.execute(sql`update invoices set status = 'draft', posted_at = null where id = ${ordered[DRAFT].id}`);
      for (const i of API_CURRENCY) await db.execute(sql`update invoices set currency = lower(currency) where id = ${ordered[i].id}`);
    },
    exportConfig: { settings: { batchSize: 10 }, retryDelays: ['1s', '1s'], breakerCooldown: '2s' },
  });
});
afterAll(() => h?.close());

describe('accounting-export dry-run', () => {
  it('plans one POST per batch with its entries and idempotency key, books nothing and keeps the watermark', async () => {
    const cursorBefore = await cursorOf(h.db, 'accounting-export');
    const bookedBefore = (await h.admin.bookings()).total;
    const requestsBefore = await h.admin.requests();

    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', dryRun: true, triggeredBy: 'ada@example.com' });
    const run = await waitForRun(h.db, runId, ['succeeded']);

    const plan = run.plan as PlannedRequest[];
    const entries = plan.map((p) => (p.body as { entries: { reference: string }[] }).entries);
    const planned = entries.flat().map((e) => e.reference);
    console.log(
      `dry-run: batches planned: ${plan.length}, entries planned: ${planned.length}, booked: ${(await h.admin.bookings()).total - bookedBefore}`,
    );

    expect(plan).toHaveLength(5);
    for (const request of plan) {
      expect(request).toMatchObject({ method: 'POST', url: `${h.sandbox.url}/accounting/v1/journal-entries` });
      expect(request.headers['idempotency-key']).toMatch(/^ae-[0-9a-f]{40}$/);
    }
    expect(new Set(plan.map((p) => p.headers['idempotency-key'])).size).toBe(5);
    expect(entries.map((e) => e.length)).toEqual([9, 10, 10, 10, 2]);
    // Every posted invoice the mapping accepts, in export order; the draft and the line-less invoice are not in it.
    expect(planned).toEqual(
      posted()
        .filter((inv) => inv.number !== ordered[MAPPING_REJECTED].number)
        .map((inv) => inv.number),
    );
    expect(entries[0][0]).toMatchObject({
      reference: ordered[0].number,
      currency: expect.stringMatching(/^[A-Z]{3}$/),
      lineCount: expect.any(Number),
    });
    expect(run.result).toMatchObject({
      processed: 41,
      batches: 5,
      rejectedCount: 1,
      summary: expect.stringMatching(/^Would post 41 journal entries in 5 batches/),
    });

    expect((await h.admin.bookings()).total).toBe(bookedBefore);
    const requestsAfter = await h.admin.requests();
    expect(requestsAfter.accounting.total).toBe(requestsBefore.accounting.total);
    expect(requestsAfter.oauth.total).toBe(requestsBefore.oauth.total);
    expect(await cursorOf(h.db, 'accounting-export')).toEqual(cursorBefore);
  });
});

describe('accounting-export rejections', () => {
  it('lists mapping and API rejections with their reasons, books every other invoice once and succeeds', async () => {
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    const run = await waitForRun(h.db, runId, ['succeeded']);
    const result = run.result as { processed: number; batches: number; rejectedCount: number; rejected: Rejection[] };
    const bookings = await h.admin.bookings();
    const rejectedRefs = new Set(result.rejected.map((r) => r.reference));
    const expectedBooked = posted().filter((inv) => !rejectedRefs.has(inv.number));
    console.log(
      `rejections: invoices posted: ${posted().length}, booked: ${bookings.distinctReferences}, rejected: ${result.rejectedCount} ` +
        `(${result.rejected.map((r) => `${r.reference} ${r.stage}:${r.field}`).join(', ')}), duplicates: ${bookings.duplicates.length}`,
    );

    expect(result.rejected).toEqual(
      expect.arrayContaining([
        { reference: ordered[MAPPING_REJECTED].number, stage: 'mapping', field: 'account', reason: expect.any(String) },
        {
          reference: ordered[API_GROSS].number,
          stage: 'api',
          field: 'grossAmount',
          reason: expect.stringMatching(/grossAmount .* must equal netAmount \+ taxAmount/),
        },
        ...API_CURRENCY.map((i) => ({
          reference: ordered[i].number,
          stage: 'api',
          field: 'currency',
          reason: expect.stringMatching(/3-letter ISO 4217 code in capitals/),
        })),
      ]),
    );
    expect(result.rejected).toHaveLength(4);
    expect(result.rejectedCount).toBe(4);
    expect(result.processed).toBe(38);
    expect(result.batches).toBe(5);

    // The stand-in booked exactly the others, each once; nothing rejected and not the draft.
    expect(expectedBooked).toHaveLength(38);
    expect(Object.keys(bookings.byReference).sort()).toEqual(expectedBooked.map((inv) => inv.number).sort());
    expect(Object.values(bookings.byReference).every((n) => n === 1)).toBe(true);
    expect(bookings.byReference[ordered[DRAFT].number]).toBeUndefined();
    // Four batches booked in part or whole (201); the last one refused as a whole (422) did not stop the run.
    expect((await h.admin.requests()).accounting.byStatus).toEqual({ 201: 4, 422: 1 });

    // The watermark is at the last posted invoice (rejected records come back when they change, or
    // when the mapping changes: from where the first of them, #6 in the first batch, was read).
    const [last] = await h.db.execute<{ updated_at: string; id: string }>(sql`
      select to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as updated_at, id
        from invoices where status = 'posted' order by updated_at desc, id desc limit 1`);
    // The run's last checkpoint, its counts included (a next run reads only the position).
    expect(await cursorOf(h.db, 'accounting-export')).toEqual({
      updatedAt: last.updated_at,
      id: last.id,
      tally: expect.any(Object),
      rejectedSince: { after: null, mapping: expect.stringMatching(/^[0-9a-f]{16}$/) },
    });
  });
});
