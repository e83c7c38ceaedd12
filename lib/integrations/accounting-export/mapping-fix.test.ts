import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHostData } from '../../../db/host-data';
import { integrations } from '../../../db/schema';
import {
  configure,
  keyring,
  registry,
  startHarness,
  startShippedWorker,
  waitForRun,
  type Harness,
} from '../../../test/fixtures/shipped-integrations';
import type { PlatformWorker } from '../../platform/execution/worker';
import { updateIntegrationConfig } from '../../platform/governance/config';
import type { Mapping } from '../../platform/mapping';
import { runNow } from '../../platform/triggers/triggers';
import type { Rejection } from './index';
import { defaultJournalMapping } from './mapping';

/**
 * The latest version of every record is eventually delivered, also when the record was rejected
 * because of the field mapping: an admin fixes the mapping, and the next run books the invoices
 * the old mapping (or the API, given what the old mapping made of them) refused, each once,
 * without the invoices being edited. Invoices booked before are not booked again.
 *
 * 30 invoices in (updated_at, id) order, batches of 10:
 *   #6  has no lines        -> the mapping rejects it (account is required)
 *   #14 lowercase currency  -> the API rejects it (currency must be in capitals)
 * The fix: without lines, account falls back to "8400" and lineCount to 1; currency is upper-cased.
 */

let h: Harness;
let worker: PlatformWorker;
let ordered: { id: string; number: string }[];
const NO_LINES = 5;
const LOWERCASE = 13;

const fixedMapping: Mapping = {
  ...defaultJournalMapping,
  fields: defaultJournalMapping.fields.map((f) =>
    f.target === 'account'
      ? { ...f, expression: '$exists(lines[0].account) ? lines[0].account : "8400"' }
      : f.target === 'lineCount'
        ? { ...f, expression: '$max([$count(lines), 1])' }
        : f.target === 'currency'
          ? { ...f, expression: '$uppercase(currency)' }
          : f,
  ),
};

beforeAll(async () => {
  h = await startHarness();
  await generateHostData(h.db, { customers: 5, invoices: 30, seed: 11 });
  ordered = [...(await h.db.execute<{ id: string; number: string }>(sql`select id, number from invoices order by updated_at, id`))];
  await h.db.execute(sql`delete from invoice_lines where invoice_id = ${ordered[NO_LINES].id}`);
  await h.db.execute(sql`update invoices set currency = lower(currency) where id = ${ordered[LOWERCASE].id}`);
  await h.db.execute(sql`update invoices set status = 'posted'`);
  await configure(h.db, 'accounting-export', { settings: { batchSize: 10 }, retryDelays: ['1s', '1s'] });
  worker = await startShippedWorker(h);
});
afterAll(async () => {
  await worker?.stop({ timeoutMs: 2_000 });
  await h?.close();
});

async function exportNow() {
  const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });
  const run = await waitForRun(h.db, runId, ['succeeded']);
  return run.result as { processed: number; rejectedCount: number; rejected: Rejection[]; alreadyBooked: number; summary: string };
}

describe('an invoice rejected because of the mapping', () => {
  it('is booked, once, by the first run after an admin fixes the mapping; nothing else is booked twice', async () => {
    const first = await exportNow();
    expect(first.rejected.map((r) => [r.reference, r.stage, r.field]).sort()).toEqual(
      [
        [ordered[NO_LINES].number, 'mapping', 'account'],
        [ordered[LOWERCASE].number, 'api', 'currency'],
      ].sort(),
    );
    expect((await h.admin.bookings()).total).toBe(28);

    // A run with the same mapping books nothing: the rejected invoices would be refused again.
    const same = await exportNow();
    expect(same.processed).toBe(0);

    const [row] = await h.db.select({ version: integrations.version }).from(integrations).where(eq(integrations.name, 'accounting-export'));
    const saved = await updateIntegrationConfig(h.db, {
      integration: 'accounting-export',
      expectedVersion: row.version,
      patch: { mapping: fixedMapping },
      actor: 'ada@example.com',
      definition: registry.get('accounting-export')!,
      keyring,
    });
    expect(saved.ok).toBe(true);

    const after = await exportNow();
    const bookings = await h.admin.bookings();
    console.log(
      `mapping fixed: first run booked 28 and rejected 2; after the fix: ${after.summary}; bookings ${bookings.total}, duplicates ${bookings.duplicates.length}`,
    );
    expect(after.rejected).toEqual([]);
    expect(bookings.total).toBe(30);
    expect(bookings.byReference[ordered[NO_LINES].number]).toBe(1);
    expect(bookings.byReference[ordered[LOWERCASE].number]).toBe(1);
    expect(Object.values(bookings.byReference).every((n) => n === 1)).toBe(true);
    expect(bookings.duplicates).toEqual([]);
    // And the run after it has nothing left to do.
    expect((await exportNow()).processed).toBe(0);
  });
});
