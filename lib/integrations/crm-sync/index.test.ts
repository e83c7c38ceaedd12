import { isNotNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHostData } from '../../../db/host-data';
import { customers } from '../../../db/schema';
import {
  cursorOf,
  startHarness,
  startShippedWorker,
  waitForRun,
  type Contact,
  type Harness,
} from '../../../test/fixtures/shipped-integrations';
import type { PlatformWorker } from '../../platform/execution/worker';
import { runNow } from '../../platform/triggers/triggers';

/**
 * crm-sync end to end: the CRM stand-in (250 seeded contacts, X-Api-Key required: the demo key is
 * read from the sealed secrets) over HTTP, pages of 50, through a real worker. Counts are checked
 * against the stand-in's own data; contacts are changed through its admin endpoint between syncs.
 */

const PAGE_SIZE = 50;
let h: Harness;
let worker: PlatformWorker;

beforeAll(async () => {
  h = await startHarness({ seed: 3 });
  // Host customers that never came from the CRM: the sync must leave them alone.
  await generateHostData(h.db, { customers: 5, invoices: 0, seed: 3 });
  await h.db.execute(
    sql`update integrations set settings = settings || ${JSON.stringify({ pageSize: PAGE_SIZE })}::jsonb where name = 'crm-sync'`,
  );
  worker = await startShippedWorker(h);
});
afterAll(async () => {
  await worker?.stop({ timeoutMs: 2_000 });
  await h?.close();
});

interface SyncResult {
  processed: number;
  created: number;
  updated: number;
  unchanged: number;
  pages: number;
}

async function sync(dryRun = false): Promise<SyncResult> {
  const { runId } = await runNow(h.db, h.boss, { integration: 'crm-sync', dryRun, triggeredBy: 'ada@example.com' });
  const run = await waitForRun(h.db, runId, ['succeeded']);
  return run.result as unknown as SyncResult;
}

async function customersChecksum(): Promise<string> {
  const [row] = await h.db.execute<{ sum: string; n: number }>(sql`
    select md5(coalesce(string_agg(concat_ws('|', id, external_id, name, email, country, currency, created_at, updated_at), ',' order by id), '')) as sum
      from customers`);
  return row.sum;
}

async function syncedCustomers(): Promise<Map<string, Omit<Contact, 'id' | 'updated_at'>>> {
  const rows = await h.db
    .select({
      externalId: customers.externalId,
      name: customers.name,
      email: customers.email,
      country: customers.country,
      currency: customers.currency,
    })
    .from(customers)
    .where(isNotNull(customers.externalId));
  return new Map(rows.map(({ externalId, ...fields }) => [externalId!, fields]));
}

/** What a sync from `since` (inclusive) must report: the stand-in's contacts changed at or after it, split by what the test did. */
function expectedCounts(contacts: Contact[], since: string, changed: string[], created: string[]) {
  const seen = contacts.filter((c) => c.updated_at >= since);
  return {
    created: created.length,
    updated: changed.length,
    unchanged: seen.length - changed.length - created.length,
    processed: seen.length,
  };
}

describe('crm-sync', () => {
  it('creates a customer per CRM contact, then reports exactly the contacts changed in the CRM as updated', async () => {
    const hostBefore = await h.db.execute(sql`select * from customers where external_id is null order by id`);
    const contacts = await h.admin.contacts();
    const firstSync = await sync();
    console.log(
      `crm first sync: contacts in the CRM: ${contacts.length}, created: ${firstSync.created}, updated: ${firstSync.updated}, unchanged: ${firstSync.unchanged}, pages: ${firstSync.pages}`,
    );
    expect(firstSync).toMatchObject({
      created: contacts.length,
      updated: 0,
      unchanged: 0,
      processed: contacts.length,
      pages: Math.ceil(contacts.length / PAGE_SIZE),
    });
    const synced = await syncedCustomers();
    expect(synced.size).toBe(contacts.length);
    for (const c of contacts) expect(synced.get(c.id)).toEqual({ name: c.name, email: c.email, country: c.country, currency: c.currency });
    const newest = contacts
      .map((c) => c.updated_at)
      .sort()
      .at(-1)!;
    // The run's last checkpoint, its counts included (a next run reads only the position).
    expect(await cursorOf(h.db, 'crm-sync')).toEqual({ updatedSince: newest, rereadFrom: expect.any(String), tally: expect.any(Object) });

    // Three contacts change in the CRM and one is added.
    const changed = [
      await h.admin.changeContact('crm-0003', { name: 'Globex Renamed GmbH' }),
      await h.admin.changeContact('crm-0100', { email: 'accounts@renamed.example' }),
      await h.admin.changeContact('crm-0200', { name: 'Initech Moved AG', country: 'CH', currency: 'CHF' }),
    ];
    const added = await h.admin.createContact({
      name: 'Newcomer Labs BV',
      email: 'hello@newcomer.example',
      country: 'NL',
      currency: 'EUR',
    });
    const expected = expectedCounts(
      await h.admin.contacts(),
      newest,
      changed.map((c) => c.id),
      [added.id],
    );

    const secondSync = await sync();
    console.log(
      `crm second sync: changed in the CRM: ${changed.length}, added: 1, reported created: ${secondSync.created}, updated: ${secondSync.updated}, unchanged: ${secondSync.unchanged} (expected ${JSON.stringify(expected)})`,
    );
    expect(secondSync).toMatchObject(expected);
    expect(secondSync.updated).toBe(3);
    const after = await syncedCustomers();
    for (const c of [...changed, added])
      expect(after.get(c.id)).toEqual({ name: c.name, email: c.email, country: c.country, currency: c.currency });
    expect(after.size).toBe(contacts.length + 1);
    expect(await h.db.execute(sql`select * from customers where external_id is null order by id`)).toEqual(hostBefore);
  });

  it('dry-run reports the counts the real sync then reports, and leaves customers and cursor unchanged', async () => {
    await sync(); // up to date with the CRM, whatever ran before
    // A run reads from the cursor's position, or from its rereadFrom when that is earlier (the lookback).
    const at = (await cursorOf(h.db, 'crm-sync')) as { updatedSince: string; rereadFrom: string };
    const since = at.rereadFrom < at.updatedSince ? at.rereadFrom : at.updatedSince;
    const changed = [
      await h.admin.changeContact('crm-0042', { name: 'Hooli Dry Run Ltd' }),
      await h.admin.changeContact('crm-0150', { email: 'ap@dry-run.example', currency: 'USD', country: 'US' }),
    ];
    const expected = expectedCounts(
      await h.admin.contacts(),
      since,
      changed.map((c) => c.id),
      [],
    );
    const checksumBefore = await customersChecksum();
    const cursorBefore = await cursorOf(h.db, 'crm-sync');

    const dry = await sync(true);
    const checksumAfterDryRun = await customersChecksum();
    console.log(
      `crm dry-run: created: ${dry.created}, updated: ${dry.updated}, unchanged: ${dry.unchanged}, customers checksum unchanged: ${checksumAfterDryRun === checksumBefore}`,
    );
    expect(dry).toMatchObject(expected);
    expect(checksumAfterDryRun).toBe(checksumBefore);
    expect(await cursorOf(h.db, 'crm-sync')).toEqual(cursorBefore);

    const real = await sync();
    console.log(`crm real sync after the dry-run: created: ${real.created}, updated: ${real.updated}, unchanged: ${real.unchanged}`);
    expect({ created: real.created, updated: real.updated, unchanged: real.unchanged }).toEqual({
      created: dry.created,
      updated: dry.updated,
      unchanged: dry.unchanged,
    });
    expect(await customersChecksum()).not.toBe(checksumBefore);
    const after = await syncedCustomers();
    for (const c of changed) expect(after.get(c.id)).toEqual({ name: c.name, email: c.email, country: c.country, currency: c.currency });
    expect(await cursorOf(h.db, 'crm-sync')).toEqual({
      updatedSince: changed[1].updated_at,
      rereadFrom: expect.any(String),
      tally: expect.any(Object),
    });
  });
});
