import { and, asc, desc, eq, inArray, isNotNull, like, sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { auditLog, bulkOperations, runs, webhookEvents, webhookRejections, webhookSecrets } from '../../../db/schema';
import { startIntakeServer } from '../../../test/fixtures/intake-server';
import { startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { platformEvents, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IncomingEvent, type IntegrationDefinition } from '../contract';
import { PermanentError, TransientError } from '../errors';
import { keyringFrom } from '../governance/crypto';
import { platformMetrics } from '../observability/metrics';
import { openBreaker, resetBreaker } from '../resilience/breaker';
import { cancelBulkOperation } from '../triggers/bulk';
import { runNow } from '../triggers/triggers';
import { eventCounts, listEvents, replayEvents } from './events-read';
import { receiveWebhook } from './intake';
import { addWebhookSecret, revokeWebhookSecret } from './secrets';
import { hmacSignature } from './signature';

const applied: { integration: string; id: string; type: string; version: number | null; attempt: number }[] = [];
let failTransiently = 0;
/** Event ids the 'hooked' handler refuses (PermanentError) while they are in the set. */
const refused = new Set<string>();
/** Holds the 'grouped' handler (its transaction open, its rows as the intake wrote them) until released. */
const gate = Promise.withResolvers<void>();

const defs = [
  defineIntegration({
    name: 'hooked',
    description: 'Receives Standard Webhooks',
    settings: z.object({}),
    defaults: { retry: { delays: ['1s', '1s'] } },
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      orderingKeyFrom: (d) => (d.body as { key?: string }).key,
      versionFrom: (d) => (d.body as { version?: number }).version,
      batchSize: 3,
      redact: ['card'],
      async handle(events: IncomingEvent[], ctx) {
        if (failTransiently > 0) {
          failTransiently--;
          throw new TransientError('host busy');
        }
        // Checked first: `applied` is memory, which a rolled-back transaction does not undo.
        if (events.some((e) => e.type === 'poison')) throw new PermanentError('cannot apply a poison event');
        if (events.some((e) => refused.has(e.id))) throw new PermanentError('the host refuses it for now');
        for (const e of events) {
          if (!ctx.dryRun) applied.push({ integration: 'hooked', id: e.id, type: e.type, version: e.version, attempt: ctx.run.attempt });
        }
      },
    },
  }),
  defineIntegration({
    name: 'hmac-hooked',
    description: 'Receives generic HMAC-SHA256 webhooks',
    settings: z.object({}),
    events: {
      scheme: 'hmac-sha256',
      idFrom: (d) => (d.body as { id?: string }).id,
      typeFrom: (d) => (d.body as { type?: string }).type,
      async handle(events) {
        for (const e of events) applied.push({ integration: 'hmac-hooked', id: e.id, type: e.type, version: null, attempt: 1 });
      },
    },
  }),
  defineIntegration({
    name: 'acme-hmac',
    description: 'Receives HMAC-SHA256 webhooks under its own header names',
    settings: z.object({}),
    events: {
      scheme: 'hmac-sha256',
      hmac: { signatureHeader: 'X-Acme-Signature', timestampHeader: 'X-Acme-Timestamp' },
      idFrom: (d) => (d.body as { id?: string }).id,
      typeFrom: (d) => (d.body as { type?: string }).type,
      async handle(events) {
        for (const e of events) applied.push({ integration: 'acme-hmac', id: e.id, type: e.type, version: null, attempt: 1 });
      },
    },
  }),
  defineIntegration({
    name: 'grouped',
    description: 'Receives Standard Webhooks; its handler waits for the test to let it go',
    settings: z.object({}),
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      batchSize: 100,
      async handle(events: IncomingEvent[]) {
        await gate.promise;
        for (const e of events) applied.push({ integration: 'grouped', id: e.id, type: e.type, version: null, attempt: 1 });
      },
    },
  }),
  defineIntegration({
    name: 'pulled',
    description: 'No events',
    settings: z.object({}),
    async execute() {
      return {};
    },
  }),
] as IntegrationDefinition[];

let intake: IntakeTest;
let t: IntakeTest['t'];
let boss: IntakeTest['boss'];
let deps: IntakeTest['deps'];
let secret: string;
const hmacSecret = 'hmac-secret-0123456789abcdef';
const groupedSecret = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;
const keyring = keyringFrom({ key: Buffer.alloc(32, 7).toString('base64'), keyId: 'k1' });

beforeAll(async () => {
  intake = await startIntakeTest(defs, { keyring, workerId: 'intake-worker', secretsFor: ['hooked'] });
  ({ t, boss, deps } = intake);
  secret = intake.secrets.get('hooked')!;
  await addWebhookSecret(t.db, keyring, { def: deps.registry.get('hmac-hooked')!, label: 'main', value: hmacSecret, actor: 'ada' });
  await addWebhookSecret(t.db, keyring, { def: deps.registry.get('grouped')!, label: 'first', value: groupedSecret, actor: 'ada' });
});
afterAll(() => intake?.close());

function signed(body: string, opts: { id: string; secret?: string; at?: number }) {
  const at = opts.at ?? Math.floor(Date.now() / 1000);
  const signature = new Webhook(opts.secret ?? secret).sign(opts.id, new Date(at * 1000), body);
  return { 'content-type': 'application/json', 'webhook-id': opts.id, 'webhook-timestamp': String(at), 'webhook-signature': signature };
}

function deliver(integration: string, headers: Record<string, string>, body: string | Buffer) {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return receiveWebhook(deps, {
    integration,
    headers: { 'content-length': String(raw.length), ...headers },
    readBody: async (limit) => (raw.length > limit ? null : raw),
  });
}

const eventRow = async (integration: string, eventId: string) =>
  (await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, eventId))).find((r) => r.integration === integration);

const processed = (integration: string, eventId: string) =>
  waitFor(`${eventId} to leave pending`, async () => {
    const row = await eventRow(integration, eventId);
    return row && row.status !== 'pending' ? row : undefined;
  });

describe('webhook intake', () => {
  it('accepts a signed event, stores it with its run, and the handler applies it once', async () => {
    const body = JSON.stringify({ type: 'thing.created', key: 'k-1', version: 1, card: '4242' });
    const answer = await deliver('hooked', signed(body, { id: 'evt-1' }), body);
    expect(answer).toEqual({ status: 200, body: { received: true, id: 'evt-1', duplicate: false } });
    const row = await processed('hooked', 'evt-1');
    expect(row.status).toBe('processed');
    const [run] = await t.db.select().from(runs).where(eq(runs.id, row.runId!));
    expect(run.trigger).toBe('event');
    await waitFor('the run to succeed', async () => (await t.db.select().from(runs).where(eq(runs.id, run.id)))[0].status === 'succeeded');
    expect(applied.filter((a) => a.id === 'evt-1')).toHaveLength(1);
  });

  it('answers a replay of a known event id 200 and creates nothing', async () => {
    const body = JSON.stringify({ type: 'thing.created', key: 'k-1', version: 1, card: '4242' });
    const before = await t.db.select().from(runs);
    const answer = await deliver('hooked', signed(body, { id: 'evt-1' }), body);
    expect(answer).toEqual({ status: 200, body: { received: true, id: 'evt-1', duplicate: true } });
    expect(await t.db.select().from(runs)).toHaveLength(before.length);
    expect((await eventRow('hooked', 'evt-1'))!.duplicates).toBe(1);
    expect(applied.filter((a) => a.id === 'evt-1')).toHaveLength(1);
  });

  it('refuses forged, stale, unsigned, oversized, non-JSON and unknown deliveries, recording metadata only', async () => {
    const body = JSON.stringify({ type: 'thing.created', key: 'k-9', version: 1 });
    const forged = signed(body, { id: 'evt-forged', secret: `whsec_${Buffer.alloc(24, 1).toString('base64')}` });
    expect(await deliver('hooked', forged, body)).toEqual({ status: 401, body: { error: 'bad signature' } });
    const other = JSON.stringify({ type: 'thing.created', key: 'k-9', version: 2 });
    expect((await deliver('hooked', signed(body, { id: 'evt-swap' }), other)).body).toEqual({ error: 'bad signature' });
    const old = Math.floor(Date.now() / 1000) - 301;
    expect(await deliver('hooked', signed(body, { id: 'evt-old', at: old }), body)).toEqual({
      status: 401,
      body: { error: 'stale timestamp' },
    });
    const future = Math.floor(Date.now() / 1000) + 400;
    expect((await deliver('hooked', signed(body, { id: 'evt-new', at: future }), body)).status).toBe(401);
    expect((await deliver('hooked', { 'content-type': 'application/json' }, body)).body).toEqual({ error: 'missing signature headers' });
    const truncated = signed(body, { id: 'evt-trunc' });
    truncated['webhook-signature'] = truncated['webhook-signature'].slice(0, 20);
    expect((await deliver('hooked', truncated, body)).status).toBe(401);
    expect((await deliver('hooked', { ...signed(body, { id: 'evt-ct' }), 'content-type': 'text/plain' }, body)).status).toBe(415);
    const huge = Buffer.alloc(300 * 1024, 0x20);
    expect((await deliver('hooked', signed(huge.toString(), { id: 'evt-huge' }), huge)).status).toBe(413);
    const notJson = 'not json';
    expect((await deliver('hooked', signed(notJson, { id: 'evt-nj' }), notJson)).status).toBe(400);
    expect((await deliver('nope', signed(body, { id: 'evt-x' }), body)).status).toBe(404);
    expect((await deliver('pulled', signed(body, { id: 'evt-x' }), body)).status).toBe(404);

    const events = await t.db.select().from(webhookEvents).where(eq(webhookEvents.integration, 'hooked'));
    expect(events.map((e) => e.eventId).filter((id) => id !== 'evt-1')).toEqual([]);
    const rejections = await t.db.select().from(webhookRejections).orderBy(asc(webhookRejections.id));
    expect(rejections.map((r) => [r.status, r.reason])).toEqual([
      [401, 'bad signature'],
      [401, 'bad signature'],
      [401, 'stale timestamp'],
      [401, 'timestamp in the future'],
      [401, 'missing signature headers'],
      [401, 'bad signature'],
      [415, 'content type must be application/json'],
      [413, 'body over 262144 bytes'],
      [400, 'body is not valid UTF-8 JSON'],
    ]);
    // A body refused after its signature was verified keeps the signed event id, so the Events tab
    // says which event the sender has to fix (it was recorded without one).
    expect(rejections.at(-1)).toMatchObject({ status: 400, eventId: 'evt-nj' });
    // Metadata only: no column holds a body, a signature or a secret.
    expect(JSON.stringify(rejections)).not.toContain('thing.created');
    expect(JSON.stringify(rejections)).not.toContain('v1,');
  });

  it('accepts several active secrets and stops accepting a revoked one', async () => {
    const registry = deps.registry;
    const second = await addWebhookSecret(t.db, keyring, { def: registry.get('hooked')!, label: 'second', actor: 'ada' });
    const body = JSON.stringify({ type: 'thing.created', key: 'k-2', version: 1 });
    expect((await deliver('hooked', signed(body, { id: 'evt-rot-1' }), body)).status).toBe(200);
    expect((await deliver('hooked', signed(body, { id: 'evt-rot-2', secret: second.generated }), body)).status).toBe(200);
    const [first] = await t.db.select().from(auditLog);
    expect(JSON.stringify(first)).not.toContain(secret.slice(6));
    const { listWebhookSecrets } = await import('./secrets');
    const firstId = (await listWebhookSecrets(t.db, 'hooked')).find((s) => s.label === 'first')!.id;
    await revokeWebhookSecret(t.db, { integration: 'hooked', id: firstId, actor: 'ada' });
    expect((await deliver('hooked', signed(body, { id: 'evt-rot-3' }), body)).status).toBe(401);
    expect((await deliver('hooked', signed(body, { id: 'evt-rot-4', secret: second.generated }), body)).status).toBe(200);
    secret = second.generated!;
    await processed('hooked', 'evt-rot-4');
  });

  it('recognises a late older event by its version and never hands it over', async () => {
    const newer = JSON.stringify({ type: 'thing.updated', key: 'k-3', version: 5 });
    const older = JSON.stringify({ type: 'thing.created', key: 'k-3', version: 4 });
    expect((await deliver('hooked', signed(newer, { id: 'evt-k3-v5' }), newer)).status).toBe(200);
    await processed('hooked', 'evt-k3-v5');
    expect((await deliver('hooked', signed(older, { id: 'evt-k3-v4' }), older)).status).toBe(200);
    const row = await processed('hooked', 'evt-k3-v4');
    expect(row.status).toBe('stale');
    expect(row.outcome).toContain('arrived after version 5');
    expect(applied.filter((a) => a.id === 'evt-k3-v4')).toHaveLength(0);
  });

  it('retries a transient failure through the run and marks a permanent one failed while the rest go on', async () => {
    failTransiently = 1;
    const a = JSON.stringify({ type: 'thing.created', key: 'k-4', version: 1 });
    const poison = JSON.stringify({ type: 'poison', key: 'k-5', version: 1 });
    expect((await deliver('hooked', signed(a, { id: 'evt-a' }), a)).status).toBe(200);
    const row = await processed('hooked', 'evt-a');
    expect(row.status).toBe('processed');
    expect(applied.filter((x) => x.id === 'evt-a')).toEqual([expect.objectContaining({ attempt: 2 })]);
    expect((await deliver('hooked', signed(poison, { id: 'evt-poison' }), poison)).status).toBe(200);
    const failed = await processed('hooked', 'evt-poison');
    expect(failed.status).toBe('failed');
    expect(failed.outcome).toContain('cannot apply a poison event');
  });

  it('replays chosen events through an event run, audited, and counts and redacts for the console', async () => {
    const before = applied.filter((x) => x.id === 'evt-a').length;
    const { replayed, runId } = await replayEvents(t.db, boss, {
      integration: 'hooked',
      eventIds: ['evt-a', 'evt-poison'],
      actor: 'oscar',
      correlationId: 'corr-replay-1',
    });
    expect(replayed).toBe(2);
    // The click's correlation id leads to the audit row and to the run that applies the replay.
    expect((await t.db.select().from(runs).where(eq(runs.id, runId!)))[0].correlationId).toBe('corr-replay-1');
    expect(runId).toBeTruthy();
    await waitFor('the replay to be applied', async () => {
      const rows = await t.db.select().from(webhookEvents).where(eq(webhookEvents.integration, 'hooked'));
      return rows.filter((r) => r.replays > 0).every((r) => r.status !== 'pending') ? rows : undefined;
    });
    // evt-a was processed: the replay has nothing to do and says so; it is never applied twice.
    expect(applied.filter((x) => x.id === 'evt-a').length).toBe(before);
    expect(await eventRow('hooked', 'evt-a')).toMatchObject({ status: 'processed', outcome: expect.stringContaining('already applied') });
    expect((await eventRow('hooked', 'evt-poison'))!.status).toBe('failed');
    const audit = await t.db.select().from(auditLog).where(eq(auditLog.fieldName, 'events.replay'));
    expect(audit.map((a) => a.correlationId)).toEqual(['corr-replay-1']);
    await expect(replayEvents(t.db, boss, { integration: 'hooked', filter: { status: 'pending' }, actor: 'oscar' })).rejects.toThrow(
      /No event to replay/,
    );
    // An id that was never received (a typo beside a real one) is refused, naming it; nothing is replayed.
    const replaysBefore = (
      await t.db.select().from(webhookEvents).where(eq(webhookEvents.integration, 'hooked')).orderBy(webhookEvents.id)
    ).map((r) => r.replays);
    await expect(
      replayEvents(t.db, boss, { integration: 'hooked', eventIds: ['evt-poison', 'evt-typo', 'evt-typo'], actor: 'oscar' }),
    ).rejects.toMatchObject({ code: 'not_found', message: 'No event evt-typo received for hooked: nothing was replayed' });
    expect(
      (await t.db.select().from(webhookEvents).where(eq(webhookEvents.integration, 'hooked')).orderBy(webhookEvents.id)).map(
        (r) => r.replays,
      ),
    ).toEqual(replaysBefore);
    expect(await t.db.select().from(auditLog).where(eq(auditLog.fieldName, 'events.replay'))).toHaveLength(1);
    const counts = await eventCounts(t.db, 'hooked');
    expect(counts.duplicates).toBe(1);
    expect(counts.byStatus.failed).toBe(1);
    expect(counts.rejected).toBe(9 + 1);
    const page = await listEvents(t.db, 'hooked', { limit: 50, q: 'evt-1' }, { redact: ['card'] });
    expect(page.rows.map((r) => r.payload)).toEqual([expect.objectContaining({ card: '[redacted]' })]);
  });

  it('never hands over a version already applied again, under a new event id or by a replay', async () => {
    const v1 = JSON.stringify({ type: 'thing.created', key: 'k-same', version: 1 });
    expect((await deliver('hooked', signed(v1, { id: 'evt-same-1' }), v1)).status).toBe(200);
    expect((await processed('hooked', 'evt-same-1')).status).toBe('processed');
    // The sender sends the same change again under another id: same key, same version.
    expect((await deliver('hooked', signed(v1, { id: 'evt-same-2' }), v1)).status).toBe(200);
    const again = await processed('hooked', 'evt-same-2');
    expect(again.status).toBe('stale');
    expect(again.outcome).toContain('already applied: version 1 of k-same was applied by event evt-same-1');
    expect(applied.filter((a) => a.id.startsWith('evt-same-'))).toHaveLength(1);

    // Replaying the applied event changes nothing and says so.
    const replay = await replayEvents(t.db, boss, { integration: 'hooked', eventIds: ['evt-same-1'], actor: 'oscar' });
    const [replayed] = await waitFor('the replay to finish', async () => {
      const rows = await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, 'evt-same-1'));
      return rows[0]?.status !== 'pending' ? rows : undefined;
    });
    expect(replayed).toMatchObject({ status: 'processed', replays: 1, outcome: expect.stringContaining('already applied') });
    expect(applied.filter((a) => a.id.startsWith('evt-same-'))).toHaveLength(1);
    const [run] = await waitFor('the replay run to end', async () => {
      const rows = await t.db.select().from(runs).where(eq(runs.id, replay.runId!));
      return rows[0]?.status === 'succeeded' ? rows : undefined;
    });
    expect((run.result as { summary: string }).summary).toContain('1 already applied (not applied again)');
  });

  it('a replay of a failed event applies it once its cause is fixed', async () => {
    refused.add('evt-refused');
    const body = JSON.stringify({ type: 'thing.created', key: 'k-refused', version: 1 });
    expect((await deliver('hooked', signed(body, { id: 'evt-refused' }), body)).status).toBe(200);
    expect(await processed('hooked', 'evt-refused')).toMatchObject({ status: 'failed', outcome: expect.stringContaining('refuses it') });
    refused.delete('evt-refused');
    await replayEvents(t.db, boss, { integration: 'hooked', eventIds: ['evt-refused'], actor: 'oscar' });
    const row = await processed('hooked', 'evt-refused');
    expect(row).toMatchObject({ status: 'processed', outcome: null, replays: 1 });
    expect(applied.filter((a) => a.id === 'evt-refused')).toHaveLength(1);
  });

  it('a replay in several runs announces events.cleared once, after its last run, not while events wait for it', async () => {
    // Earlier tests' failed events of this integration are not this test's: set aside.
    await t.db
      .update(webhookEvents)
      .set({ status: 'dismissed' })
      .where(and(eq(webhookEvents.integration, 'hooked'), eq(webhookEvents.status, 'failed')));
    const ids = ['evt-split-1', 'evt-split-2'];
    for (const id of ids) refused.add(id);
    for (const [i, id] of ids.entries()) {
      const body = JSON.stringify({ type: 'thing.created', key: `k-split-${i}`, version: 1 });
      expect((await deliver('hooked', signed(body, { id }), body)).status).toBe(200);
    }
    for (const id of ids) expect(await processed('hooked', id)).toMatchObject({ status: 'failed' });
    for (const id of ids) refused.delete(id);
    const cleared = async () => (await platformEvents(t.db, 'events.cleared')).filter((e) => e.integration === 'hooked');
    const before = (await cleared()).length;
    // Earlier tests' replays released runs of this integration: out of this replay's pace window.
    await t.db
      .update(runs)
      .set({ releasedAt: sql`${runs.releasedAt} - interval '1 hour'` })
      .where(and(eq(runs.integration, 'hooked'), isNotNull(runs.releasedAt)));

    const replay = await replayEvents(t.db, boss, {
      integration: 'hooked',
      eventIds: ids,
      actor: 'oscar',
      eventsPerRun: 1,
      pace: { runs: 1, per: '10m' },
    });
    expect(replay.runIds).toHaveLength(2);
    const runOf = async (id: string) => (await t.db.select().from(runs).where(eq(runs.id, id)))[0];
    // The pace releases one run now, the other in ten minutes.
    const [first, second] = await waitFor('one replay run to be released', async () => {
      const rows = await t.db.select().from(runs).where(inArray(runs.id, replay.runIds));
      const released = rows.filter((r) => r.releasedAt !== null);
      return released.length === 1 ? [released[0].id, rows.find((r) => r.releasedAt === null)!.id] : undefined;
    });
    await waitFor('the first replay run to succeed', async () => ((await runOf(first)).status === 'succeeded' ? true : undefined));
    // One event is applied, the other waits for the second run (held for the pace): nothing is cleared yet.
    expect(await runOf(second)).toMatchObject({ status: 'queued', hold: 'pace' });
    expect((await cleared()).slice(before)).toEqual([]);

    // The operation's pace shortened: the dispatcher releases the second run.
    await t.db.update(bulkOperations).set({ pacePeriodMs: 100 }).where(eq(bulkOperations.id, replay.bulkOperationId));

    await waitFor(
      'the second replay run to succeed',
      async () => ((await runOf(second)).status === 'succeeded' ? true : undefined),
      20_000,
    );
    const after = (await cleared()).slice(before);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ runId: second });
    for (const id of ids) expect(await eventRow('hooked', id)).toMatchObject({ status: 'processed' });
  });

  it('a dry-run reads pending events and applies nothing', async () => {
    await intake.worker!.stop({ timeoutMs: 2_000 });
    const body = JSON.stringify({ type: 'thing.created', key: 'k-6', version: 1 });
    expect((await deliver('hooked', signed(body, { id: 'evt-dry' }), body)).status).toBe(200);
    await intake.startWorker('intake-worker-2');
    // Both the event run and the dry-run go; the dry-run must leave no trace on the event.
    const dry = await runNow(t.db, boss, { integration: 'hooked', triggeredBy: 'oscar', dryRun: true });
    await processed('hooked', 'evt-dry');
    await waitFor('the dry-run to finish', async () => {
      const [r] = await t.db.select().from(runs).where(eq(runs.id, dry.runId));
      return r.finishedAt ? r : undefined;
    });
    expect(applied.filter((x) => x.id === 'evt-dry')).toHaveLength(1);
  });

  it('refuses a signed body PostgreSQL cannot store (\\u0000) with 400, so the sender stops retrying it', async () => {
    const body = '{"type":"thing.created","key":"k-nul","version":1,"note":"a\\u0000b"}';
    expect(await deliver('hooked', signed(body, { id: 'evt-nul' }), body)).toEqual({
      status: 400,
      body: { error: 'body contains \\u0000, which cannot be stored' },
    });
    expect(await eventRow('hooked', 'evt-nul')).toBeUndefined();
    // Three backslashes: an escaped one, then the escape.
    const odd = '{"type":"thing.created","key":"k-nul3","version":1,"note":"C:\\\\\\u0000"}';
    expect((await deliver('hooked', signed(odd, { id: 'evt-nul3' }), odd)).status).toBe(400);
  });

  it('names an event id, type or ordering key that is there but unusable, instead of calling it missing', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        'evt-long-type',
        { type: 't'.repeat(201), key: 'k-lt', version: 1 },
        /^the event type is 201 characters long: at most 200 are accepted$/,
      ],
      ['evt-tab-type', { type: 'thing\tcreated', key: 'k-tt', version: 1 }, /^the event type holds a control character/],
      ['evt-obj-type', { type: { name: 'x' }, key: 'k-ot', version: 1 }, /^the event type is an object, not text$/],
      // Before: dropped, and the event applied without its ordering (a late older version won).
      ['evt-long-key', { type: 'thing.created', key: 'k'.repeat(300), version: 1 }, /^the ordering key is 300 characters long/],
      ['evt-no-type', { key: 'k-nt', version: 1 }, /^no event type in the delivery$/],
    ];
    for (const [id, payload, reason] of cases) {
      const body = JSON.stringify(payload);
      const answer = await deliver('hooked', signed(body, { id }), body);
      expect(answer, id).toMatchObject({ status: 400, body: { error: expect.stringMatching(reason) } });
      expect(await eventRow('hooked', id), id).toBeUndefined();
    }
    const longId = `evt-${'i'.repeat(250)}`;
    const body = JSON.stringify({ type: 'thing.created', key: 'k-li', version: 1 });
    expect(await deliver('hooked', signed(body, { id: longId }), body)).toMatchObject({
      status: 400,
      body: { error: 'the event id is 254 characters long: at most 200 are accepted' },
    });
  });

  it('stores the text \\u0000 (an escaped backslash, then u0000): only the escape is a NUL', async () => {
    for (const [id, note] of [
      ['evt-text-nul', 'C:\\u0000dir'],
      ['evt-text-nul4', 'a\\\\u0000b'],
    ]) {
      const body = JSON.stringify({ type: 'thing.created', key: `k-${id}`, version: 1, note });
      expect(body).toContain('\\\\u0000');
      expect((await deliver('hooked', signed(body, { id }), body)).status).toBe(200);
      expect((await eventRow('hooked', id))?.payload).toMatchObject({ note });
    }
  });

  it('refuses signed bodies JSON.parse accepts and jsonb cannot store with 400, recorded, the others of their group stored', async () => {
    const bad = {
      'evt-surrogate': '{"type":"thing.created","key":"k-s","note":"x\\ud800y"}',
      'evt-overflow': '{"type":"thing.created","key":"k-o","amount":1e1000000}',
      'evt-deep': `{"type":"thing.created","key":"k-d","tree":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
    };
    const good = ['evt-g1', 'evt-g2', 'evt-g3'].map((id) => [id, JSON.stringify({ type: 'thing.created', key: `k-${id}`, version: 1 })]);
    // Sent together: they reach the group commit as one statement, which the bad bodies fail.
    const deliveries = [good[0], ...Object.entries(bad), good[1], good[2]];
    const answers = await Promise.all(deliveries.map(([id, body]) => deliver('hooked', signed(body, { id }), body)));
    const byId = Object.fromEntries(deliveries.map(([id], i) => [id, answers[i]]));
    for (const [id] of good) expect(byId[id]).toEqual({ status: 200, body: { received: true, id, duplicate: false } });
    expect(byId['evt-surrogate'].status).toBe(400);
    expect(byId['evt-surrogate'].body.error).toMatch(/^body cannot be stored as JSON \(invalid input syntax for type json: Unicode/);
    expect(byId['evt-overflow']).toEqual({
      status: 400,
      body: { error: 'body cannot be stored as JSON (value overflows numeric format)' },
    });
    expect(byId['evt-deep']).toEqual({ status: 400, body: { error: 'body nests too deeply to be stored' } });
    for (const id of Object.keys(bad)) expect(await eventRow('hooked', id)).toBeUndefined();
    for (const [id] of good) expect(await eventRow('hooked', id)).toBeDefined();
    const refused = await t.db
      .select()
      .from(webhookRejections)
      .where(inArray(webhookRejections.eventId, Object.keys(bad)));
    expect(refused.map((r) => [r.eventId, r.status]).sort()).toEqual(
      Object.keys(bad)
        .map((id) => [id, 400])
        .sort(),
    );
  });

  it('verifies the generic HMAC-SHA256 scheme over the raw body', async () => {
    const body = JSON.stringify({ id: 'h-1', type: 'ping', note: 'héllo ✓' });
    const ts = String(Math.floor(Date.now() / 1000));
    const good = {
      'content-type': 'application/json; charset=utf-8',
      'x-timestamp': ts,
      'x-signature': `sha256=${hmacSignature(hmacSecret, ts, body)}`,
    };
    expect((await deliver('hmac-hooked', good, body)).status).toBe(200);
    expect((await deliver('hmac-hooked', { ...good, 'x-signature': `sha256=${'0'.repeat(64)}` }, body)).status).toBe(401);
    const reserialised = JSON.stringify(JSON.parse(body), null, 1);
    expect((await deliver('hmac-hooked', good, reserialised)).status).toBe(401);
    await processed('hmac-hooked', 'h-1');
    expect(applied.filter((x) => x.integration === 'hmac-hooked')).toHaveLength(1);
  });

  it('counts accepted, duplicate and refused deliveries in junction_webhook_events_total, never unknown endpoints', async () => {
    const count = async (outcome: string, integration = 'hooked') =>
      (await platformMetrics().webhookEvents.get()).values.find((v) => v.labels.integration === integration && v.labels.outcome === outcome)
        ?.value ?? 0;
    const before = { accepted: await count('accepted'), duplicate: await count('duplicate'), rejected: await count('rejected') };
    const body = JSON.stringify({ type: 'thing.created', key: 'k-metrics', version: 1 });
    expect((await deliver('hooked', signed(body, { id: 'evt-metrics' }), body)).status).toBe(200);
    expect((await deliver('hooked', signed(body, { id: 'evt-metrics' }), body)).status).toBe(200);
    expect(
      (await deliver('hooked', signed(body, { id: 'evt-metrics', secret: `whsec_${Buffer.alloc(24, 9).toString('base64')}` }), body))
        .status,
    ).toBe(401);
    expect((await deliver('no-such-hook', signed(body, { id: 'evt-metrics' }), body)).status).toBe(404);
    expect(await count('accepted')).toBe(before.accepted + 1);
    expect(await count('duplicate')).toBe(before.duplicate + 1);
    expect(await count('rejected')).toBe(before.rejected + 1);
    expect((await platformMetrics().webhookEvents.get()).values.some((v) => v.labels.integration === 'no-such-hook')).toBe(false);
  });

  it('stores a burst of concurrent deliveries in shared statements, each id once, every one answered after its commit', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
    // Every fourth id is sent twice in the same burst: one stored, the other a duplicate.
    const sends = [...ids, ...ids.filter((_, i) => i % 4 === 0)];
    const bodies = new Map(
      ids.map((id, i) => [id, `{"type":"thing.created","key":"b-${i}","version":1,"big":123456789012345678901234567890}`]),
    );
    const answers = await Promise.all(
      sends.map((id) => deliver('grouped', signed(bodies.get(id)!, { id, secret: groupedSecret }), bodies.get(id)!)),
    );
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    for (const id of ids) {
      const mine = answers.filter((a) => a.body.id === id);
      expect(mine.filter((a) => a.body.duplicate === false)).toHaveLength(1);
    }
    expect(answers.filter((a) => a.body.duplicate === true)).toHaveLength(10);
    // The handler is held, so every row is still as the intake's statement wrote it (its xmin).
    const rows = await t.db.execute<{ n: number; groups: number; dups: number; big: string }>(sql`
      select count(*)::int as n, count(distinct xmin::text)::int as groups, sum(duplicates)::int as dups, min(payload->>'big') as big
        from webhook_events where integration = 'grouped'`);
    expect(rows[0].n).toBe(40);
    expect(rows[0].dups).toBe(10);
    // Stored as sent (not re-serialised through a JS number).
    expect(rows[0].big).toBe('123456789012345678901234567890');
    // Fewer transactions than deliveries: the group commit shared them.
    expect(rows[0].groups).toBeLessThan(20);
    gate.resolve();
    for (const id of ids) await processed('grouped', id);
    expect(applied.filter((a) => a.integration === 'grouped')).toHaveLength(40);
  });

  it("replays a filtered set at bulk retry's pace, none while the breaker is open, none applied twice; a cancel puts them back", async () => {
    const burst = () => applied.filter((a) => a.id.startsWith('burst-')).length;
    const before = burst();
    await openBreaker(t.db, { key: 'grouped', by: 'op@example.com' });
    const replay = await replayEvents(t.db, boss, {
      integration: 'grouped',
      filter: { q: 'burst-' },
      actor: 'oscar',
      pace: { runs: 1, per: '2s' },
      eventsPerRun: 10,
    });
    expect(replay).toMatchObject({
      replayed: 40,
      runIds: [expect.any(String), expect.any(String), expect.any(String), expect.any(String)],
    });
    const heldRuns = () => t.db.select().from(runs).where(inArray(runs.id, replay.runIds));
    const burstRows = () => t.db.select().from(webhookEvents).where(like(webhookEvents.eventId, 'burst-%'));
    // The worker's dispatcher runs every 200 ms: with the breaker open it releases nothing.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await heldRuns()).every((r) => r.hold === 'breaker' && r.releasedAt === null && r.status === 'queued')).toBe(true);
    expect((await burstRows()).every((r) => r.status === 'pending')).toBe(true);
    expect(burst()).toBe(before);

    await resetBreaker(t.db, { key: 'grouped', by: 'op@example.com' });
    const first = await waitFor('the first replay run to be released', async () => {
      const released = (await heldRuns()).filter((r) => r.releasedAt !== null);
      return released.length > 0 ? released : undefined;
    });
    expect(first).toHaveLength(1);
    const done = await waitFor(
      'every replayed event to be handled',
      async () => {
        const rows = await burstRows();
        return rows.every((r) => r.status === 'processed') ? rows : undefined;
      },
      30_000,
    );
    expect(done).toHaveLength(40);
    // They were processed before: each replay says so and none is applied twice.
    expect(done.every((r) => r.outcome?.startsWith('already applied'))).toBe(true);
    expect(burst()).toBe(before);
    const released = (await heldRuns()).map((r) => r.releasedAt!.getTime()).sort((a, b) => a - b);
    expect(released).toHaveLength(4);
    for (let i = 1; i < released.length; i++) expect(released[i] - released[i - 1]).toBeGreaterThanOrEqual(1_900);
    const [audit] = await t.db.select().from(auditLog).where(eq(auditLog.fieldName, 'events.replay')).orderBy(desc(auditLog.id)).limit(1);
    expect(audit.newValue).toMatchObject({ count: 40, bulkOperationId: replay.bulkOperationId, pace: { runs: 1, per: '2s' } });

    // Cancelled before release: the events go back to what they were, and nothing applies them.
    await openBreaker(t.db, { key: 'grouped', by: 'op@example.com' });
    const again = await replayEvents(t.db, boss, { integration: 'grouped', filter: { q: 'burst-1' }, actor: 'oscar', eventsPerRun: 5 });
    expect(again.replayed).toBe(11);
    await cancelBulkOperation(t.db, boss, { id: again.bulkOperationId, by: 'oscar' });
    await resetBreaker(t.db, { key: 'grouped', by: 'op@example.com' });
    const rows = await burstRows();
    expect(rows.every((r) => r.status === 'processed')).toBe(true);
    expect(rows.filter((r) => r.eventId.startsWith('burst-1')).every((r) => r.replayRunId === null && r.replays === 2)).toBe(true);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(burst()).toBe(before);
  });

  it('takes HMAC-SHA256 deliveries over HTTP end to end: signed ones applied once, forged, stale and swapped ones 401', async () => {
    const oldSecret = 'acme-old-secret-0123456789';
    const newSecret = 'acme-new-secret-9876543210';
    const def = deps.registry.get('acme-hmac')!;
    await addWebhookSecret(t.db, keyring, { def, label: 'old', value: oldSecret, actor: 'ada' });
    const server = await startIntakeServer(deps);
    try {
      const post = async (headers: Record<string, string>, body: string) => {
        const res = await fetch(`${server.url}/hooks/acme-hmac`, { method: 'POST', headers, body: Buffer.from(body, 'utf8') });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const now = () => String(Math.floor(Date.now() / 1000));
      const sign = (secret: string, ts: string, body: string) => hmacSignature(secret, ts, body);
      const headers = (sig: string, ts: string) => ({
        'content-type': 'application/json',
        'X-Acme-Timestamp': ts,
        'X-Acme-Signature': sig,
      });

      const body = '{"id":"acme-1","type":"order.paid","note":"naïve ✓"}';
      const ts = now();
      expect(await post(headers(`sha256=${sign(oldSecret, ts, body)}`, ts), body)).toEqual({
        status: 200,
        body: { received: true, id: 'acme-1', duplicate: false },
      });
      // The same delivery again: 200, a duplicate, nothing new.
      expect((await post(headers(sign(oldSecret, ts, body), ts), body)).body.duplicate).toBe(true);
      // Forged (another secret), a valid signature over other bytes, stale, missing and malformed signatures.
      const other = '{"id":"acme-2","type":"order.paid"}';
      expect(await post(headers(sign('not-the-secret-000000', ts, other), ts), other)).toEqual({
        status: 401,
        body: { error: 'bad signature' },
      });
      expect((await post(headers(sign(oldSecret, ts, body), ts), other)).body).toEqual({ error: 'bad signature' });
      const old = String(Math.floor(Date.now() / 1000) - 301);
      expect((await post(headers(sign(oldSecret, old, other), old), other)).body).toEqual({ error: 'stale timestamp' });
      expect((await post({ 'content-type': 'application/json', 'X-Acme-Timestamp': ts }, other)).status).toBe(401);
      expect((await post(headers('sha256=zz', ts), other)).body).toEqual({ error: 'malformed signature' });

      // Rotation: the sender signs with both secrets while both are active, then only with the new one.
      const { id: oldId } = (await t.db.select().from(webhookSecrets).where(eq(webhookSecrets.integration, 'acme-hmac')))[0];
      await addWebhookSecret(t.db, keyring, { def, label: 'new', value: newSecret, actor: 'ada' });
      const both = '{"id":"acme-3","type":"order.paid"}';
      const ts3 = now();
      expect((await post(headers(`${sign(oldSecret, ts3, both)},${sign(newSecret, ts3, both)}`, ts3), both)).status).toBe(200);
      await revokeWebhookSecret(t.db, { integration: 'acme-hmac', id: oldId, actor: 'ada' });
      const last = '{"id":"acme-4","type":"order.paid"}';
      const ts4 = now();
      expect((await post(headers(sign(oldSecret, ts4, last), ts4), last)).status).toBe(401);
      expect((await post(headers(sign(newSecret, ts4, last), ts4), last)).status).toBe(200);

      for (const id of ['acme-1', 'acme-3', 'acme-4']) await processed('acme-hmac', id);
      expect(
        applied
          .filter((a) => a.integration === 'acme-hmac')
          .map((a) => a.id)
          .sort(),
      ).toEqual(['acme-1', 'acme-3', 'acme-4']);
      expect(await eventRow('acme-hmac', 'acme-2')).toBeUndefined();
      const refused = await t.db.select().from(webhookRejections).where(eq(webhookRejections.integration, 'acme-hmac'));
      expect(refused.map((r) => r.reason).sort()).toEqual(
        ['bad signature', 'bad signature', 'bad signature', 'malformed signature', 'missing signature headers', 'stale timestamp'].sort(),
      );
    } finally {
      await server.close();
    }
  });

  it('records the socket address of a refused delivery, not a forged X-Forwarded-For, unless TRUST_PROXY says a proxy sets it', async () => {
    const refusedFrom = async (trustProxy: boolean, eventId: string) => {
      const server = await startIntakeServer(deps, { trustProxy });
      try {
        const res = await fetch(`${server.url}/hooks/acme-hmac`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'X-Forwarded-For': '203.0.113.66, 10.0.0.1', 'X-Acme-Timestamp': '1' },
          body: JSON.stringify({ id: eventId, type: 'order.paid' }),
        });
        expect(res.status).toBe(401);
      } finally {
        await server.close();
      }
      // The refusal comes before the body is read, so the newest row of the endpoint is this one.
      const [row] = await t.db
        .select()
        .from(webhookRejections)
        .where(eq(webhookRejections.integration, 'acme-hmac'))
        .orderBy(desc(webhookRejections.id))
        .limit(1);
      return row.remote;
    };
    expect(await refusedFrom(false, 'spoof-1')).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    expect(await refusedFrom(true, 'spoof-2')).toBe('203.0.113.66');
  });
});
