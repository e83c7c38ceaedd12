import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configure,
  cursorOf,
  startHarness,
  startShippedWorker,
  waitForRun,
  type Harness,
} from '../../../test/fixtures/shipped-integrations';
import type { PlatformWorker } from '../../platform/execution/worker';
import { runNow } from '../../platform/triggers/triggers';

/**
 * crm-sync and a contact whose updated_at is not a date-time (fault `unparseableUpdatedAt`: a
 * string that is not one, none, or null), against the CRM stand-in over HTTP with edits between
 * runs. Such a contact, last on a page, used to become the position: the next run sent it as
 * updated_since and failed on every attempt (a missing or null one dropped the position, and the
 * next run read every contact again). It is now refused alone, with the reason, and the position
 * stays the last date-time seen; a cursor stored broken by an earlier version is recovered from.
 */

let h: Harness;
let worker: PlatformWorker;

beforeAll(async () => {
  h = await startHarness({ seed: 22, contactCount: 20 });
  await configure(h.db, 'crm-sync', { settings: { pageSize: 10 }, retryDelays: ['1s'], breakerFailures: 50, breakerCooldown: '1s' });
  worker = await startShippedWorker(h);
}, 120_000);
afterAll(async () => {
  await worker?.stop({ timeoutMs: 2_000 });
  await h?.close();
});

interface SyncResult {
  processed: number;
  created: number;
  updated: number;
  unchanged: number;
  stale: number;
  rejectedCount: number;
  rejected: { id: string; field: string; reason: string }[];
  summary: string;
}

async function sync() {
  const { runId } = await runNow(h.db, h.boss, { integration: 'crm-sync', triggeredBy: 'ada@example.com' });
  const run = await waitForRun(h.db, runId, ['succeeded', 'failed'], 60_000);
  return { status: run.status, error: run.errorMessage, result: run.result as unknown as SyncResult | null };
}

async function synced(): Promise<Map<string, { name: string; version: string }>> {
  const rows = await h.db.$client<{ external_id: string; name: string; version: string }[]>`
    select external_id, name, to_char(external_updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as version
      from customers where external_id is not null`;
  return new Map(rows.map((r) => [r.external_id, { name: r.name, version: r.version }]));
}

async function position(): Promise<string> {
  return ((await cursorOf(h.db, 'crm-sync')) as { updatedSince: string }).updatedSince;
}

describe('crm-sync and a contact whose updated_at is not a date-time', () => {
  for (const as of ['garbage', 'missing', 'null'] as const) {
    it(`refuses that contact alone (updated_at ${as}) and keeps the cursor a date-time`, async () => {
      await sync(); // caught up
      const before = await position();
      const broken = await h.admin.createContact({ name: `Broken Clock ${as} AB`, email: null, country: 'SE', currency: 'SEK' });
      await h.admin.setFaults('crm', { unparseableUpdatedAt: { ids: [broken.id], as } });

      // The broken contact is the last one the walk reads.
      const first = await sync();
      expect(first.status).toBe('succeeded');
      expect(first.result).toMatchObject({
        created: 0,
        rejectedCount: 1,
        rejected: [{ id: broken.id, field: 'updated_at', reason: expect.stringContaining('date-time') }],
      });
      expect((await synced()).has(broken.id)).toBe(false);
      const after = await position();
      console.log(`crm updated_at ${as}: cursor ${before} -> ${String(after)}; ${first.result?.summary}`);
      expect(typeof after).toBe('string');
      expect(Number.isFinite(Date.parse(after))).toBe(true);
      expect(after >= before).toBe(true);

      // Between runs: others change; the next run neither fails nor reads every contact again.
      const later = await h.admin.createContact({ name: `After Broken ${as} AB`, email: null, country: 'SE', currency: 'SEK' });
      const second = await sync();
      console.log(`crm updated_at ${as}, next run: ${second.status} ${second.result?.summary ?? second.error}`);
      expect(second.status).toBe('succeeded');
      expect(second.result).toMatchObject({ created: 1, rejectedCount: 1 });
      expect(second.result!.processed).toBeLessThan((await h.admin.contacts()).length - 1);
      expect((await synced()).has(later.id)).toBe(true);
      expect(await position()).toBe(later.updated_at);

      // Repaired in the CRM: a new version, picked up by the next run.
      await h.admin.clearFaults('crm');
      const fixed = await h.admin.changeContact(broken.id, { name: `Repaired ${as} AB` });
      const third = await sync();
      expect(third.result).toMatchObject({ created: 1, rejectedCount: 0 });
      expect((await synced()).get(broken.id)).toEqual({ name: fixed.name, version: fixed.updated_at });
    }, 180_000);
  }

  it('recovers from a cursor that an earlier version stored with an updated_at that is not a date-time', async () => {
    await sync();
    const cursor = (await cursorOf(h.db, 'crm-sync')) as Record<string, unknown>;
    await h.db
      .$client`update cursors set value = ${JSON.stringify({ ...cursor, updatedSince: 'last Tuesday-ish' })}::jsonb where integration = 'crm-sync'`;
    const changed = await h.admin.changeContact((await h.admin.contacts())[0].id, { name: 'Changed Under A Broken Cursor AB' });
    const run = await sync();
    console.log(`crm broken stored cursor: ${run.status} ${run.result?.summary ?? run.error}`);
    expect(run.status).toBe('succeeded');
    expect(run.result).toMatchObject({ updated: 1 });
    expect((await synced()).get(changed.id)?.name).toBe(changed.name);
    expect(await position()).toBe(changed.updated_at);
  }, 120_000);
});
