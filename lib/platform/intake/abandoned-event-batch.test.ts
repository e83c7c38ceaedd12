import { eq, sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { runs, webhookEvents } from '../../../db/schema';
import { deliverSigned, startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IncomingEvent, type IntegrationDefinition } from '../contract';

/**
 * An event run's batch is applied in a transaction the platform opens for `handle(events, ctx, tx)`
 * (process.ts), with the events' rows locked. A handler that hung in it past its attempt's time
 * limit and grace was no longer waited for, but its transaction stayed open: its locks held every
 * later attempt and run of the integration at those events, for as long as the handler hung, and
 * it could still commit after its attempt was closed. Like ctx.tx (abandoned-attempt.test.ts), the
 * batch's transaction is now ended when the attempt is given up, and commits only while its
 * attempt is still running.
 */

const GRACE_MS = 500;
/** Never settles: the hung handler waits on it, ignoring ctx.signal. */
const forever = new Promise<never>(() => {});
const state = { hangOnce: true, entered: Promise.withResolvers<void>() };

const defs = [
  defineIntegration({
    name: 'hangs-in-batch',
    description: 'Its first batch writes to the host and then hangs, ignoring ctx.signal',
    settings: z.object({}),
    defaults: { retry: { delays: ['100ms'] }, breaker: { failures: 1000, cooldown: '1m' }, attemptTimeout: '1s' },
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      async handle(events: IncomingEvent[], ctx, tx) {
        for (const e of events) await tx.execute(sql`insert into host_applied (event_id, attempt) values (${e.id}, ${ctx.run.attempt})`);
        if (state.hangOnce) {
          state.hangOnce = false;
          state.entered.resolve();
          await forever;
        }
      },
    },
  }),
] as IntegrationDefinition[];

let intake: IntakeTest;
beforeAll(async () => {
  intake = await startIntakeTest(defs, { sync: true, secretsFor: ['hangs-in-batch'] });
  // The host's table, made by the admin (the runtime role of TEST_DB_ROLE=runtime may not create tables).
  const url = new URL(inject('adminUrl'));
  url.pathname = `/${intake.t.name}`;
  const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create table host_applied (event_id text not null, attempt int not null);
                        grant select, insert on host_applied to public;`);
  } finally {
    await admin.end();
  }
  await intake.startWorker('abandoned-batch', {
    ...TEST_WORKER_OPTIONS,
    attemptTimeoutGraceMs: GRACE_MS,
    queue: { ...TEST_WORKER_OPTIONS.queue, expireInSeconds: 600 },
  });
});
afterAll(() => intake?.close());

describe("an event batch whose handler hangs past its attempt's time limit", () => {
  it('has its transaction ended: the retry applies the event, once, without waiting for the hung handler', async () => {
    const { t } = intake;
    const body = JSON.stringify({ type: 'payment.settled' });
    const answer = await deliverSigned(intake.deps, {
      integration: 'hangs-in-batch',
      secret: intake.secrets.get('hangs-in-batch')!,
      id: 'evt-hang-1',
      body,
    });
    expect(answer.status).toBe(200);
    await state.entered.promise;

    const run = await waitFor(
      'the event run to finish',
      async () => {
        const [row] = await t.db.select().from(runs).where(eq(runs.integration, 'hangs-in-batch'));
        return row?.finishedAt ? row : undefined;
      },
      30_000,
    );
    expect(run).toMatchObject({ status: 'succeeded', attemptCount: 2 });
    const [event] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, 'evt-hang-1'));
    expect(event.status).toBe('processed');
    // Applied by the second attempt only: the first one's write was rolled back with its transaction.
    const applied = await t.db.execute<{ event_id: string; attempt: number }>(sql`select event_id, attempt from host_applied`);
    expect(applied.map((r) => [r.event_id, Number(r.attempt)])).toEqual([['evt-hang-1', 2]]);
    // No session is left in the first attempt's transaction.
    const open = await t.db.execute<{ pid: number }>(sql`
      select pid from pg_stat_activity
       where pid <> pg_backend_pid() and xact_start is not null and query like '%host_applied%' and query not like '%pg_stat_activity%'`);
    expect(open).toEqual([]);
  }, 60_000);
});
