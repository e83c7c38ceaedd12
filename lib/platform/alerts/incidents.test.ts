import { asc, eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alerts, breakers, incidents, integrations, runs, type RunTrigger } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { platformEvents, startSendingBoss } from '../../../test/fixtures/platform';
import type { PlatformEvent } from '../execution/events';
import { openBreaker } from '../resilience/breaker';
import { exactTime } from '../when';
import { handlePlatformEvent, openIncidents, recordHandledFailure } from './incidents';

/**
 * Incident bookkeeping, driven straight through handlePlatformEvent. No channel exists in this
 * database, so every alert is recorded as undelivered and no delivery job is sent.
 */

let t: TestDatabase;
let boss: PgBoss;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startSendingBoss(t.url);
});
afterAll(async () => {
  await boss?.stop({ graceful: false });
  await t.drop();
});

const APP_URL = 'http://localhost:3000';
const at = (minutes: number) => new Date(Date.UTC(2026, 4, 1, 2, minutes)).toISOString();
const handle = (event: PlatformEvent) => handlePlatformEvent(t.db, { boss, event, appUrl: APP_URL });
const failed = (integration: string, minute: number, error = 'boom'): Extract<PlatformEvent, { type: 'run.failed' }> => ({
  type: 'run.failed',
  at: at(minute),
  integration,
  runId: `00000000-0000-4000-8000-${String(minute).padStart(12, '0')}`,
  attempts: 3,
  error,
  errorClass: 'TransientError',
  reason: 'retries_exhausted',
  startedAt: at(minute - 1),
});
const succeeded = (integration: string, minute: number): PlatformEvent => ({
  type: 'run.succeeded',
  at: at(minute),
  integration,
  runId: 'r-ok',
});
const incidentsOf = (integration: string) =>
  t.db.select().from(incidents).where(eq(incidents.integration, integration)).orderBy(asc(incidents.openedAt));
const alertsOf = (integration: string) =>
  t.db.select().from(alerts).where(eq(alerts.integration, integration)).orderBy(asc(alerts.createdAt));
describe('incidents', () => {
  it('opens one incident and one alert, counts later failures, keeps the latest error', async () => {
    const first = await handle(failed('count', 1, 'first'));
    expect(first).toEqual([expect.objectContaining({ change: 'opened', integration: 'count', kind: 'run_failed' })]);
    for (const minute of [2, 3]) expect((await handle(failed('count', minute, `error ${minute}`)))[0].change).toBe('counted');
    const [incident] = await incidentsOf('count');
    expect(incident).toMatchObject({
      eventCount: 3,
      lastError: 'TransientError: error 3',
      lastEventAt: new Date(at(3)),
      openedAt: new Date(at(1)),
      runId: '00000000-0000-4000-8000-000000000001',
    });
    expect(await alertsOf('count')).toHaveLength(1);
  });

  it('sends one update when runs fail for good of a new permanent cause (a 403 while it opened on a 503), never per failure', async () => {
    const http = (minute: number, status: number, errorClass = 'HttpError'): Extract<PlatformEvent, { type: 'run.failed' }> => ({
      ...failed('causes', minute, `GET http://crm.example/v1/contacts?page=${minute} answered ${status}`),
      errorClass,
      reason: status === 403 ? 'permanent' : 'retries_exhausted',
    });
    expect((await handle(http(1, 503)))[0].change).toBe('opened');
    // The same cause with another URL: counted.
    expect((await handle(http(2, 503)))[0].change).toBe('counted');
    const update = await handle(http(3, 403));
    expect(update).toEqual([expect.objectContaining({ change: 'updated', kind: 'run_failed', alertId: expect.any(String) })]);
    // The new cause again, and the first one again: counted, nothing sent.
    for (const [minute, status] of [
      [4, 403],
      [5, 503],
    ])
      expect((await handle(http(minute, status)))[0].change).toBe('counted');
    const sent = await alertsOf('causes');
    expect(sent.map((a) => a.body.event)).toEqual(['incident.opened', 'incident.updated']);
    expect(sent[1].body).toMatchObject({
      title: 'causes: runs now fail differently (permanent error, not retried)',
      lastError: 'HttpError: GET http://crm.example/v1/contacts?page=3 answered 403',
      failedRuns: 3,
    });
    expect(sent[1].body.text).toContain('Earlier alerts of this incident were about: HttpError 503. What fixes those may not fix this.');
    const [incident] = await incidentsOf('causes');
    expect(incident).toMatchObject({ eventCount: 5, alertedCauses: ['HttpError 503', 'HttpError 403'], closedAt: null });

    // A transient failure of a new cause (a timeout after a 503) is the same outage: counted.
    expect((await handle({ ...http(6, 504), errorClass: 'TimeoutError' }))[0].change).toBe('counted');
    // A few causes at most: past them, only counted.
    for (let i = 0; i < 6; i++) await handle({ ...http(10 + i, 400), errorClass: `Cause${i}Error`, reason: 'permanent' });
    expect((await incidentsOf('causes'))[0].alertedCauses).toHaveLength(5);
    expect(await alertsOf('causes')).toHaveLength(5);
  });

  it('records the cause quietly on an incident opened before causes were recorded', async () => {
    expect((await handle(failed('legacy', 1)))[0].change).toBe('opened');
    await t.db.update(incidents).set({ alertedCauses: [] }).where(eq(incidents.integration, 'legacy'));
    expect((await handle({ ...failed('legacy', 2), errorClass: 'OtherError', reason: 'permanent' }))[0].change).toBe('counted');
    expect((await incidentsOf('legacy'))[0].alertedCauses).toEqual(['OtherError']);
    expect(await alertsOf('legacy')).toHaveLength(1);
  });

  it('opens exactly one incident when workers handle failures of one integration at the same time', async () => {
    const results = await Promise.all([1, 2, 3, 4, 5].map((minute) => handle(failed('race', minute))));
    const changes = results.flat().map((c) => c.change);
    expect(changes.filter((c) => c === 'opened')).toHaveLength(1);
    expect(changes.filter((c) => c === 'counted')).toHaveLength(4);
    expect(await incidentsOf('race')).toMatchObject([{ eventCount: 5, closedAt: null }]);
    expect(await alertsOf('race')).toHaveLength(1);
  });

  it('closes with one recovery alert, and a later failure opens a new incident', async () => {
    await handle(failed('cycle', 1));
    await handle(failed('cycle', 2));
    expect((await handle(succeeded('cycle', 3)))[0]).toMatchObject({ change: 'closed' });
    expect((await handle(succeeded('cycle', 4)))[0]).toMatchObject({ change: 'none' });
    expect((await handle(failed('cycle', 5)))[0]).toMatchObject({ change: 'opened' });
    const rows = await incidentsOf('cycle');
    expect(rows.map((r) => [r.eventCount, r.closedAt?.toISOString() ?? null])).toEqual([
      [2, at(3)],
      [1, null],
    ]);
    expect((await alertsOf('cycle')).map((a) => a.event)).toEqual(['opened', 'recovered', 'opened']);
    const [recovery] = (await alertsOf('cycle')).filter((a) => a.event === 'recovered');
    expect(recovery.body).toMatchObject({ eventCount: 2, since: at(1) });
  });

  it('ignores late events: a failure older than its recovery, a recovery older than the incident', async () => {
    await handle(failed('late', 10));
    await handle(succeeded('late', 20));
    // The retried job of a failure at minute 15 arrives after the recovery at 20: nothing reopens.
    expect((await handle(failed('late', 15)))[0]).toMatchObject({ change: 'none' });
    await handle(failed('late', 30));
    // A success from before the failure at 30 must not close the incident that failure opened.
    expect((await handle(succeeded('late', 25)))[0]).toMatchObject({ change: 'none' });
    expect(await openIncidents(t.db, { integration: 'late' })).toMatchObject([{ openedAt: new Date(at(30)), eventCount: 1 }]);
  });

  const breaker = (type: 'breaker.opened' | 'breaker.closed', key: string, minute: number): PlatformEvent =>
    type === 'breaker.opened'
      ? { type, at: at(minute), breakerKey: key, integrations: [key], error: '503', openUntil: at(minute + 1) }
      : { type, at: at(minute), breakerKey: key, integrations: [key] };

  it('records a failure handled after its recovery as an incident closed at once, with one alert saying both', async () => {
    // The closing is handled first and finds nothing open (another worker, a retried event job).
    expect((await handle(breaker('breaker.closed', 'unseen', 2)))[0]).toMatchObject({ change: 'none' });
    // The opening it ended, handled later: the outage happened, so the channels are told, once.
    expect((await handle(breaker('breaker.opened', 'unseen', 1)))[0]).toMatchObject({ change: 'reported_late' });
    expect(await openIncidents(t.db, { integration: 'unseen' })).toEqual([]);
    expect(await incidentsOf('unseen')).toMatchObject([
      { kind: 'breaker_open', openedAt: new Date(at(1)), closedAt: new Date(at(2)), eventCount: 1, lastError: '503' },
    ]);
    const [alert] = await alertsOf('unseen');
    expect(alert.body).toMatchObject({ kind: 'breaker_open', since: at(1), at: at(2), lastError: '503' });
    expect(alert.title).toBe("unseen: circuit breaker 'unseen' opened, already recovered");
    expect(alert.body.text).toContain(`Since: ${exactTime(new Date(at(1)))}`);
    expect(alert.body.text).toContain(
      `Already recovered at ${exactTime(new Date(at(2)))}: the circuit breaker closed: requests go to the external system again (whether they succeed shows in its runs).`,
    );
    // Another kind of the same integration is not ended by that recovery.
    expect((await handle(failed('unseen', 1)))[0]).toMatchObject({ change: 'opened' });
    await handle(succeeded('unseen', 2));
    // The next outage opens a new incident and alerts as usual.
    expect((await handle(breaker('breaker.opened', 'unseen', 3)))[0]).toMatchObject({ change: 'opened' });
    expect((await handle(breaker('breaker.closed', 'unseen', 4)))[0]).toMatchObject({ change: 'closed' });
    const breakerIncidents = (await incidentsOf('unseen')).filter((i) => i.kind === 'breaker_open');
    expect(breakerIncidents.map((i) => [i.openedAt.toISOString(), i.closedAt?.toISOString()])).toEqual([
      [at(1), at(2)],
      [at(3), at(4)],
    ]);
    const breakerAlerts = (await alertsOf('unseen')).filter((a) => a.body.kind === 'breaker_open');
    expect(breakerAlerts.map((a) => a.event)).toEqual(['recovered', 'opened', 'recovered']);
  });

  it('records a late failure once, however often it is handled', async () => {
    await handle(failed('older', 5));
    await handle(succeeded('older', 7));
    // Older than the incident that opened and closed since: whether it recovered in between is not
    // known, so it is reported, closed at the recovery that came after it.
    expect((await handle(failed('older', 3)))[0]).toMatchObject({ change: 'reported_late' });
    // Its event job retried, and handled by two workers at once: nothing more.
    expect((await handle(failed('older', 3)))[0]).toMatchObject({ change: 'none' });
    const again = await Promise.all([handle(failed('older', 3)), handle(failed('older', 3))]);
    expect(again.flat().map((c) => c.change)).toEqual(['none', 'none']);
    expect(await openIncidents(t.db, { integration: 'older' })).toEqual([]);
    expect((await incidentsOf('older')).map((i) => [i.openedAt.toISOString(), i.closedAt?.toISOString()])).toEqual([
      [at(3), at(7)],
      [at(5), at(7)],
    ]);
    expect((await alertsOf('older')).map((a) => `${a.event}:${a.body.since}`)).toEqual([
      `opened:${at(4)}`,
      `recovered:${at(5)}`,
      `recovered:${at(2)}`,
    ]);
  });

  it('counts a failure older than the open incident from its time, so its retry after the recovery sends nothing', async () => {
    await handle(failed('retried', 5));
    expect((await handle(failed('retried', 3)))[0]).toMatchObject({ change: 'counted' });
    await handle(succeeded('retried', 7));
    // The job of the failure at 3 is retried (its first try committed, then lost its answer).
    expect((await handle(failed('retried', 3)))[0]).toMatchObject({ change: 'none' });
    expect(await incidentsOf('retried')).toMatchObject([{ openedAt: new Date(at(3)), closedAt: new Date(at(7)), eventCount: 2 }]);
    expect((await alertsOf('retried')).map((a) => a.event)).toEqual(['opened', 'recovered']);
  });

  it('sends nothing for a failure inside an incident a recovery closed, however late it is handled', async () => {
    await handle(failed('inside', 10));
    await handle(failed('inside', 12));
    await handle(succeeded('inside', 20));
    // A failure at 15 was never handled before the recovery: it is covered by the alerted incident.
    expect((await handle(failed('inside', 15)))[0]).toMatchObject({ change: 'none' });
    expect(await incidentsOf('inside')).toMatchObject([{ openedAt: new Date(at(10)), closedAt: new Date(at(20)), eventCount: 2 }]);
    expect((await alertsOf('inside')).map((a) => a.event)).toEqual(['opened', 'recovered']);
  });

  it('leaves nothing open when a failure and its recovery are handled at the same time by two workers', async () => {
    for (let round = 0; round < 10; round++) {
      const key = `concurrent-${round}`;
      await Promise.all([handle(breaker('breaker.opened', key, 1)), handle(breaker('breaker.closed', key, 2))]);
      expect(await openIncidents(t.db, { integration: key })).toEqual([]);
      // The opening handled first: opened and recovered; the closing first: one alert saying both.
      expect([['opened', 'recovered'], ['recovered']]).toContainEqual((await alertsOf(key)).map((a) => a.event));
      expect(await incidentsOf(key)).toMatchObject([{ openedAt: new Date(at(1)), closedAt: new Date(at(2)) }]);
    }
  });

  it('keeps breaker and credential incidents apart from run failures, one per integration', async () => {
    await handle({
      type: 'breaker.opened',
      at: at(1),
      breakerKey: 'erp',
      integrations: ['erp-a', 'erp-b', 'erp-a'],
      error: 'ECONNRESET',
      openUntil: at(2),
    });
    await handle({ type: 'credentials.failing', at: at(1), integration: 'erp-a', error: '401' });
    await handle(failed('erp-a', 1));
    expect((await incidentsOf('erp-a')).map((i) => i.kind).sort()).toEqual(['breaker_open', 'credentials', 'run_failed']);
    expect((await incidentsOf('erp-b')).map((i) => i.kind)).toEqual(['breaker_open']);

    await handle({ type: 'breaker.closed', at: at(3), breakerKey: 'erp', integrations: ['erp-a', 'erp-b'] });
    await handle({ type: 'credentials.recovered', at: at(3), integration: 'erp-a' });
    expect((await openIncidents(t.db, { integration: 'erp-a' })).map((i) => i.kind)).toEqual(['run_failed']);
    expect(await openIncidents(t.db, { integration: 'erp-b' })).toEqual([]);
  });

  it("words a breaker held open by hand as the operator's act, keeping the system's last error", async () => {
    await t.db.insert(integrations).values({ name: 'ledger-a', breakerKey: 'ledger' }).onConflictDoNothing();
    // The system failed earlier (the breaker counted it), then an operator holds the breaker open.
    await t.db
      .insert(breakers)
      .values({ key: 'ledger', state: 'closed', consecutiveFailures: 2, lastError: 'HttpError: ledger answered 502' });
    await openBreaker(t.db, { key: 'ledger', by: 'oscar@example.com', boss });
    const [event] = (await platformEvents(t.db, 'breaker.opened')).filter((e) => e.breakerKey === 'ledger');
    expect(event).toMatchObject({ openedBy: 'oscar@example.com', error: 'HttpError: ledger answered 502' });
    await handle(event as unknown as PlatformEvent);
    const [alert] = await alertsOf('ledger-a');
    expect(alert.body.text).toContain("oscar@example.com opened the circuit breaker for 'ledger' by hand.");
    expect(alert.body.text).not.toContain('repeated failures');
    expect(alert.body.text).toContain('Last error of the external system: HttpError: ledger answered 502');
    expect((await incidentsOf('ledger-a'))[0].lastError).toBe('HttpError: ledger answered 502');

    // With no failure of the system on record, the incident says who held it open.
    await t.db.insert(integrations).values({ name: 'vault-a', breakerKey: 'vault' }).onConflictDoNothing();
    await openBreaker(t.db, { key: 'vault', by: 'ada@example.com', boss });
    const [quiet] = (await platformEvents(t.db, 'breaker.opened')).filter((e) => e.breakerKey === 'vault');
    await handle(quiet as unknown as PlatformEvent);
    expect((await alertsOf('vault-a'))[0].body.text).toContain('Last error of the external system: none recorded');
    expect((await incidentsOf('vault-a'))[0].lastError).toBe('opened by hand by ada@example.com');
  });

  it('records an alert with no channel as undelivered and flags its incident', async () => {
    await handle(failed('nobody', 1));
    const [alert] = await alertsOf('nobody');
    expect(alert).toMatchObject({ status: 'undelivered', channelIds: [] });
    expect((await incidentsOf('nobody'))[0].undelivered).toBe(true);
  });

  it('records a failure handled in the past as handling it opens its incident, returning its alert unsent', async () => {
    const record = (event: Extract<PlatformEvent, { type: 'run.failed' }>) =>
      t.db.transaction((tx) => recordHandledFailure(tx, { event, appUrl: APP_URL }));
    await handle(failed('handled-now', 1, 'CRM answered 503'));
    const recorded = await record(failed('handled-then', 1, 'CRM answered 503'));
    const [now] = await incidentsOf('handled-now');
    const [then] = await incidentsOf('handled-then');
    const [alert] = await alertsOf('handled-now');
    // The same incident and opening alert, but nothing raised (no alert row, not flagged undelivered).
    const same = ({ id: _, integration: __, undelivered: ___, ...rest }: typeof now) => rest;
    expect(same(then)).toEqual(same(now));
    expect(await alertsOf('handled-then')).toEqual([]);
    expect(recorded).toMatchObject({ change: 'opened', incident: { id: then.id } });
    const message = recorded?.change === 'opened' ? recorded.message : null;
    expect(JSON.parse(JSON.stringify(message).replaceAll('handled-then', 'handled-now').replaceAll(then.id, now.id))).toEqual(alert.body);
    expect(await record(failed('handled-then', 2, 'CRM answered 503'))).toMatchObject({ change: 'counted', incident: { eventCount: 2 } });
  });
});

describe('recovery hold', () => {
  const HOLD_SECONDS = 300;
  const handleHeld = (event: PlatformEvent) =>
    handlePlatformEvent(t.db, { boss, event, appUrl: APP_URL, recoveryHoldSeconds: HOLD_SECONDS });
  /** The held recoveries queued for `integration`, oldest first, with how far ahead they start. */
  const heldRecoveries = (integration: string) =>
    t.db.execute<{ data: PlatformEvent; ahead: number }>(sql`
      select data, extract(epoch from start_after - now())::float as ahead from pgboss.job
       where name = 'platform-events' and data->>'confirmsRecovery' = 'true'
         and (data->>'integration' = ${integration} or data->'integrations' ? ${integration})
       order by created_on, (data->>'at')`);

  it('keeps a flapping integration one incident: a failure within the hold cancels the recovery, the quiet one closes it', async () => {
    expect((await handleHeld(failed('flap', 1)))[0]).toMatchObject({ change: 'opened' });
    expect((await handleHeld(succeeded('flap', 2)))[0]).toMatchObject({ change: 'held' });
    expect(await openIncidents(t.db, { integration: 'flap' })).toHaveLength(1);
    expect((await handleHeld(failed('flap', 3)))[0]).toMatchObject({ change: 'counted' });
    expect((await handleHeld(succeeded('flap', 4)))[0]).toMatchObject({ change: 'held' });

    const held = await heldRecoveries('flap');
    expect(held.map((h) => h.data.at)).toEqual([at(2), at(4)]);
    for (const h of held) expect(h.ahead).toBeGreaterThan(HOLD_SECONDS - 30);
    // The first comes back: a failure came after it, the incident stays open.
    expect((await handleHeld(held[0].data))[0]).toMatchObject({ change: 'none' });
    expect(await openIncidents(t.db, { integration: 'flap' })).toHaveLength(1);
    // The second: quiet since, the incident closes at the recovery's time with one message.
    expect((await handleHeld(held[1].data))[0]).toMatchObject({ change: 'closed' });
    expect(await incidentsOf('flap')).toMatchObject([{ eventCount: 2, closedAt: new Date(at(4)) }]);
    expect((await alertsOf('flap')).map((a) => a.event)).toEqual(['opened', 'recovered']);
    // A duplicate delivery of the same held recovery changes nothing.
    expect((await handleHeld(held[1].data))[0]).toMatchObject({ change: 'none' });
  });

  it('holds a breaker recovery once for every integration behind the breaker', async () => {
    const opened = (minute: number): PlatformEvent => ({
      type: 'breaker.opened',
      at: at(minute),
      breakerKey: 'crm',
      integrations: ['crm-a', 'crm-b'],
      error: '503',
      openUntil: null,
    });
    const closed = (minute: number): PlatformEvent => ({
      type: 'breaker.closed',
      at: at(minute),
      breakerKey: 'crm',
      integrations: ['crm-a', 'crm-b'],
    });
    await handleHeld(opened(1));
    expect((await handleHeld(closed(2))).map((c) => c.change)).toEqual(['held', 'held']);
    await handleHeld(opened(3));
    await handleHeld(closed(4));
    const held = await heldRecoveries('crm-a');
    expect(held).toHaveLength(2);
    expect((await handleHeld(held[0].data)).map((c) => c.change)).toEqual(['none', 'none']);
    expect((await handleHeld(held[1].data)).map((c) => c.change)).toEqual(['closed', 'closed']);
    for (const integration of ['crm-a', 'crm-b']) {
      expect(await incidentsOf(integration)).toMatchObject([{ kind: 'breaker_open', eventCount: 2, closedAt: new Date(at(4)) }]);
      expect((await alertsOf(integration)).map((a) => a.event)).toEqual(['opened', 'recovered']);
    }
  });

  it('counts a failure handled after the held recovery on the incident it holds, which still closes', async () => {
    await handleHeld(failed('behind', 1));
    expect((await handleHeld(succeeded('behind', 5)))[0]).toMatchObject({ change: 'held' });
    expect((await handleHeld(failed('behind', 3)))[0]).toMatchObject({ change: 'counted' });
    const [held] = await heldRecoveries('behind');
    expect((await handleHeld(held.data))[0]).toMatchObject({ change: 'closed' });
    expect(await incidentsOf('behind')).toMatchObject([{ eventCount: 2, closedAt: new Date(at(5)) }]);
    expect((await alertsOf('behind')).map((a) => a.event)).toEqual(['opened', 'recovered']);
  });

  it('lets nothing hold a recovery that has no open incident; the failure it ended, handled after it, opens nothing', async () => {
    expect((await handleHeld(succeeded('calm', 5)))[0]).toMatchObject({ change: 'none' });
    expect(await heldRecoveries('calm')).toEqual([]);
    expect((await handleHeld(failed('calm', 4)))[0]).toMatchObject({ change: 'reported_late' });
    expect(await openIncidents(t.db, { integration: 'calm' })).toEqual([]);
    expect(await heldRecoveries('calm')).toEqual([]);
    expect((await alertsOf('calm')).map((a) => a.event)).toEqual(['recovered']);
  });
});

describe('an event run failing for good after another (one outage, one incident)', () => {
  let n = 0;
  /** A failed run of `integration` (the fold looks at the incident's run). */
  async function run(integration: string, trigger: RunTrigger, retryOf?: string): Promise<string> {
    await t.db.insert(integrations).values({ name: integration, breakerKey: integration }).onConflictDoNothing();
    const id = `00000000-0000-4000-9000-${String(++n).padStart(12, '0')}`;
    await t.db
      .insert(runs)
      .values({ id, integration, trigger, retryOf, status: 'failed', triggeredBy: 't', correlationId: id, maxAttempts: 2 });
    return id;
  }
  const runFailed = (integration: string, minute: number, runId: string): PlatformEvent => ({
    ...(failed(integration, minute, 'first run: ledger 503') as Extract<PlatformEvent, { type: 'run.failed' }>),
    runId,
    pendingEvents: { count: 2, runId: 'next' },
  });
  const eventsFailed = (integration: string, minute: number, runId: string, runFailure = true): PlatformEvent => ({
    type: 'events.failed',
    at: at(minute),
    integration,
    runId,
    eventId: 'e-1',
    eventType: 'thing.changed',
    reason: 'not applied: its event run failed after 2 attempts: ledger 503',
    count: 3,
    eventIds: ['e-1', 'e-2', 'e-3'],
    ...(runFailure ? { runFailure: { attempts: 2, error: 'second run: ledger 503', errorClass: 'Error', startedAt: at(minute - 1) } } : {}),
  });
  const cleared = (integration: string, minute: number): PlatformEvent => ({
    type: 'events.cleared',
    at: at(minute),
    integration,
    runId: 'replay',
  });

  it("is counted on the first event run's incident, which the replay closes with one recovery", async () => {
    const first = await run('fold', 'event');
    expect((await handle(runFailed('fold', 1, first)))[0]).toMatchObject({ change: 'opened', kind: 'run_failed' });
    const [opened] = await alertsOf('fold');
    expect(opened.body.text).toContain(`It left 2 pending events to run next`);
    expect(opened.body.text).toContain(`${APP_URL}/integrations/fold/events?status=failed`);

    const [incident] = await incidentsOf('fold');
    expect((await handle(eventsFailed('fold', 3, await run('fold', 'event'))))[0]).toEqual({
      change: 'folded',
      incidentId: incident.id,
      integration: 'fold',
      kind: 'events_failed',
      from: 'run_failed',
    });
    expect(await incidentsOf('fold')).toMatchObject([
      {
        id: incident.id,
        kind: 'events_failed',
        eventCount: 4,
        runId: first,
        openedAt: new Date(at(1)),
        lastEventAt: new Date(at(3)),
        closedAt: null,
      },
    ]);
    expect((await incidentsOf('fold'))[0].lastError).toMatch(
      /^event run failed after 2 attempts \(Error: second run: ledger 503\); 3 events/,
    );
    // A run that succeeds does not close it (the events are still failed); the replay does, once.
    expect((await handle(succeeded('fold', 4)))[0]).toMatchObject({ change: 'none' });
    expect((await handle(cleared('fold', 5)))[0]).toMatchObject({ change: 'closed', incidentId: incident.id });
    expect((await alertsOf('fold')).map((a) => [a.event, a.incidentId])).toEqual([
      ['opened', incident.id],
      ['recovered', incident.id],
    ]);
    // Runs and events counted apart: the first run, the second (it failed the events), its 3 events.
    expect(await incidentsOf('fold')).toMatchObject([{ failedRuns: 2, failedEvents: 3 }]);
    expect((await alertsOf('fold'))[1].body.text).toContain('closed after 2 failed runs and 3 failed events');
    expect((await alertsOf('fold'))[1].body).toMatchObject({ failedRuns: 2, failedEvents: 3 });
    // The outage is over: the next event run's failure opens a new incident, with its alert.
    expect((await handle(eventsFailed('fold', 7, await run('fold', 'event'))))[0]).toMatchObject({ change: 'opened' });
  });

  it("is counted on a retry of an event run's incident too", async () => {
    const retry = await run('fold-retry', 'retry', await run('fold-retry', 'event'));
    await handle(runFailed('fold-retry', 1, retry));
    expect((await handle(eventsFailed('fold-retry', 2, await run('fold-retry', 'event'))))[0]).toMatchObject({ change: 'folded' });
    expect((await incidentsOf('fold-retry')).map((i) => i.kind)).toEqual(['events_failed']);
  });

  it('never takes the incident of another kind of run, of another integration, nor for a refused event', async () => {
    // A scheduled run's failure is another outage: its incident stays, the events get their own.
    await handle(runFailed('apart', 1, await run('apart', 'schedule')));
    expect((await handle(eventsFailed('apart', 2, await run('apart', 'event'))))[0]).toMatchObject({ change: 'opened' });
    expect((await incidentsOf('apart')).map((i) => [i.kind, i.closedAt])).toEqual([
      ['run_failed', null],
      ['events_failed', null],
    ]);
    // Another integration's event run.
    await handle(runFailed('apart-x', 1, await run('apart-x', 'event')));
    expect((await handle(eventsFailed('apart-y', 2, await run('apart-y', 'event'))))[0]).toMatchObject({ change: 'opened' });
    expect((await incidentsOf('apart-x')).map((i) => i.kind)).toEqual(['run_failed']);
    // An event its handler refused (no run failure): the run may still succeed, and close its own incident.
    await handle(runFailed('apart-z', 1, await run('apart-z', 'event')));
    expect((await handle(eventsFailed('apart-z', 2, await run('apart-z', 'event'), false)))[0]).toMatchObject({ change: 'opened' });
    expect((await incidentsOf('apart-z')).map((i) => i.kind)).toEqual(['run_failed', 'events_failed']);
  });

  it('is counted on the open events_failed incident when there is one, leaving the run_failed one as it is', async () => {
    await handle(eventsFailed('both-open', 1, await run('both-open', 'event'), false));
    await handle(runFailed('both-open', 2, await run('both-open', 'event')));
    expect((await handle(eventsFailed('both-open', 3, await run('both-open', 'event'))))[0]).toMatchObject({
      change: 'counted',
      kind: 'events_failed',
    });
    expect((await incidentsOf('both-open')).map((i) => [i.kind, i.eventCount])).toEqual([
      ['events_failed', 6],
      ['run_failed', 1],
    ]);
  });

  it('is one incident and one alert when the events.failed is handled before the run.failed', async () => {
    const first = await run('reverse', 'event');
    const second = await run('reverse', 'event');
    // The platform events queue does not keep order: the second run's failure is handled first.
    expect((await handle(eventsFailed('reverse', 3, second)))[0]).toMatchObject({ change: 'opened', kind: 'events_failed' });
    const [incident] = await incidentsOf('reverse');
    expect((await handle(runFailed('reverse', 1, first)))[0]).toEqual({
      change: 'folded',
      incidentId: incident.id,
      integration: 'reverse',
      kind: 'events_failed',
      from: 'run_failed',
    });
    expect(await incidentsOf('reverse')).toMatchObject([
      {
        id: incident.id,
        kind: 'events_failed',
        eventCount: 4,
        failedRuns: 2,
        failedEvents: 3,
        openedAt: new Date(at(1)),
        lastEventAt: new Date(at(3)),
        closedAt: null,
      },
    ]);
    // Its error stays the latest failure's (the second run's).
    expect((await incidentsOf('reverse'))[0].lastError).toMatch(/^event run failed after 2 attempts \(Error: second run: ledger 503\)/);
    expect((await handle(succeeded('reverse', 4)))[0]).toMatchObject({ change: 'none' });
    expect((await handle(cleared('reverse', 5)))[0]).toMatchObject({ change: 'closed', incidentId: incident.id });
    expect((await alertsOf('reverse')).map((a) => [a.event, a.incidentId])).toEqual([
      ['opened', incident.id],
      ['recovered', incident.id],
    ]);
    expect((await alertsOf('reverse'))[1].body.text).toContain('closed after 2 failed runs and 3 failed events');
  });

  it('sends nothing for the run.failed handled after the replay closed the incident of its events', async () => {
    const first = await run('reverse-closed', 'event');
    await handle(eventsFailed('reverse-closed', 3, await run('reverse-closed', 'event')));
    await handle(cleared('reverse-closed', 5));
    expect((await handle(runFailed('reverse-closed', 1, first)))[0]).toMatchObject({ change: 'none' });
    expect(await openIncidents(t.db, { integration: 'reverse-closed' })).toEqual([]);
    expect((await alertsOf('reverse-closed')).map((a) => a.event)).toEqual(['opened', 'recovered']);
  });

  it('is one incident and one alert when two workers handle the run.failed and the events.failed at the same time', async () => {
    for (let round = 0; round < 8; round++) {
      const key = `together-${round}`;
      const first = await run(key, 'event');
      const second = await run(key, 'event');
      // Two transactions at once (two alerting workers), in either order of start.
      const pair = [() => handle(runFailed(key, 1, first)), () => handle(eventsFailed(key, 3, second))];
      const changes = await Promise.all((round % 2 ? pair.reverse() : pair).map((f) => f()));
      expect(changes.flat().filter((c) => c.change === 'opened')).toHaveLength(1);
      expect(await incidentsOf(key)).toMatchObject([
        { kind: 'events_failed', eventCount: 4, failedRuns: 2, failedEvents: 3, openedAt: new Date(at(1)), closedAt: null },
      ]);
      expect((await alertsOf(key)).map((a) => a.event)).toEqual(['opened']);
    }
  });

  it("counts an operator's failed Run now of an events-only integration on its open events incident, in either order", async () => {
    // payment-events has no execute: any run applies its events (the runner says so: appliesEvents).
    const runNowFailed = (integration: string, minute: number, runId: string): PlatformEvent => ({
      ...(failed(integration, minute, 'run now: ledger 503') as Extract<PlatformEvent, { type: 'run.failed' }>),
      runId,
      appliesEvents: true,
    });
    await handle(eventsFailed('pay-events', 1, await run('pay-events', 'event')));
    const [incident] = await incidentsOf('pay-events');
    expect((await handle(runNowFailed('pay-events', 2, await run('pay-events', 'manual'))))[0]).toMatchObject({
      change: 'folded',
      incidentId: incident.id,
      kind: 'events_failed',
    });
    expect(await incidentsOf('pay-events')).toMatchObject([{ id: incident.id, failedRuns: 2, failedEvents: 3, closedAt: null }]);
    expect((await alertsOf('pay-events')).map((a) => a.event)).toEqual(['opened']);

    // The Run now failing first: the event run's failure after it is counted on its incident.
    await handle(runNowFailed('pay-first', 1, await run('pay-first', 'manual')));
    expect((await handle(eventsFailed('pay-first', 2, await run('pay-first', 'event'))))[0]).toMatchObject({ change: 'folded' });
    expect(await incidentsOf('pay-first')).toMatchObject([{ kind: 'events_failed', failedRuns: 2, failedEvents: 3 }]);
    expect((await alertsOf('pay-first')).map((a) => a.event)).toEqual(['opened']);

    // A Run now of an integration with an execute (it applies no events) stays its own incident.
    await handle(eventsFailed('pay-both', 1, await run('pay-both', 'event')));
    expect((await handle(failed('pay-both', 2)))[0]).toMatchObject({ change: 'opened', kind: 'run_failed' });
  });

  it('leaves an incident of refused events alone (another cause), whatever the order', async () => {
    await handle(eventsFailed('refused', 1, await run('refused', 'event'), false));
    expect((await handle(runFailed('refused', 2, await run('refused', 'event'))))[0]).toMatchObject({
      change: 'opened',
      kind: 'run_failed',
    });
  });
});
