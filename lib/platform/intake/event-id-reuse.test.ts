import { and, asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runs, webhookEvents, webhookRejections } from '../../../db/schema';
import { startIntakeServer } from '../../../test/fixtures/intake-server';
import { standardWebhookHeaders, startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { sleep, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IncomingEvent, type IntegrationDefinition } from '../contract';
import { startPlatformWorker } from '../execution/worker';
import { platformMetrics } from '../observability/metrics';
import { ID_REUSED, receiveWebhook } from './intake';

/**
 * An event id is the idempotency key (Standard Webhooks): the same id with the same payload is a
 * duplicate (200, counted), with another payload a refusal (409, recorded, never applied, never
 * counted as a duplicate) — alone, inside one group commit, and across concurrent groups.
 */

const applied: { id: string; payload: unknown }[] = [];

const defs = [
  defineIntegration({
    name: 'reused',
    description: 'Receives Standard Webhooks',
    settings: z.object({}),
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      batchSize: 50,
      async handle(events: IncomingEvent[], ctx) {
        if (!ctx.dryRun) for (const e of events) applied.push({ id: e.id, payload: e.payload });
      },
    },
  }),
] as IntegrationDefinition[];

let intake: IntakeTest;
let t: IntakeTest['t'];
let boss: IntakeTest['boss'];
let deps: IntakeTest['deps'];
let secret: string;

beforeAll(async () => {
  // No worker until the last test: the events stay as the intake stored them, and one queued event
  // run waits for them (the group commit's fast path).
  intake = await startIntakeTest(defs, {
    sync: true,
    secretsFor: ['reused'],
  });
  ({ t, boss, deps } = intake);
  secret = intake.secrets.get('reused')!;
});
afterAll(() => intake?.close());

function deliver(id: string, body: string) {
  const raw = Buffer.from(body);
  return receiveWebhook(deps, {
    integration: 'reused',
    headers: { ...standardWebhookHeaders(secret, id, body), 'content-length': String(raw.length) },
    readBody: async () => raw,
  });
}

const row = async (eventId: string) =>
  (
    await t.db
      .select()
      .from(webhookEvents)
      .where(and(eq(webhookEvents.integration, 'reused'), eq(webhookEvents.eventId, eventId)))
  )[0];
const refusals = (eventId: string) =>
  t.db.select().from(webhookRejections).where(eq(webhookRejections.eventId, eventId)).orderBy(asc(webhookRejections.id));
const reusedMetric = async (outcome: string) =>
  (await platformMetrics().webhookEvents.get()).values.find((v) => v.labels.integration === 'reused' && v.labels.outcome === outcome)
    ?.value ?? 0;

/**
 * Holds the integration's queued event run FOR UPDATE, so every group commit of 'reused' waits on
 * it: two groups (one per slot) are taken by `blockers`, and what is delivered meanwhile queues up
 * and is written as ONE group when the lock goes.
 */
async function inOneGroup(send: () => Promise<{ status: number; body: Record<string, unknown> }>[]) {
  const release = Promise.withResolvers<void>();
  const locked = Promise.withResolvers<void>();
  const holder = t.db.transaction(async (tx) => {
    const [queued] = await tx.execute<{ id: string }>(
      sql`select id from runs where integration = 'reused' and trigger = 'event' and status = 'queued' and started_at is null for update`,
    );
    expect(queued, 'a queued event run to hold').toBeTruthy();
    locked.resolve();
    await release.promise;
  });
  await locked.promise;
  const waiting = () =>
    t.db.execute<{ n: number }>(
      sql`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%jsonb_to_recordset%'`,
    );
  // Both slots busy (each with a group of one warm-up delivery), then the deliveries under test queue.
  const blockers = [deliver(`blocker-${Date.now()}-1`, '{"type":"warm"}'), deliver(`blocker-${Date.now()}-2`, '{"type":"warm"}')];
  await waitFor('both group commit slots to wait on the held run', async () => ((await waiting())[0].n === 2 ? true : undefined));
  const answers: Promise<{ status: number; body: Record<string, unknown> }>[] = [];
  for (const p of send()) {
    answers.push(p);
    // Each reaches the queue (signature checked, body parsed) before the next is sent: their order
    // in the group is the order sent.
    await sleep(30);
  }
  release.resolve();
  await holder;
  expect((await Promise.all(blockers)).map((a) => a.status)).toEqual([200, 200]);
  return Promise.all(answers);
}

describe('an event id reused with another payload', () => {
  it('is refused with 409, recorded, neither stored nor counted; the same payload again is still a 200 duplicate', async () => {
    const first = '{"type":"payment.succeeded","amount":100,"currency":"EUR"}';
    expect(await deliver('evt-1', first)).toEqual({ status: 200, body: { received: true, id: 'evt-1', duplicate: false } });
    const runsBefore = (await t.db.select().from(runs)).length;
    const rejectedBefore = await reusedMetric('rejected');
    const duplicateBefore = await reusedMetric('duplicate');

    const other = '{"type":"payment.succeeded","amount":250,"currency":"EUR"}';
    expect(await deliver('evt-1', other)).toEqual({ status: 409, body: { error: ID_REUSED } });
    expect(ID_REUSED).toMatch(/already received with a different payload.*send a new id for a new event/);
    expect(await row('evt-1')).toMatchObject({ payload: JSON.parse(first), duplicates: 0, lastDuplicateAt: null });
    const [refusal] = await refusals('evt-1');
    expect(refusal).toMatchObject({ integration: 'reused', status: 409, reason: ID_REUSED, eventId: 'evt-1', contentLength: other.length });
    // Metadata only, as for every refusal: not the refused body.
    expect(JSON.stringify(refusal)).not.toContain('250');

    // The same payload (byte for byte, or re-serialised: other key order and spacing) is a duplicate.
    expect(await deliver('evt-1', first)).toEqual({ status: 200, body: { received: true, id: 'evt-1', duplicate: true } });
    expect(await deliver('evt-1', '{ "currency": "EUR", "amount": 100, "type": "payment.succeeded" }')).toEqual({
      status: 200,
      body: { received: true, id: 'evt-1', duplicate: true },
    });
    expect(await row('evt-1')).toMatchObject({ payload: JSON.parse(first), duplicates: 2 });
    expect(await refusals('evt-1')).toHaveLength(1);
    expect((await t.db.select().from(runs)).length).toBe(runsBefore);
    expect(await reusedMetric('rejected')).toBe(rejectedBefore + 1);
    expect(await reusedMetric('duplicate')).toBe(duplicateBefore + 2);
  });

  it('inside one group commit: the first delivery of a new id is stored, the same payload counted, another refused', async () => {
    const a = '{"type":"order.paid","total":10}';
    const b = '{"type":"order.paid","total":99}';
    const answers = await inOneGroup(() => [
      deliver('grp-new', a),
      deliver('grp-new', b),
      deliver('grp-new', a),
      deliver('grp-new', '{"total":10,"type":"order.paid"}'),
      deliver('grp-new', b),
      deliver('grp-other', b),
    ]);
    expect(answers.map((x) => [x.status, x.body.duplicate ?? x.body.error])).toEqual([
      [200, false],
      [409, ID_REUSED],
      [200, true],
      [200, true],
      [409, ID_REUSED],
      [200, false],
    ]);
    // All six were written by one statement: the two new rows share their transaction.
    const [stored, other] = await t.db.execute<{ xmin: string; payload: unknown; duplicates: number }>(
      sql`select xmin::text, payload, duplicates from webhook_events where event_id in ('grp-new', 'grp-other') order by event_id`,
    );
    expect(stored.xmin).toBe(other.xmin);
    expect(stored).toMatchObject({ payload: JSON.parse(a), duplicates: 2 });
    expect((await refusals('grp-new')).map((r) => r.status)).toEqual([409, 409]);
  });

  it('inside one group commit against a stored id: only deliveries with the stored payload are duplicates, wherever they stand', async () => {
    const stored = '{"type":"order.paid","total":1}';
    expect((await deliver('grp-known', stored)).status).toBe(200);
    const answers = await inOneGroup(() => [
      deliver('grp-known', '{"type":"order.paid","total":2}'),
      deliver('grp-known', stored),
      deliver('grp-known', '{"type":"order.paid","total":3}'),
    ]);
    expect(answers.map((x) => x.status)).toEqual([409, 200, 409]);
    expect(answers[1].body.duplicate).toBe(true);
    expect(await row('grp-known')).toMatchObject({ payload: JSON.parse(stored), duplicates: 1 });
    // Only conflicts in a group: the stored row is left as it was.
    const before = await row('grp-known');
    const [alone] = await inOneGroup(() => [deliver('grp-known', '{"type":"order.paid","total":4}')]);
    expect(alone.status).toBe(409);
    expect(await row('grp-known')).toEqual(before);
    expect(await refusals('grp-known')).toHaveLength(3);
  });

  it('under concurrency: per id exactly one payload is stored, every delivery of it 200, every other 409 and recorded', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `conc-${i}`);
    // Per id: 2 deliveries of body A and 2 of body B, interleaved, all at once (several groups in
    // flight at the same time, in both slots).
    const sends = ids.flatMap((id) =>
      ['A', 'B', 'A', 'B'].map((which) => ({ id, which, body: `{"type":"x.changed","id":"${id}","which":"${which}"}` })),
    );
    const answers = await Promise.all(sends.map((s) => deliver(s.id, s.body)));
    const rows = await t.db
      .select()
      .from(webhookEvents)
      .where(sql`${webhookEvents.eventId} like 'conc-%'`);
    expect(rows).toHaveLength(ids.length);
    for (const id of ids) {
      const stored = rows.find((r) => r.eventId === id)!;
      const which = (stored.payload as { which: string }).which;
      const mine = sends.map((s, i) => ({ ...s, answer: answers[i] })).filter((s) => s.id === id);
      const same = mine.filter((s) => s.which === which);
      const other = mine.filter((s) => s.which !== which);
      expect(same.map((s) => s.answer.status)).toEqual([200, 200]);
      expect(same.map((s) => s.answer.body.duplicate).sort()).toEqual([false, true]);
      expect(other.map((s) => s.answer.status)).toEqual([409, 409]);
      expect(stored.duplicates).toBe(1);
      expect((await refusals(id)).map((r) => r.status)).toEqual([409, 409]);
    }
  });

  it('applies only the stored payload of each id, once', async () => {
    const worker = await startPlatformWorker({
      db: t.db,
      boss,
      registry: deps.registry,
      workerId: 'reuse-worker',
      options: TEST_WORKER_OPTIONS,
    });
    try {
      await waitFor('every event to be applied', async () => {
        const [left] = await t.db.execute<{ n: number }>(sql`select count(*)::int as n from webhook_events where status = 'pending'`);
        return left.n === 0 ? true : undefined;
      });
      const stored = await t.db.select().from(webhookEvents);
      expect(applied.map((a) => a.id).sort()).toEqual(stored.map((r) => r.eventId).sort());
      for (const a of applied) expect(a.payload).toEqual(stored.find((r) => r.eventId === a.id)!.payload);
    } finally {
      await worker.stop({ timeoutMs: 2_000 });
    }
  });

  it('answers the listener over HTTP the same 409 with its reason', async () => {
    const server = await startIntakeServer(deps);
    try {
      const post = (body: string) =>
        fetch(`${server.url}/hooks/reused`, { method: 'POST', headers: standardWebhookHeaders(secret, 'evt-http', body), body });
      expect((await post('{"type":"a","n":1}')).status).toBe(200);
      const refused = await post('{"type":"a","n":2}');
      expect(refused.status).toBe(409);
      expect(await refused.json()).toEqual({ error: ID_REUSED });
      const again = await post('{"type":"a","n":1}');
      expect([again.status, await again.json()]).toEqual([200, { received: true, id: 'evt-http', duplicate: true }]);
    } finally {
      await server.close();
    }
  });
});
