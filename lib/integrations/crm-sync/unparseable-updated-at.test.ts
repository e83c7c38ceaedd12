import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crmPosition, startCrmTest, syncCrm, syncedContacts, type CrmTest } from '../../../test/fixtures/crm-test';
import { cursorOf } from '../../../test/fixtures/shipped-integrations';

/**
 * crm-sync and a contact whose updated_at is not a date-time (fault `unparseableUpdatedAt`: a
 * string that is not one, none, or null), against the CRM stand-in over HTTP with edits between
 * runs. Such a contact, last on a page, used to become the position: the next run sent it as
 * updated_since and failed on every attempt (a missing or null one dropped the position, and the
 * next run read every contact again). It is now refused alone, with the reason, and the position
 * stays the last date-time seen; a cursor stored broken by an earlier version is recovered from.
 */

let h: CrmTest;

beforeAll(async () => {
  h = await startCrmTest({
    seed: 22,
    contactCount: 20,
    config: { settings: { pageSize: 10 }, retryDelays: ['1s'], breakerFailures: 50, breakerCooldown: '1s' },
  });
}, 120_000);
afterAll(() => h?.close());

describe('crm-sync and a contact whose updated_at is not a date-time', () => {
  for (const as of ['garbage', 'missing', 'null'] as const) {
    it(`refuses that contact alone (updated_at ${as}) and keeps the cursor a date-time`, async () => {
      await syncCrm(h); // caught up
      const before = await crmPosition(h);
      const broken = await h.admin.createContact({ name: `Broken Clock ${as} AB`, email: null, country: 'SE', currency: 'SEK' });
      await h.admin.setFaults('crm', { unparseableUpdatedAt: { ids: [broken.id], as } });

      // The broken contact is the last one the walk reads.
      const first = await syncCrm(h);
      expect(first.status).toBe('succeeded');
      expect(first.result).toMatchObject({
        created: 0,
        rejectedCount: 1,
        rejected: [{ id: broken.id, field: 'updated_at', reason: expect.stringContaining('date-time') }],
      });
      expect((await syncedContacts(h)).has(broken.id)).toBe(false);
      const after = await crmPosition(h);
      console.log(`crm updated_at ${as}: cursor ${before} -> ${String(after)}; ${first.result?.summary}`);
      expect(typeof after).toBe('string');
      expect(Number.isFinite(Date.parse(after))).toBe(true);
      expect(after >= before).toBe(true);

      // Between runs: others change; the next run neither fails nor reads every contact again.
      const later = await h.admin.createContact({ name: `After Broken ${as} AB`, email: null, country: 'SE', currency: 'SEK' });
      const second = await syncCrm(h);
      console.log(`crm updated_at ${as}, next run: ${second.status} ${second.result?.summary ?? second.error}`);
      expect(second.status).toBe('succeeded');
      expect(second.result).toMatchObject({ created: 1, rejectedCount: 1 });
      expect(second.result!.processed).toBeLessThan((await h.admin.contacts()).length - 1);
      expect((await syncedContacts(h)).has(later.id)).toBe(true);
      expect(await crmPosition(h)).toBe(later.updated_at);

      // Repaired in the CRM: a new version, picked up by the next run.
      await h.admin.clearFaults('crm');
      const fixed = await h.admin.changeContact(broken.id, { name: `Repaired ${as} AB` });
      const third = await syncCrm(h);
      expect(third.result).toMatchObject({ created: 1, rejectedCount: 0 });
      expect((await syncedContacts(h)).get(broken.id)).toEqual({ name: fixed.name, version: fixed.updated_at });
    }, 180_000);
  }

  it('recovers from a cursor that an earlier version stored with an updated_at that is not a date-time', async () => {
    await syncCrm(h);
    const cursor = (await cursorOf(h.db, 'crm-sync')) as Record<string, unknown>;
    await h.db
      .$client`update cursors set value = ${JSON.stringify({ ...cursor, updatedSince: 'last Tuesday-ish' })}::jsonb where integration = 'crm-sync'`;
    const changed = await h.admin.changeContact((await h.admin.contacts())[0].id, { name: 'Changed Under A Broken Cursor AB' });
    const run = await syncCrm(h);
    console.log(`crm broken stored cursor: ${run.status} ${run.result?.summary ?? run.error}`);
    expect(run.status).toBe('succeeded');
    expect(run.result).toMatchObject({ updated: 1 });
    expect((await syncedContacts(h)).get(changed.id)?.name).toBe(changed.name);
    expect(await crmPosition(h)).toBe(changed.updated_at);
  }, 120_000);
});
