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

const at = (ms: number) => new Date(Date.now() - 60_000 + ms).toISOString();

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
    // no breaker incident at all (an event older than a recovery never opens one).
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
    const pairs = [
      ['opened:run_failed', 'recovered:run_failed'],
      ['opened:breaker_open', 'opened:run_failed', 'recovered:breaker_open', 'recovered:run_failed'],
    ];
    expect(pairs).toContainEqual(settled.map((a) => `${a.event}:${a.body.kind}`).sort());
    const rows = await t.db.select().from(incidents).where(eq(incidents.integration, name));
    expect(rows.map((r) => [r.kind, r.eventCount]).sort()).toEqual(
      settled.length === 4
        ? [
            ['breaker_open', 1],
            ['run_failed', 40],
          ]
        : [['run_failed', 40]],
    );
    expect(http.on('/ops')).toHaveLength(settled.length);
  });
});
