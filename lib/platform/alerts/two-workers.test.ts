import { randomBytes, randomUUID } from 'node:crypto';
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alerts, incidents, integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss } from '../../../test/fixtures/platform';
import { waitFor } from '../../../test/fixtures/wait';
import { PLATFORM_EVENTS_QUEUE, type PlatformEvent } from '../execution/events';
import { ensurePlatformQueues } from '../execution/queue';
import { keyringFrom } from '../governance/crypto';
import { exactTime } from '../when';
import { startAlerting } from './alerting';
import { createChannel } from './channels';
import { startHttpReceiver, type HttpReceiver } from './test-receivers';

/**
 * Two alerting workers (each its own pg-boss, as two worker processes) on one database, fed a
 * burst of events for one integration: one alert per incident, one message per alert, whichever
 * worker handles what and in whatever batches.
 */

const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });
const HOLD_SECONDS = 2;

let t: TestDatabase;
const bosses: PgBoss[] = [];
const workers: { stop(): Promise<void> }[] = [];
let http: HttpReceiver;
let channelId: string;

beforeAll(async () => {
  t = await freshDatabase();
  http = await startHttpReceiver();
  for (let i = 0; i < 2; i++) {
    bosses.push(await startTestBoss(t.url));
  }
  const created = await createChannel(t.db, {
    input: { name: 'ops', type: 'webhook', url: `${http.url}/ops`, enabled: true },
    actor: 'admin@example.com',
    keyring,
  });
  if (!created.ok) throw new Error(created.message);
  channelId = created.id;
});
afterAll(async () => {
  for (const w of workers) await w.stop();
  for (const b of bosses) await b.stop({ graceful: false });
  await http?.close();
  await t.drop();
});

async function startWorkers() {
  for (const boss of bosses) {
    workers.push(
      await startAlerting({
        db: t.db,
        boss,
        keyring,
        appUrl: 'http://localhost:3000',
        deliveryRetry: { limit: 2, delaySeconds: 1, backoff: false },
        pollingIntervalSeconds: 0.5,
        recoveryHoldSeconds: HOLD_SECONDS,
        log: () => {},
      }),
    );
  }
}

const start = Date.now() - 60_000;
const at = (ms: number) => new Date(start + ms).toISOString();

describe('two alerting workers', () => {
  it('turn a backlog of 40 failures and a breaker opening and closing, split across their batches, into one alert and one recovery each', async () => {
    const name = 'burst';
    await t.db.insert(integrations).values({ name, breakerKey: name, alertRouting: { channelIds: [channelId] } });
    const events: PlatformEvent[] = [];
    for (let i = 0; i < 40; i++) {
      events.push({
        type: 'run.failed',
        at: at(i * 10),
        integration: name,
        runId: randomUUID(),
        attempts: 3,
        error: `503 (${i})`,
        errorClass: 'TransientError',
        reason: 'retries_exhausted',
        startedAt: at(0),
      });
    }
    // The breaker's opening ends the first batch a worker fetches (10 jobs), its closing starts the next.
    events.splice(
      9,
      0,
      { type: 'breaker.opened', at: at(100), breakerKey: name, integrations: [name], error: '503', openUntil: at(200) },
      { type: 'breaker.closed', at: at(150), breakerKey: name, integrations: [name] },
    );
    events.push({ type: 'run.succeeded', at: at(600), integration: name, runId: randomUUID() });
    // The backlog is queued before either worker starts (a worker restart), in the order it happened.
    await ensurePlatformQueues(bosses[0]);
    for (const event of events) await bosses[0].send(PLATFORM_EVENTS_QUEUE, event);
    await startWorkers();

    // Whichever worker handles what first: the closing handled before the opening it ended leaves
    // the breaker incident recorded closed, with one alert saying both.
    const settled = await waitFor(
      'every event handled, no incident open and every alert delivered',
      async () => {
        const [{ waiting }] = await t.db.$client<{ waiting: number }[]>`
          select count(*)::int as waiting from pgboss.job where name = ${PLATFORM_EVENTS_QUEUE} and state < 'completed'`;
        const open = await t.db
          .select()
          .from(incidents)
          .where(and(eq(incidents.integration, name), isNull(incidents.closedAt)));
        const rows = await t.db.select().from(alerts).where(eq(alerts.integration, name)).orderBy(asc(alerts.createdAt));
        return waiting === 0 && open.length === 0 && rows.length > 0 && rows.every((a) => a.status === 'delivered') ? rows : undefined;
      },
      30_000,
    );
    const orders = [
      ['opened:run_failed', 'recovered:breaker_open', 'recovered:run_failed'],
      ['opened:breaker_open', 'opened:run_failed', 'recovered:breaker_open', 'recovered:run_failed'],
    ];
    expect(orders).toContainEqual(settled.map((a) => `${a.event}:${a.body.kind}`).sort());
    const rows = await t.db.select().from(incidents).where(eq(incidents.integration, name));
    expect(rows.map((r) => [r.kind, r.eventCount, r.openedAt.toISOString(), r.closedAt?.toISOString()]).sort()).toEqual([
      ['breaker_open', 1, at(100), at(150)],
      ['run_failed', 40, at(0), at(600)],
    ]);
    expect(http.on('/ops')).toHaveLength(settled.length);
  });

  it('tell the channels once of a breaker opening they handle after its closing, and alert on the next outage as usual', async () => {
    const name = 'reordered';
    await t.db.insert(integrations).values({ name, breakerKey: name, alertRouting: { channelIds: [channelId] } });
    const opened = (ms: number): PlatformEvent => ({
      type: 'breaker.opened',
      at: at(ms),
      breakerKey: name,
      integrations: [name],
      error: '503 (down)',
      openUntil: at(ms + 50),
    });
    const closed = (ms: number): PlatformEvent => ({ type: 'breaker.closed', at: at(ms), breakerKey: name, integrations: [name] });
    const handled = async (count: number) =>
      waitFor(
        `${count} events of ${name} handled`,
        async () => {
          const [{ done }] = await t.db.$client<{ done: number }[]>`
            select count(*)::int as done from pgboss.job
             where name = ${PLATFORM_EVENTS_QUEUE} and state = 'completed' and data->'integrations' ? ${name}`;
          return done >= count ? done : undefined;
        },
        30_000,
      );
    const delivered = async (count: number) =>
      waitFor(
        `${count} alerts of ${name} delivered`,
        async () => {
          const rows = await t.db.select().from(alerts).where(eq(alerts.integration, name)).orderBy(asc(alerts.createdAt));
          return rows.length >= count && rows.every((a) => a.status === 'delivered') ? rows : undefined;
        },
        30_000,
      );
    // The closing is handled first; the opening it ended comes later (its job retried, a worker that was down).
    await bosses[1].send(PLATFORM_EVENTS_QUEUE, closed(1_000));
    await handled(1);
    await bosses[1].send(PLATFORM_EVENTS_QUEUE, opened(500));
    const [late] = await delivered(1);
    expect(late.event).toBe('recovered');
    const message = http.on(`/ops`).find((r) => (r.json as { incidentId?: string }).incidentId === late.incidentId)?.json;
    expect(message).toMatchObject({
      event: 'incident.recovered',
      kind: 'breaker_open',
      since: at(500),
      at: at(1_000),
      lastError: '503 (down)',
    });
    expect((message as { text: string }).text).toContain(`Already recovered at ${exactTime(new Date(at(1_000)))}`);

    // The next outage, after the recovery hold: an opening alert and a recovery, a new incident.
    await bosses[1].send(PLATFORM_EVENTS_QUEUE, opened(2_000));
    await bosses[1].send(PLATFORM_EVENTS_QUEUE, closed(3_000));
    const settled = await delivered(3);
    await handled(5); // the held closing came back once
    expect(settled.map((a) => a.event)).toEqual(['recovered', 'opened', 'recovered']);
    const rows = await t.db.select().from(incidents).where(eq(incidents.integration, name)).orderBy(asc(incidents.openedAt));
    expect(rows.map((r) => [r.openedAt.toISOString(), r.closedAt?.toISOString()])).toEqual([
      [at(500), at(1_000)],
      [at(2_000), at(3_000)],
    ]);
    expect(http.on('/ops').filter((r) => (r.json as { integration?: string }).integration === name)).toHaveLength(3);
  });

  it('alert once for an event run that failed and the next one that failed its events, whichever is handled first', async () => {
    const runFailed = (name: string, ms: number): PlatformEvent => ({
      type: 'run.failed',
      at: at(ms),
      integration: name,
      runId: randomUUID(),
      attempts: 2,
      error: 'ledger 503',
      errorClass: 'TransientError',
      reason: 'retries_exhausted',
      startedAt: at(ms - 100),
      pendingEvents: { count: 2, runId: randomUUID() },
      appliesEvents: true,
    });
    const eventsFailed = (name: string, ms: number): PlatformEvent => ({
      type: 'events.failed',
      at: at(ms),
      integration: name,
      runId: randomUUID(),
      eventId: 'e-1',
      eventType: 'payment.succeeded',
      reason: 'not applied: its event run failed after 2 attempts: ledger 503',
      count: 2,
      eventIds: ['e-1', 'e-2'],
      runFailure: { attempts: 2, error: 'ledger 503', errorClass: 'TransientError', startedAt: at(ms - 100) },
    });
    const names = ['outage-0', 'outage-1', 'outage-2', 'outage-3'];
    for (const name of names) await t.db.insert(integrations).values({ name, breakerKey: name, alertRouting: { channelIds: [channelId] } });
    // outage-0: the events.failed is handled, then the run.failed of the run before (queued late).
    await bosses[0].send(PLATFORM_EVENTS_QUEUE, eventsFailed('outage-0', 2_000));
    await waitFor(
      'the events.failed handled',
      async () => ((await t.db.select().from(incidents).where(eq(incidents.integration, 'outage-0'))).length ? true : undefined),
      30_000,
    );
    await bosses[1].send(PLATFORM_EVENTS_QUEUE, runFailed('outage-0', 1_000));
    // The others: both at once, each sent through another worker's pg-boss, the later one first.
    await Promise.all(
      names
        .slice(1)
        .flatMap((name) => [
          bosses[0].send(PLATFORM_EVENTS_QUEUE, eventsFailed(name, 2_000)),
          bosses[1].send(PLATFORM_EVENTS_QUEUE, runFailed(name, 1_000)),
        ]),
    );
    for (const name of names) {
      const rows = await waitFor(
        `both events of ${name} counted on one incident`,
        async () => {
          const found = await t.db.select().from(incidents).where(eq(incidents.integration, name));
          return found.length === 1 && found[0].eventCount === 3 ? found : found.length > 1 ? found : undefined;
        },
        30_000,
      );
      expect(rows).toMatchObject([
        { kind: 'events_failed', failedRuns: 2, failedEvents: 2, openedAt: new Date(at(1_000)), closedAt: null },
      ]);
      const sent = await t.db.select().from(alerts).where(eq(alerts.integration, name));
      expect(sent.map((a) => a.event)).toEqual(['opened']);
    }
  });
});
