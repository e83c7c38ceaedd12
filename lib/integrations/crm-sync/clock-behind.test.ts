import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configure,
  contactBehindTheWalk,
  cursorOf,
  startHarness,
  startShippedWorker,
  waitForRun,
  type Harness,
} from '../../../test/fixtures/shipped-integrations';
import { sleep } from '../../../test/fixtures/wait';
import type { PlatformWorker } from '../../platform/execution/worker';
import { runNow } from '../../platform/triggers/triggers';

/**
 * crm-sync against a CRM whose clock runs behind ours by more than the lookback (the stand-in's
 * clockBehindSeconds fault: its Date header and its stamps). A contact that appears behind the
 * walk (written in the second the walk is paging, with a smaller id) is stamped on the CRM's
 * clock; the next run re-reads from `lookbackSeconds` before the walk began. Taken on our clock,
 * that bound was 15 minutes after the contact's stamp, and no run ever read the contact.
 */

const BEHIND = { clockBehindSeconds: 900 };

let h: Harness;
let worker: PlatformWorker;

beforeAll(async () => {
  h = await startHarness({ seed: 11, contactCount: 40 });
  await h.admin.setFaults('crm', BEHIND);
  // The default lookback (300 s): a third of how far the CRM's clock is behind.
  await configure(h.db, 'crm-sync', { settings: { pageSize: 5 }, retryDelays: ['1s'], breakerFailures: 50, breakerCooldown: '1s' });
  worker = await startShippedWorker(h);
}, 120_000);
afterAll(async () => {
  await worker?.stop({ timeoutMs: 2_000 });
  await h?.close();
});

const syncedIds = async () =>
  new Set(
    (await h.db.execute<{ external_id: string }>(sql`select external_id from customers where external_id is not null`)).map(
      (r) => r.external_id,
    ),
  );

describe('crm-sync against a CRM whose clock is behind ours', () => {
  it('re-reads, in the next run, a contact that appeared behind the walk', async () => {
    const catchUp = await runNow(h.db, h.boss, { integration: 'crm-sync', triggeredBy: 'ada@example.com' });
    await waitForRun(h.db, catchUp.runId, ['succeeded'], 60_000);
    await sleep(1_100);
    // A second on the CRM's clock, after every earlier change.
    const second = new Date(Math.floor((Date.now() - BEHIND.clockBehindSeconds * 1000) / 1000) * 1000).toISOString();
    const { run, group, behind, moved } = await contactBehindTheWalk(h, { second, idPrefix: 'slow-clock', faults: BEHIND });
    // The change was stamped on the CRM's slow clock.
    expect(Date.parse(moved.updated_at)).toBeLessThan(Date.now() - (BEHIND.clockBehindSeconds - 60) * 1000);
    // The scenario happened: the walk went past the second after the contact appeared behind it.
    expect(run.result).toMatchObject({ created: group.length, updated: 1 });
    expect((await syncedIds()).has(behind.id)).toBe(false);
    const cursor = (await cursorOf(h.db, 'crm-sync')) as { updatedSince: string; rereadFrom: string };
    expect(cursor.updatedSince).toBe(moved.updated_at);

    const next = await runNow(h.db, h.boss, { integration: 'crm-sync', triggeredBy: 'ada@example.com' });
    const nextRun = await waitForRun(h.db, next.runId, ['succeeded'], 60_000);
    expect(nextRun.result).toMatchObject({ created: 1, updated: 0, stale: 0 });
    expect((await syncedIds()).has(behind.id)).toBe(true);
    // Because the bound is on the CRM's clock: before the second the contact was stamped in.
    expect(Date.parse(cursor.rereadFrom)).toBeLessThanOrEqual(Date.parse(second));
  }, 120_000);
});
