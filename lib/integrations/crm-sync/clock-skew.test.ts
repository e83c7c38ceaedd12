import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crmPosition, startCrmTest, syncCrm, syncedContacts, type CrmTest } from '../../../test/fixtures/crm-test';
import type { Contact } from '../../../test/fixtures/shipped-integrations';

/**
 * crm-sync and a CRM clock that runs ahead, against the CRM stand-in over HTTP with edits between
 * runs. A contact stamped in the future (fault `clockAheadSeconds`: a CRM node whose clock runs
 * ahead) used to carry the cursor past the CRM's own clock, and the host then held a version
 * "newer" than the contact's next change, stamped on the true clock: that change was refused as
 * stale for good. A future stamp now counts only up to the CRM's clock (its Date header) at the
 * read, for the position and for the version the host holds.
 */

let h: CrmTest;

beforeAll(async () => {
  h = await startCrmTest({
    seed: 21,
    contactCount: 20,
    config: { settings: { pageSize: 10 }, retryDelays: ['1s'], breakerFailures: 50, breakerCooldown: '1s' },
  });
}, 120_000);
afterAll(() => h?.close());

function expectNamesInSync(crm: Contact[], now: Map<string, { name: string }>) {
  expect(crm.filter((c) => now.get(c.id)?.name !== c.name).map((c) => c.id)).toEqual([]);
}

describe('crm-sync and a CRM clock that runs ahead', () => {
  it('delivers a contact stamped in the future, keeps the cursor within the CRM clock, and applies its next change', async () => {
    expect((await syncCrm(h)).result).toMatchObject({ created: 20 });

    // Between runs: one contact is written by a CRM node whose clock is an hour ahead.
    await h.admin.setFaults('crm', { clockAheadSeconds: 3600 });
    const future = await h.admin.createContact({ name: 'Ahead Of Time GmbH', email: null, country: 'DE', currency: 'EUR' });
    await h.admin.clearFaults('crm');
    expect(Date.parse(future.updated_at)).toBeGreaterThan(Date.now() + 3_000_000);

    const second = await syncCrm(h);
    expect(second.result).toMatchObject({ created: 1, stale: 0 });
    expect((await syncedContacts(h)).get(future.id)?.name).toBe('Ahead Of Time GmbH');
    // The position is not in the future: not past the CRM's clock (its Date header) at the read.
    const after = await crmPosition(h);
    console.log(`crm clock ahead: contact stamped ${future.updated_at}; cursor after the run ${after}`);
    expect(Number.isFinite(Date.parse(after))).toBe(true);
    expect(Date.parse(after)).toBeLessThanOrEqual(Date.now());

    // Between runs, on the true clock: the contact changes again (stamped before its future stamp)
    // and another contact changes.
    const corrected = await h.admin.changeContact(future.id, { name: 'On Time GmbH' });
    expect(corrected.updated_at < future.updated_at).toBe(true);
    const [other] = await h.admin.contacts();
    const otherChanged = await h.admin.changeContact(other.id, { name: `${other.name} (changed)` });

    const third = await syncCrm(h);
    console.log(`crm clock ahead, next change on the true clock: ${third.result?.summary ?? third.error}`);
    expect(third.status).toBe('succeeded');
    expect(third.result).toMatchObject({ updated: 2, stale: 0 });
    const now = await syncedContacts(h);
    expect(now.get(future.id)).toEqual({ name: 'On Time GmbH', version: corrected.updated_at });
    expect(now.get(other.id)).toEqual({ name: otherChanged.name, version: otherChanged.updated_at });
    expectNamesInSync(await h.admin.contacts(), now);

    // At most once: nothing new, nothing applied again.
    expect((await syncCrm(h)).result).toMatchObject({ created: 0, updated: 0, stale: 0 });
  }, 180_000);
});
