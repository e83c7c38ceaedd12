import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHostData } from '../../../db/host-data';
import { integrations } from '../../../db/schema';
import {
  configure,
  cursorOf,
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
import type { PlannedRequest } from '../../platform/resilience/dry-run';
import { runNow } from '../../platform/triggers/triggers';
import type { Rejection } from './index';
import { defaultJournalMapping } from './mapping';

/**
 * A dry-run after a real run, between an admin's mapping fix and the next real run: it plans the
 * invoices the old mapping refused (reading again from where the first was refused), books
 * nothing, sends nothing to the accounting API and leaves the cursor as it was, its note of the
 * refusals (rejectedSince) included, so the real run after it still books them, each once.
 * Same data as mapping-fix.test.ts: 30 invoices, #6 without lines, #14 with a lowercase currency.
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

describe('a dry-run after a real run and a mapping fix', () => {
  it('books nothing, keeps the cursor and its note of the refusals; the real run after it books the refused invoices once', async () => {
    const first = await exportNow();
    expect(first.rejectedCount).toBe(2);
    expect((await h.admin.bookings()).total).toBe(28);
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

    const cursorBefore = await cursorOf(h.db, 'accounting-export');
    // #6 was refused in the first batch: read again from the beginning.
    expect(cursorBefore).toMatchObject({ rejectedSince: { after: null, mapping: expect.stringMatching(/^[0-9a-f]{16}$/) } });
    const requestsBefore = (await h.admin.requests()).accounting.total;
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', dryRun: true, triggeredBy: 'ada@example.com' });
    const dry = await waitForRun(h.db, runId, ['succeeded']);
    const planned = (dry.plan as PlannedRequest[]).flatMap((p) =>
      (p.body as { entries: { reference: string }[] }).entries.map((e) => e.reference),
    );
    console.log(`dry-run after a mapping fix: planned ${planned.length} entries; ${dry.result?.summary}`);
    // Read again from the first refusal, under the fixed mapping: both refused invoices are planned.
    expect(planned).toContain(ordered[NO_LINES].number);
    expect(planned).toContain(ordered[LOWERCASE].number);
    expect(new Set(planned).size).toBe(30);
    expect(planned).toHaveLength(30);
    expect((await h.admin.bookings()).total).toBe(28);
    expect((await h.admin.requests()).accounting.total).toBe(requestsBefore);
    expect(await cursorOf(h.db, 'accounting-export')).toEqual(cursorBefore);

    const after = await exportNow();
    const bookings = await h.admin.bookings();
    expect(after.rejected).toEqual([]);
    expect(bookings.total).toBe(30);
    expect(Object.values(bookings.byReference).every((n) => n === 1)).toBe(true);
    expect(bookings.duplicates).toEqual([]);
  });
});
