import { and, eq, inArray, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../db/client';
import * as schema from '../../../db/schema';
import { integrations, webhookEvents } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { runsScanned } from '../../../test/explain';
import { startSendingBoss } from '../../../test/fixtures/platform';
import { handlePlatformEvent } from '../alerts';
import type { PlatformEvent } from '../execution/events';
import { FAILING_STATES, getBreakerView, inState, listInventory } from './inventory';
import { awaitingActionFilter, awaitingActionSince, listRuns } from './run-queries';
import { sealRunHours } from './run-rollup';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values([
    { name: 'busy', breakerKey: 'busy' },
    { name: 'steady', breakerKey: 'steady' },
    { name: 'stale', description: 'ran only last week', breakerKey: 'stale' },
    { name: 'dry', description: 'only dry-runs lately', breakerKey: 'dry' },
    { name: 'never', description: 'never ran', breakerKey: 'never' },
  ]);
});
afterAll(() => t.drop());

/** The 24 h counts and the last run as a plain per-integration recount, without any index in mind. */
async function recount(db: Parameters<typeof listInventory>[0]) {
  const rows = await db.execute<{
    name: string;
    finished: number;
    succeeded: number;
    last_id: string | null;
    last_status: string | null;
  }>(sql`
    select i.name,
           (select count(*) from runs r where r.integration = i.name and not r.dry_run and r.created_at > now() - interval '24 hours'
               and r.status in ('succeeded', 'failed'))::int as finished,
           (select count(*) from runs r where r.integration = i.name and not r.dry_run and r.created_at > now() - interval '24 hours'
               and r.status = 'succeeded')::int as succeeded,
           (select r.id from runs r where r.integration = i.name and not r.dry_run order by r.created_at desc, r.id desc limit 1) as last_id,
           (select r.status from runs r where r.integration = i.name and not r.dry_run order by r.created_at desc, r.id desc limit 1) as last_status
      from integrations i order by i.name`);
  return Object.fromEntries(rows.map((r) => [r.name, r]));
}

describe('inventory at volume', () => {
  it('agrees with a per-integration recount across statuses, dry-runs, the 24 h boundary and an integration that never ran', async () => {
    // 3 000 runs over 48 h, every status, 1 in 7 a dry-run, and a stale integration's runs of last week.
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, dry_run, triggered_by, correlation_id, max_attempts, created_at)
      select (array['busy', 'busy', 'steady', 'dry'])[1 + g % 4], 'schedule'::run_trigger,
             (array['succeeded', 'succeeded', 'failed', 'queued', 'running', 'retrying', 'deferred', 'cancelled'])[1 + (g * 7) % 8]::run_status,
             g % 7 = 0 or (g % 4 = 3 and g < 1500), 'schedule', 'c', 3,
             now() - make_interval(secs => g * 57.6)
        from generate_series(0, 2999) g
      union all
      select 'stale', 'manual', 'succeeded', false, 'ada', 'c', 3, now() - make_interval(days => 6 + g) from generate_series(0, 9) g`);

    // One transaction, so listInventory and the recount share now(): runs exactly 24 h old (not
    // counted) and a few seconds either side of it.
    await t.db.transaction(async (tx) => {
      await tx.execute(sql`
        insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
        select (array['busy', 'steady'])[1 + (g + 5) % 2], 'schedule', (case when (g + 5) % 3 = 0 then 'failed' else 'succeeded' end)::run_status,
               'schedule', 'c', 3, now() - interval '24 hours' + make_interval(secs => g)
          from generate_series(-5, 5) g`);
      const expected = await recount(tx);
      const rows = await listInventory(tx);
      expect(rows.map((r) => r.name).sort()).toEqual(Object.keys(expected).sort());
      for (const row of rows) {
        const e = expected[row.name];
        expect({
          name: row.name,
          finished: row.finished24h,
          succeeded: row.succeeded24h,
          lastId: row.lastRun?.id ?? null,
          lastStatus: row.lastRun?.status ?? null,
        }).toEqual({
          name: e.name,
          finished: e.finished,
          succeeded: e.succeeded,
          lastId: e.last_id,
          lastStatus: e.last_status,
        });
        expect(await listInventory(tx, { name: row.name })).toEqual([row]);
      }
      expect(expected.busy.finished).toBeGreaterThan(0);
      expect(expected.steady.succeeded).toBeLessThan(expected.steady.finished);
      expect(expected.stale.finished).toBe(0);
      expect(expected.stale.last_id).not.toBeNull();
      expect(expected.never.last_id).toBeNull();
      expect((await listInventory(tx, { search: 'dry-runs' })).map((r) => r.name)).toEqual(['dry']);
    });
  });

  it('reads only the last 24 hours of runs and one entry per integration, even for an integration that never ran', async () => {
    // 40 000 runs over 40 days for four integrations (1 000 a day); 'never' has none.
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
      select (array['busy', 'steady', 'stale', 'dry'])[1 + g % 4], 'schedule',
             (case when g % 20 = 0 then 'failed' else 'succeeded' end)::run_status, 'schedule', 'c', 3,
             now() - interval '2 days' - make_interval(secs => g * 86.4)
        from generate_series(0, 39999) g`);
    await t.db.execute(sql`analyze runs`);
    const captured: { query: string; params: unknown[] }[] = [];
    const logging = drizzle(t.db.$client, {
      schema,
      logger: { logQuery: (query, params) => captured.push({ query, params }) },
    }) as unknown as Database;
    await listInventory(logging);
    // The database's clock, then the one statement.
    expect(captured).toHaveLength(2);
    const [{ 'QUERY PLAN': plan }] = await t.db.$client.unsafe(
      `explain (analyze, format json) ${captured[1].query}`,
      captured[1].params as never[],
    );
    const root = (typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan as Record<string, unknown>;
    const [{ total, last24h }] = await t.db.execute<{ total: number; last24h: number }>(
      sql`select count(*)::int as total, (count(*) filter (where created_at > now() - interval '24 hours'))::int as last24h from runs`,
    );
    expect(total).toBeGreaterThanOrEqual(40_000);
    // The 24 h pass plus the last run of each integration (past the newest dry-runs of 'dry'); a
    // plan that walks runs_created_idx for 'never' until it runs out reads all of them instead.
    const scanned = runsScanned(root);
    // Some rows are read (the plan names the week partitions it scans).
    expect(scanned).toBeGreaterThan(0);
    expect(scanned).toBeLessThan(last24h + 1_000);
  });

  it("counts an open run_failed incident's runs not retried yet from that integration's runs only", async () => {
    // 20 000 failed runs of 'steady' nobody retried, 2 to 5 days old; 'busy' has an incident open.
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
      select 'steady', 'schedule', 'failed', 'schedule', 'c', 3, now() - interval '2 days' - make_interval(secs => g * 12.96)
        from generate_series(0, 19999) g`);
    await t.db.execute(sql`insert into incidents (integration, kind, failed_runs) values ('busy', 'run_failed', 3)`);
    await t.db.execute(sql`analyze runs`);
    try {
      const captured: { query: string; params: unknown[] }[] = [];
      const logging = drizzle(t.db.$client, {
        schema,
        logger: { logQuery: (query, params) => captured.push({ query, params }) },
      }) as unknown as Database;
      const [busy] = (await listInventory(logging)).filter((r) => r.name === 'busy');
      const [{ awaiting, last24h }] = await t.db.execute<{ awaiting: number; last24h: number }>(sql`
        select (count(*) filter (where integration = 'busy' and status = 'failed' and not dry_run and retried_at is null
                                   and created_at >= ${awaitingActionSince(new Date()).toISOString()}::timestamptz))::int as awaiting,
               (count(*) filter (where created_at > now() - interval '24 hours'))::int as last24h
          from runs`);
      expect(awaiting).toBeGreaterThan(0);
      expect(busy.failingReasons.map((r) => r.text)).toContain(
        `3 failed runs in this incident; ${awaiting} of the last 7 days await a retry`,
      );
      const [{ 'QUERY PLAN': plan }] = await t.db.$client.unsafe(
        `explain (analyze, format json) ${captured[1].query}`,
        captured[1].params as never[],
      );
      const root = (typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan as Record<string, unknown>;
      // The 24 h pass, the last runs, and busy's awaiting runs (runs_awaiting_retry_by_integration_idx,
      // migration 0039); with only runs_awaiting_action_idx (by created_at) it read steady's 20 000 too.
      expect(runsScanned(root)).toBeLessThan(last24h + awaiting + 1_000);
    } finally {
      await t.db.execute(sql`delete from incidents where integration = 'busy'`);
      await t.db.execute(
        sql`delete from runs where integration = 'steady' and status = 'failed' and created_at < now() - interval '2 days' + interval '1 second'`,
      );
    }
  });
});

describe('inventory 24 h counts with the hours sealed', () => {
  it("reads live only the runs of the hours the rollup does not cover, whatever the planner's estimates", async () => {
    // A database of its own: the other tests leave active runs that keep their hours unsealed.
    const own = await freshDatabase();
    try {
      await own.db.insert(integrations).values([
        { name: 'busy', breakerKey: 'busy' },
        { name: 'steady', breakerKey: 'steady' },
      ]);
      // 60 000 finished runs over the last 23 hours; every closed hour sealed into the rollup.
      await own.db.execute(sql`
        insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at, finished_at)
        select (array['busy', 'steady'])[1 + g % 2], 'schedule', 'succeeded', 'schedule', 'c', 3,
               now() - make_interval(secs => g * 1.38), now() - make_interval(secs => g * 1.38)
          from generate_series(0, 59999) g`);
      await sealRunHours(own.db);
      await own.db.execute(sql`analyze runs`);
      const captured: { query: string; params: unknown[] }[] = [];
      const logging = drizzle(own.db.$client, {
        schema,
        logger: { logQuery: (query, params) => captured.push({ query, params }) },
      }) as unknown as Database;
      const rows = await listInventory(logging);
      const [{ live, day }] = await own.db.execute<{ live: number; day: number }>(sql`
        select (select count(*) from run_rollup_live_ranges(now()) l join runs r on r.created_at >= l.lo and r.created_at < l.hi
                 where r.created_at > now() - interval '24 hours')::int as live,
               (select count(*) from runs where created_at > now() - interval '24 hours')::int as day`);
      expect(rows.map((r) => r.finished24h).reduce((a, b) => a + b, 0)).toBe(day);
      expect(live).toBeLessThan(day / 4);
      const [{ 'QUERY PLAN': plan }] = await own.db.$client.unsafe(
        `explain (analyze, format json) ${captured[1].query}`,
        captured[1].params as never[],
      );
      const root = (typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan as Record<string, unknown>;
      // The current hour and the partial one 24 hours back (and the last runs): not the whole day.
      expect(runsScanned(root)).toBeLessThan(live + 1_000);
    } finally {
      await own.drop();
    }
  });
});

describe('breaker view', () => {
  it("gives each integration's configured failure threshold, not the breaker's current count", async () => {
    await t.db.insert(integrations).values([
      { name: 'erp-a', breakerKey: 'erp', breakerFailures: 7 },
      { name: 'erp-b', breakerKey: 'erp', breakerFailures: 3 },
    ]);
    await t.db.execute(sql`insert into breakers (key, state, consecutive_failures) values ('erp', 'open', 2)`);
    const view = await getBreakerView(t.db, { key: 'erp' });
    expect(view.consecutiveFailures).toBe(2);
    expect(view.integrations).toEqual(['erp-a', 'erp-b']);
    expect(view.failureThresholds).toEqual({ 'erp-a': 7, 'erp-b': 3 });
    expect((await getBreakerView(t.db, { key: 'nobody' })).failureThresholds).toEqual({});
  });
});

describe('why an integration is failing', () => {
  let boss: PgBoss;
  beforeAll(async () => {
    boss = await startSendingBoss(t.url);
  });
  afterAll(() => boss?.stop({ graceful: false }));
  const handle = (event: PlatformEvent) => handlePlatformEvent(t.db, { boss, event, appUrl: 'http://localhost:3000' });
  const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);

  async function runsOf(integration: string, statuses: ('succeeded' | 'failed')[]): Promise<string[]> {
    const ids: string[] = [];
    for (const [i, status] of statuses.entries()) {
      const created = new Date(Date.now() - (statuses.length - i) * 60_000);
      const [row] = await t.db.execute<{ id: string }>(sql`
        insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at, started_at, finished_at)
        values (${integration}, 'schedule', ${status}::run_status, 'schedule', 'c', 3, ${created.toISOString()}::timestamptz,
                ${created.toISOString()}::timestamptz, ${created.toISOString()}::timestamptz)
        returning id`);
      ids.push(row.id);
    }
    return ids;
  }

  it('names the open failed-events incident of an integration whose runs succeed, and links to its failed events', async () => {
    await t.db.insert(integrations).values({ name: 'payment-hooks', breakerKey: 'payment-hooks' });
    const [, , lastRunId] = await runsOf('payment-hooks', ['succeeded', 'succeeded', 'succeeded']);
    const since = hoursAgo(2);
    await t.db.insert(webhookEvents).values(
      ['evt_1', 'evt_2', 'evt_3'].map((eventId) => ({
        integration: 'payment-hooks',
        eventId,
        eventType: 'payment.succeeded',
        payload: {},
        status: 'failed' as const,
        outcome: 'refused by the handler: invoice INV-9 does not exist',
      })),
    );
    const changes = await handle({
      type: 'events.failed',
      at: since.toISOString(),
      integration: 'payment-hooks',
      runId: lastRunId,
      eventId: 'evt_1',
      eventType: 'payment.succeeded',
      reason: 'invoice INV-9 does not exist',
      count: 3,
      eventIds: ['evt_1', 'evt_2', 'evt_3'],
    });
    expect(changes).toEqual([expect.objectContaining({ change: 'opened', kind: 'events_failed' })]);

    const [row] = await listInventory(t.db, { name: 'payment-hooks' });
    // The defect as a user saw it: red, although the last run succeeded, 100 % in 24 h, breaker closed.
    expect(row).toMatchObject({
      state: 'failing',
      lastRun: { id: lastRunId, status: 'succeeded' },
      successRate24h: 1,
      breakerState: 'closed',
    });
    expect(row.failingReasons).toEqual([
      {
        kind: 'events_failed',
        text: '3 failed webhook events',
        since,
        incidentOpen: true,
        href: '/integrations/payment-hooks/events?status=failed',
        action: 'Review failed events',
      },
    ]);
    // The same row when the whole inventory is read.
    expect((await listInventory(t.db)).find((r) => r.name === 'payment-hooks')).toEqual(row);

    // Two dismissed: the reason counts the one failed now (before: still "3", the incident's count,
    // beside a Failed tab holding one), and the incident stays open for it.
    await t.db
      .update(webhookEvents)
      .set({ status: 'dismissed' })
      .where(and(eq(webhookEvents.integration, 'payment-hooks'), inArray(webhookEvents.eventId, ['evt_1', 'evt_2'])));
    const [partly] = await listInventory(t.db, { name: 'payment-hooks' });
    expect(partly.failingReasons).toEqual([expect.objectContaining({ kind: 'events_failed', text: '1 failed webhook event' })]);
    // The last one being replayed: none failed now, the incident open until its run ends.
    await t.db.update(webhookEvents).set({ status: 'pending', replayedFrom: 'failed' }).where(eq(webhookEvents.eventId, 'evt_3'));
    const [replaying] = await listInventory(t.db, { name: 'payment-hooks' });
    expect(replaying.failingReasons).toEqual([
      expect.objectContaining({ kind: 'events_failed', text: 'failed webhook events being replayed' }),
    ]);

    // Replayed (or dismissed): the incident closes, and with it the reason and the red state.
    expect(await handle({ type: 'events.cleared', at: new Date().toISOString(), integration: 'payment-hooks', runId: lastRunId })).toEqual([
      expect.objectContaining({ change: 'closed', kind: 'events_failed' }),
    ]);
    expect(await listInventory(t.db, { name: 'payment-hooks' })).toEqual([
      expect.objectContaining({ state: 'healthy', openIncidents: 0, failingReasons: [] }),
    ]);
  });

  it('names a failed last run with no incident yet, then the failed runs its incident counts', async () => {
    await t.db.insert(integrations).values({ name: 'ledger-sync', breakerKey: 'ledger-sync' });
    const [, first, second] = await runsOf('ledger-sync', ['succeeded', 'failed', 'failed']);
    const [before] = await listInventory(t.db, { name: 'ledger-sync' });
    expect(before.state).toBe('failing');
    expect(before.failingReasons).toEqual([
      {
        kind: 'last_run',
        text: 'last run failed',
        since: before.lastRun!.finishedAt,
        incidentOpen: false,
        href: `/runs/${second}`,
        action: 'Open the run',
      },
    ]);

    const failed = (runId: string, at: Date): PlatformEvent => ({
      type: 'run.failed',
      at: at.toISOString(),
      integration: 'ledger-sync',
      runId,
      attempts: 3,
      error: 'ledger answered 503',
      errorClass: 'TransientError',
      reason: 'retries_exhausted',
      startedAt: at.toISOString(),
    });
    const firstAt = hoursAgo(1);
    await handle(failed(first, firstAt));
    await handle(failed(second, hoursAgo(0.5)));
    const [after] = await listInventory(t.db, { name: 'ledger-sync' });
    // The incident counts both runs: the last run is not named a second time. Neither is retried:
    // the link lists them as the Overview's "awaiting action" does, of this integration.
    const since = awaitingActionSince(new Date());
    expect(after.failingReasons).toEqual([
      {
        kind: 'run_failed',
        text: '2 failed runs in this incident; 2 of the last 7 days await a retry',
        since: firstAt,
        incidentOpen: true,
        href: `/runs?${new URLSearchParams({ integration: 'ledger-sync', ...awaitingActionFilter(since) })}`,
        action: 'Retry them',
      },
    ]);
    const linked = await listRuns(t.db, { integration: 'ledger-sync', ...awaitingActionFilter(since) });
    expect(linked.items.map((r) => r.id).sort()).toEqual([first, second].sort());

    // One retried (and its retry failed too, counted by the incident): the count follows the runs,
    // not the incident, which still counts every failure since it opened.
    await t.db.execute(sql`update runs set retried_at = now() where id = ${first}`);
    const [retry] = await runsOf('ledger-sync', ['failed']);
    await t.db.execute(sql`update runs set retry_of = ${first} where id = ${retry}`);
    await handle(failed(retry, new Date()));
    const [oneRetried] = await listInventory(t.db, { name: 'ledger-sync' });
    expect(oneRetried.failingReasons.map((r) => [r.text, r.action])).toEqual([
      ['3 failed runs in this incident; 2 of the last 7 days await a retry', 'Retry them'],
    ]);

    await t.db.execute(sql`update runs set retried_at = now() where id in (${second}, ${retry})`);
    const [allRetried] = await listInventory(t.db, { name: 'ledger-sync' });
    expect(allRetried.failingReasons).toEqual([
      expect.objectContaining({
        text: '3 failed runs in this incident; none of the last 7 days awaits a retry',
        href: '/runs?integration=ledger-sync&status=failed',
        action: 'See failed runs',
      }),
    ]);
  });

  it('says an incident held open after its recovery is recovered, not still failing', async () => {
    // ALERT_RECOVERY_HOLD_SECONDS keeps an incident open after its recovery (flap damping). Before,
    // the console said "circuit breaker opened" beside a closed breaker, and "failed webhook events
    // being replayed" after the last one was dismissed, for the whole hold.
    await t.db.insert(integrations).values([
      { name: 'held-crm', breakerKey: 'held-crm' },
      { name: 'held-hooks', breakerKey: 'held-hooks' },
    ]);
    await t.db.execute(sql`
      insert into incidents (integration, kind, opened_at, last_event_at, failed_runs, failed_events)
      values ('held-crm', 'breaker_open', now() - interval '10 minutes', now() - interval '5 minutes', null, null),
             ('held-hooks', 'events_failed', now() - interval '10 minutes', now() - interval '5 minutes', 0, 2)`);
    // A recovery older than the last failure does not count.
    await t.db.execute(sql`
      insert into incident_recoveries (integration, kind, recovered_at)
      values ('held-crm', 'breaker_open', now() - interval '8 minutes')`);
    const text = async (name: string) => (await listInventory(t.db, { name }))[0].failingReasons.map((r) => r.text);
    expect(await text('held-crm')).toEqual(['circuit breaker opened']);
    await t.db.execute(sql`update incident_recoveries set recovered_at = now() - interval '1 minute' where integration = 'held-crm'`);
    await t.db.execute(sql`
      insert into incident_recoveries (integration, kind, recovered_at)
      values ('held-hooks', 'events_failed', now() - interval '1 minute')`);
    const held = 'recovered: the incident closes once the recovery hold passes without another failure';
    expect(await text('held-crm')).toEqual([`circuit breaker opened; ${held}`]);
    expect(await text('held-hooks')).toEqual([`no failed webhook event left; ${held}`]);
    // Gone again, so the tests that read the whole inventory do not see them.
    await t.db.execute(sql`delete from incidents where integration in ('held-crm', 'held-hooks')`);
    await t.db.execute(sql`delete from incident_recoveries where integration in ('held-crm', 'held-hooks')`);
    await t.db.delete(integrations).where(inArray(integrations.name, ['held-crm', 'held-hooks']));
  });

  it('gives no reason for an integration that is not failing', async () => {
    await t.db.insert(integrations).values([
      { name: 'quiet', breakerKey: 'quiet' },
      { name: 'rested', breakerKey: 'rested', paused: true },
    ]);
    await runsOf('rested', ['failed', 'succeeded']);
    const rows = await listInventory(t.db, { search: '' });
    expect(rows.filter((r) => r.name === 'quiet' || r.name === 'rested').map((r) => [r.name, r.state, r.health, r.failingReasons])).toEqual(
      [
        ['quiet', 'new', 'new', []],
        ['rested', 'paused', 'healthy', []],
      ],
    );
  });

  it('keeps what a pause does not stop: an open breaker, failing credentials, a failed run', async () => {
    await t.db.insert(integrations).values([
      { name: 'held-failing', breakerKey: 'held-failing', paused: true },
      { name: 'held-broken', breakerKey: 'held-broken', paused: true },
      {
        name: 'held-creds',
        breakerKey: 'held-creds',
        paused: true,
        credentialsFailingSince: new Date(),
        credentialsError: 'invalid_client',
      },
    ]);
    const [failedRun] = await runsOf('held-failing', ['failed']);
    await t.db.execute(
      sql`insert into breakers (key, state, opened_at, open_until) values ('held-broken', 'open', now(), now() + interval '1 minute')`,
    );
    const rows = await listInventory(t.db, { search: 'held-' });
    expect(rows.map((r) => [r.name, r.state, r.health])).toEqual([
      ['held-broken', 'paused', 'breaker_open'],
      ['held-creds', 'paused', 'credentials_failing'],
      ['held-failing', 'paused', 'failing'],
    ]);
    expect(rows.find((r) => r.name === 'held-failing')!.failingReasons).toEqual([
      expect.objectContaining({ kind: 'last_run', text: 'last run failed', href: `/runs/${failedRun}` }),
    ]);
    // What the Overview's cards and the inventory's filters count: paused, and in its problem.
    const [broken, creds, failing] = rows;
    expect([broken, creds, failing].map((r) => inState(r, ['paused']))).toEqual([true, true, true]);
    expect([broken, creds, failing].map((r) => inState(r, ['breaker_open']))).toEqual([true, false, false]);
    expect([broken, creds, failing].map((r) => inState(r, FAILING_STATES))).toEqual([false, true, true]);
    expect([broken, creds, failing].map((r) => inState(r, ['healthy']))).toEqual([false, false, false]);
  });
});
