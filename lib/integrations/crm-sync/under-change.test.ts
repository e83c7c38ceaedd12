import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts, customers } from '../../../db/schema';
import {
  configure,
  contactBehindTheWalk,
  cursorOf,
  runOf,
  startHarness,
  startShippedWorker,
  waitForRun,
  type Contact,
  type Harness,
} from '../../../test/fixtures/shipped-integrations';
import { sleep, waitFor } from '../../../test/fixtures/wait';
import type { PlatformWorker } from '../../platform/execution/worker';
import { runNow } from '../../platform/triggers/triggers';
import { applyContacts, type ApplyCounts } from './index';

/**
 * crm-sync under change, against the CRM stand-in over HTTP (issue 13): contacts changed and
 * created while a sync pages through them, a run interrupted inside a group of contacts sharing
 * one updated_at, and an older version arriving after a newer one was applied. A trigger installed
 * by this test records every version applied to a customer, so "applied out of order" is visible.
 */

let h: Harness;
let worker: PlatformWorker;

beforeAll(async () => {
  h = await startHarness({ seed: 5 });
  await configure(h.db, 'crm-sync', {
    settings: { pageSize: 20 },
    retryDelays: ['1s', '1s', '1s'],
    breakerFailures: 50,
    breakerCooldown: '1s',
  });
  // Test instrumentation: every version written to a customer, in commit order.
  await h.db.execute(
    sql`create table applied_versions (seq bigserial primary key, external_id text not null, version timestamptz, name text)`,
  );
  await h.db.execute(sql`
    create function record_applied_version() returns trigger language plpgsql as $$
    begin
      insert into applied_versions (external_id, version, name) values (new.external_id, new.external_updated_at, new.name);
      return new;
    end $$`);
  await h.db.execute(
    sql`create trigger record_applied_version after insert or update on customers for each row when (new.external_id is not null) execute function record_applied_version()`,
  );
  worker = await startShippedWorker(h);
}, 120_000);
afterAll(async () => {
  await worker?.stop({ timeoutMs: 2_000 });
  await h?.close();
});

async function synced(): Promise<
  Map<string, { name: string; email: string | null; country: string; currency: string; version: string | null }>
> {
  const rows = await h.db.$client<
    { external_id: string; name: string; email: string | null; country: string; currency: string; version: string | null }[]
  >`
    select external_id, name, email, country, currency,
           to_char(external_updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as version
      from customers where external_id is not null`;
  return new Map(
    rows.map((r) => [r.external_id, { name: r.name, email: r.email, country: r.country, currency: r.currency, version: r.version }]),
  );
}

/** Customers whose applied versions ever went backwards (commit order). */
async function outOfOrder(): Promise<string[]> {
  const rows = await h.db.$client<{ external_id: string }[]>`
    select distinct external_id from (
      select external_id, version, lag(version) over (partition by external_id order by seq) as previous from applied_versions) v
     where version < previous`;
  return rows.map((r) => r.external_id);
}

function expectInSync(crm: Contact[], customersNow: Awaited<ReturnType<typeof synced>>) {
  const wrong = crm.filter((c) => {
    const s = customersNow.get(c.id);
    return (
      !s || s.name !== c.name || s.email !== c.email || s.country !== c.country || s.currency !== c.currency || s.version !== c.updated_at
    );
  });
  expect(wrong.map((c) => c.id)).toEqual([]);
}

describe('crm-sync under change', () => {
  it('misses nothing and applies nothing out of order when contacts change and appear while it pages', async () => {
    await h.admin.setFaults('crm', { latencyMs: 150 });
    const before = await h.admin.contacts();
    const { runId } = await runNow(h.db, h.boss, { integration: 'crm-sync', triggeredBy: 'ada@example.com' });
    await waitFor('two pages to be read', async () => (await h.admin.requests()).crm.total >= 2, 30_000);
    // Changes while the walk is under way: contacts on pages already read and on pages not read yet,
    // and new ones; an offset-paginated walk would skip contacts as pages shift.
    const changed: Contact[] = [];
    for (const c of [...before.slice(0, 5), ...before.slice(-5)])
      changed.push(await h.admin.changeContact(c.id, { name: `${c.name} (renamed during sync)` }));
    const created: Contact[] = [];
    for (let i = 0; i < 3; i++)
      created.push(await h.admin.createContact({ name: `Newco ${i} Ltd`, email: null, country: 'GB', currency: 'GBP' }));
    const run = await waitForRun(h.db, runId, ['succeeded'], 60_000);
    await h.admin.clearFaults('crm');

    const crm = await h.admin.contacts();
    expect(crm).toHaveLength(before.length + 3);
    expectInSync(crm, await synced());
    expect(await outOfOrder()).toEqual([]);
    const result = run.result as unknown as ApplyCounts & { pages: number; processed: number };
    console.log(
      `crm under change: contacts ${before.length} + ${created.length} created during the walk, ${changed.length} changed during the walk; ` +
        `one run: pages ${result.pages}, created ${result.created}, updated ${result.updated}, unchanged ${result.unchanged}, stale ${result.stale}; out of order 0, missing 0`,
    );
    // The changed contacts were seen again at the end of the walk in their new version.
    expect(result.created).toBe(before.length + 3);
    expect(result.updated).toBeGreaterThanOrEqual(5);

    const again = await runNow(h.db, h.boss, { integration: 'crm-sync', triggeredBy: 'ada@example.com' });
    expect((await waitForRun(h.db, again.runId, ['succeeded'])).result).toMatchObject({ created: 0, updated: 0, stale: 0 });
  }, 120_000);

  it('resumes inside a group of contacts sharing one updated_at without skipping any', async () => {
    await configure(h.db, 'crm-sync', { settings: { pageSize: 7 } });
    await sleep(5);
    const tie = new Date().toISOString();
    const group: Contact[] = [];
    for (let i = 0; i < 30; i++)
      group.push(
        await h.admin.createContact({
          name: `Tie ${String(i).padStart(2, '0')} AB`,
          email: null,
          country: 'SE',
          currency: 'SEK',
          updated_at: tie,
        }),
      );
    expect(new Set(group.map((c) => c.updated_at))).toEqual(new Set([tie]));

    await h.admin.setFaults('crm', { latencyMs: 200 });
    const { runId } = await runNow(h.db, h.boss, { integration: 'crm-sync', triggeredBy: 'ada@example.com' });
    // After the first page of the group is applied and checkpointed, the CRM goes down mid-walk.
    await waitFor('the first checkpoint', async () => ((await runOf(h.db, runId)).checkpoint ? true : undefined), 30_000);
    await h.admin.setFaults('crm', { down: true });
    await waitFor(
      'the attempt to fail',
      async () => (await h.db.select().from(attempts).where(eq(attempts.runId, runId))).some((a) => a.outcome === 'failed'),
      30_000,
    );
    await h.admin.clearFaults('crm');
    const run = await waitForRun(h.db, runId, ['succeeded'], 60_000);

    const rows = (await h.db.select().from(attempts).where(eq(attempts.runId, runId)).orderBy(asc(attempts.startedAt))).filter(
      (a) => a.outcome !== 'deferred',
    );
    expect(rows[0]).toMatchObject({ number: 1, outcome: 'failed' });
    // The retry resumed from the checkpoint at the tie (inclusive), not from the run's start.
    expect(rows.at(-1)).toMatchObject({ outcome: 'succeeded', resumedFrom: { updatedSince: tie } });
    const now = await synced();
    expect(group.filter((c) => now.get(c.id)?.version !== tie).map((c) => c.id)).toEqual([]);
    expectInSync(await h.admin.contacts(), now);
    expect(await outOfOrder()).toEqual([]);

    // The result counts every attempt: all 30 contacts created by this run, some of them by the
    // first attempt; the retry read those again (inclusive checkpoint) and found them unchanged.
    expect(run.result).toMatchObject({ created: 30, updated: 0, stale: 0 });
    const earlier = (run.result as { earlierAttempts: { created: number } | null }).earlierAttempts;
    expect(earlier?.created).toBeGreaterThan(0);
    expect(run.result?.summary).toContain('in earlier attempts of this run');
    expect(run.progressDone).toBe(run.result?.processed);

    // A new run starts from zero: it reads the 30 again (inclusive cursor), and what changed in the
    // lookback before this run was requested (rereadFrom, here the first test's contacts), and only
    // finds them unchanged.
    const { rereadFrom } = (await cursorOf(h.db, 'crm-sync')) as { rereadFrom: string };
    expect(rereadFrom < tie).toBe(true);
    const reread = (await h.admin.contacts()).filter((c) => c.updated_at >= rereadFrom).length;
    expect(reread).toBeGreaterThanOrEqual(30);
    const next = await runNow(h.db, h.boss, { integration: 'crm-sync', triggeredBy: 'ada@example.com' });
    const nextRun = await waitForRun(h.db, next.runId, ['succeeded'], 60_000);
    expect(nextRun.result).toMatchObject({
      processed: reread,
      created: 0,
      updated: 0,
      unchanged: reread,
      pages: Math.ceil(reread / 7),
      summary: `Created 0, updated 0, ${reread} unchanged`,
      earlierAttempts: null,
    });
    expect(nextRun.progressDone).toBe(reread);
    console.log(
      `crm ties: 30 contacts at ${tie}, pages of 7, attempts ${rows.map((a) => `${a.number}:${a.outcome}`).join(' ')}, resumed from ${JSON.stringify(rows.at(-1)!.resumedFrom)}, missing 0`,
    );
  }, 120_000);

  it('picks up, in the next run, a contact that appeared behind the walk at the updated_at it was paging', async () => {
    // A CRM whose updated_at has whole seconds (or whose transactions commit late): a contact
    // written in the second the walk is paging sorts before the walk's position when its id is
    // smaller. The walk cannot see it; a later change then moves the walk, and the cursor, past
    // that second.
    await configure(h.db, 'crm-sync', { settings: { pageSize: 5 } });
    const catchUp = await runNow(h.db, h.boss, { integration: 'crm-sync', triggeredBy: 'ada@example.com' });
    await waitForRun(h.db, catchUp.runId, ['succeeded'], 60_000);
    await sleep(1_100); // the second below is after every earlier change
    const second = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    const { run, group, behind, moved } = await contactBehindTheWalk(h, { second, idPrefix: 'same-second' });
    // The walk went past the second after the contact appeared behind it (the scenario happened).
    expect(run.result).toMatchObject({ created: group.length, updated: 1 });
    expect((await synced()).get(behind.id)).toBeUndefined();
    expect(((await cursorOf(h.db, 'crm-sync')) as { updatedSince: string }).updatedSince).toBe(moved.updated_at);

    const next = await runNow(h.db, h.boss, { integration: 'crm-sync', triggeredBy: 'ada@example.com' });
    const nextRun = await waitForRun(h.db, next.runId, ['succeeded'], 60_000);
    expect(nextRun.result).toMatchObject({ created: 1, updated: 0, stale: 0 });
    expectInSync(await h.admin.contacts(), await synced());
    expect(await outOfOrder()).toEqual([]);
    console.log(
      `crm contact behind the walk: ${group.length} contacts at ${second}, one more appeared behind the walk, then a change moved the cursor to ${moved.updated_at}; next run: ${nextRun.result?.summary}`,
    );
  }, 120_000);

  it('never applies an older version over a newer one (a delayed or superseded attempt)', async () => {
    const [contact] = await h.admin.contacts();
    const current = await h.admin.changeContact(contact.id, { name: 'Current Name GmbH' });
    const run = await runNow(h.db, h.boss, { integration: 'crm-sync', triggeredBy: 'ada@example.com' });
    await waitForRun(h.db, run.runId, ['succeeded']);
    expect((await synced()).get(contact.id)).toMatchObject({ name: 'Current Name GmbH', version: current.updated_at });

    // The page an earlier attempt read before the change, applied late.
    const older = { ...contact, name: 'Old Name GmbH' };
    const counts: ApplyCounts = { created: 0, updated: 0, unchanged: 0, stale: 0 };
    await h.db.transaction((tx) => applyContacts(tx, [older], counts));
    expect(counts).toEqual({ created: 0, updated: 0, unchanged: 0, stale: 1 });
    expect((await synced()).get(contact.id)).toMatchObject({ name: 'Current Name GmbH', version: current.updated_at });
    const [row] = await h.db.select({ name: customers.name }).from(customers).where(eq(customers.externalId, contact.id));
    expect(row.name).toBe('Current Name GmbH');
  });
});
