import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts } from '../../../db/schema';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { runOf, waitForRun } from '../../../test/fixtures/shipped-integrations';
import { waitFor } from '../../../test/fixtures/wait';
import { runNow } from '../../platform/triggers/triggers';

/**
 * The OAuth2 token expires at the token server in the middle of a run (revoked, or a server whose
 * clock runs ahead of its expires_in) while a batch is in flight, its checkpoint riding on that
 * request: the batch refused with 401 is sent again with a new token, in the same attempt (no
 * attempt used, no resume), and every invoice is booked once. Booked-but-unanswered batches are
 * the exactly-once model's (timeouts there).
 */

let h: ExportTest;
const INVOICES = 100;

beforeAll(async () => {
  h = await startExportTest({
    hostData: { customers: 5, invoices: INVOICES, seed: 21 },
    prepare: async ({ db }) => void (await db.$client`update invoices set status = 'posted'`),
    exportConfig: { settings: { batchSize: 10 }, retryDelays: ['1s', '1s'], breakerFailures: 50 },
  });
});
afterAll(() => h?.close());

describe('an OAuth2 token that expires mid-run', () => {
  it('re-sends the refused batch with a new token in the same attempt; every invoice is booked once', async () => {
    await h.admin.setFaults('accounting', { latencyMs: 150 });
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
    await waitFor('a booked batch', async () => ((await runOf(h.db, runId)).checkpoint ? true : undefined), 30_000, 20);
    const expire = await fetch(`${h.sandbox.url}/_admin/oauth/expire-tokens`, { method: 'POST' });
    expect(((await expire.json()) as { expired: number }).expired).toBeGreaterThan(0);
    const run = await waitForRun(h.db, runId, ['succeeded'], 120_000);
    await h.admin.clearFaults('accounting');

    const requests = await h.admin.requests();
    const bookings = await h.admin.bookings();
    const tries = await h.db.select().from(attempts).where(eq(attempts.runId, runId));
    console.log(
      `token expired mid-run: accounting answers ${JSON.stringify(requests.accounting.byStatus)}, token requests ${requests.oauth.total}, ` +
        `attempts ${tries.length}, bookings ${bookings.total}, duplicates ${bookings.duplicates.length}; ${run.result?.summary}`,
    );
    expect(requests.accounting.byStatus['401']).toBeGreaterThanOrEqual(1);
    expect(requests.oauth.total).toBeGreaterThanOrEqual(2);
    expect(tries.map((a) => a.outcome)).toEqual(['succeeded']);
    expect(bookings.total).toBe(INVOICES);
    expect(bookings.distinctExternalIds).toBe(INVOICES);
    expect(bookings.duplicates).toEqual([]);
    expect(Object.values(bookings.deliveriesByExternalId).every((n) => n >= 1)).toBe(true);
  }, 150_000);
});
