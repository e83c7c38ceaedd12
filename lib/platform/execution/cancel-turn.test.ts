import { eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runs, webhookEvents } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startIntakeServer } from '../../../test/fixtures/intake-server';
import { startTestBoss, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IncomingEvent, type IntegrationDefinition } from '../contract';
import { keyringFrom } from '../governance/crypto';
import { addWebhookSecret } from '../intake/secrets';
import { buildRegistry, syncRegistry } from '../registry';
import { cancelRun } from '../triggers/triggers';
import { startPlatformWorker, type PlatformWorker } from './worker';

/**
 * A run cancelled while its handler is busy is 'cancelled' at once, but its handler goes on until
 * it notices or returns (here: inside its host transaction), and the turn logic (run-order.ts) no
 * longer counts the run. The newer version of a key that arrives meanwhile must still be applied
 * after the older one the busy handler holds, never before: the run's job stays active until its
 * attempt ends (the runs queue has one active job per integration), and the next run would wait
 * anyway for the row lock the cancelled run's batch holds on the older event.
 */

/** Released by the test: the handler of event 'slow' waits for it with its transaction open. */
const release = Promise.withResolvers<void>();
const slowEntered = Promise.withResolvers<void>();

const defs = [
  defineIntegration({
    name: 'ledger-events',
    description: 'Writes the latest version of each key on the host; relies on the platform for the order',
    settings: z.object({}),
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      orderingKeyFrom: (d) => (d.body as { key?: string }).key,
      versionFrom: (d) => (d.body as { version?: number }).version,
      batchSize: 1,
      async handle(events: IncomingEvent[], _ctx, tx) {
        for (const e of events) {
          const p = e.payload as { key: string; version: number; slow?: boolean };
          if (p.slow) {
            slowEntered.resolve();
            await release.promise;
          }
          await tx.execute(sql`
            insert into host_state (key, version) values (${p.key}, ${p.version})
            on conflict (key) do update set version = excluded.version`);
        }
      },
    },
  }),
] as IntegrationDefinition[];

let t: TestDatabase;
let boss: PgBoss;
let worker: PlatformWorker;
let intake: Awaited<ReturnType<typeof startIntakeServer>>;
let secret: string;
const keyring = keyringFrom({ key: Buffer.alloc(32, 5).toString('base64'), keyId: 'k1' });

beforeAll(async () => {
  t = await freshDatabase();
  await t.db.execute(sql`create table host_state (key text primary key, version int not null)`);
  boss = await startTestBoss(t.url);
  const registry = buildRegistry(defs);
  await syncRegistry(t.db, { registry });
  secret = (await addWebhookSecret(t.db, keyring, { def: registry.get('ledger-events')!, label: 'main', actor: 'ada' })).generated!;
  intake = await startIntakeServer({ db: t.db, boss, registry, keyring });
  worker = await startPlatformWorker({ db: t.db, boss, registry, workerId: 'cancel-turn-worker', options: TEST_WORKER_OPTIONS });
});
afterAll(async () => {
  release.resolve();
  await worker?.stop({ timeoutMs: 2_000 });
  await intake?.close();
  await boss?.stop({ graceful: false });
  await t?.drop();
});

async function send(id: string, payload: Record<string, unknown>): Promise<number> {
  const body = JSON.stringify(payload);
  const at = new Date();
  const response = await fetch(`${intake.url}/hooks/ledger-events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, at, body),
    },
    body,
  });
  await response.body?.cancel();
  return response.status;
}

const eventRow = async (id: string) => (await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, id)))[0];

describe('a run cancelled while its handler is busy', () => {
  it('an older event its handler holds is applied before a newer one that arrives meanwhile, never after', async () => {
    expect(await send('evt-k-1', { type: 'balance.changed', key: 'k', version: 1, slow: true })).toBe(200);
    await slowEntered.promise;
    // The event's run is the one running (the event row names it only when its transaction commits).
    const [first] = await t.db.select().from(runs).where(eq(runs.status, 'running'));
    await cancelRun(t.db, boss, { runId: first.id, by: 'ada@example.com' });
    // The newer version of the key arrives while the cancelled run's handler still holds the older one.
    expect(await send('evt-k-2', { type: 'balance.changed', key: 'k', version: 2 })).toBe(200);
    const [second] = await t.db
      .select()
      .from(runs)
      .where(sql`${runs.integration} = 'ledger-events' and ${runs.id} <> ${first.id}`);
    expect(second, 'an event run for the newer version').toBeTruthy();
    // Time enough for that run to start and apply it, if nothing held it back (it is picked up at once).
    await new Promise((r) => setTimeout(r, 2_500));
    release.resolve();

    const [one, two] = await waitFor('both events to be settled', async () => {
      const rows = await Promise.all(['evt-k-1', 'evt-k-2'].map(eventRow));
      return rows.every((r) => r.status !== 'pending') ? rows : undefined;
    });
    await waitFor('the second run to end', async () => {
      const [r] = await t.db.select().from(runs).where(eq(runs.id, second.id));
      return r.status === 'succeeded' ? r : undefined;
    });
    const [state] = await t.db.execute<{ version: number }>(sql`select version from host_state where key = 'k'`);
    console.log(
      `cancelled run busy in its handler: version 1 ${one.status} at ${one.processedAt?.toISOString()}, version 2 ${two.status} at ${two.processedAt?.toISOString()}; the host holds version ${state?.version}`,
    );
    // The older version was applied (its handler had it) and then the newer one, after it.
    expect([one.status, two.status]).toEqual(['processed', 'processed']);
    expect(one.processedAt!.getTime()).toBeLessThanOrEqual(two.processedAt!.getTime());
    expect(state?.version).toBe(2);
  }, 60_000);
});
