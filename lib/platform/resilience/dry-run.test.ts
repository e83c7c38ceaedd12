import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attemptLogs, attempts, breakers, cursors, customers, integrations, runRecoveries, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { json, startTestServer, type TestServer } from '../../../test/fixtures/http-server';
import { platformEvents, startTestBoss, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { startPlatformWorker, type PlatformWorker } from '../execution/worker';
import { buildRegistry, syncRegistry } from '../registry';
import { runNow } from '../triggers/triggers';

const crmSync = defineIntegration({
  name: 'crm-sync',
  description: 'Reads contacts, writes them to the CRM and to the host database',
  settings: z.object({ baseUrl: z.string().url() }),
  secrets: ['apiToken'],
  async execute(ctx) {
    const contacts = await ctx.http.getJson<{ name: string }[]>(`${ctx.settings.baseUrl}/contacts`);
    for (const contact of contacts) {
      const created = await ctx.http.post(`${ctx.settings.baseUrl}/crm/contacts`, {
        json: contact,
        headers: { 'x-api-token': ctx.secrets.apiToken! },
        idempotencyKey: `contact-${contact.name}`,
      });
      ctx.log.info(`dry-run answer ${JSON.stringify(await created.json())}`);
    }
    await ctx.tx(async (tx) => {
      await tx.insert(customers).values(contacts.map((c) => ({ name: c.name })));
    });
    ctx.cursor.set({ syncedUpTo: contacts.length });
    return { processed: contacts.length, summary: `synced ${contacts.length} contacts` };
  },
}) as IntegrationDefinition;

const crmDown = defineIntegration({
  name: 'crm-down',
  description: 'Reads contacts from a CRM in maintenance',
  settings: z.object({ baseUrl: z.string().url() }),
  async execute(ctx) {
    await ctx.http.getJson(`${ctx.settings.baseUrl}/contacts`);
    return { processed: 0 };
  },
}) as IntegrationDefinition;

/** Reads through ctx.db, then writes through it (or through a transaction of its own on it), not through ctx.tx. */
const careless = defineIntegration({
  name: 'careless',
  description: 'Writes host data through ctx.db instead of ctx.tx',
  settings: z.object({ via: z.enum(['statement', 'transaction']).default('statement') }),
  async execute(ctx) {
    const before = await ctx.db.select().from(customers);
    ctx.log.info(`read ${before.length} customers through ctx.db`);
    if (ctx.settings.via === 'transaction') await ctx.db.transaction((tx) => tx.insert(customers).values({ name: 'Careless' }));
    else await ctx.db.insert(customers).values({ name: 'Careless' });
    return { processed: 1 };
  },
}) as IntegrationDefinition;

let t: TestDatabase;
let boss: PgBoss;
let worker: PlatformWorker;
let server: TestServer;

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  server = await startTestServer((req, res) => {
    if (req.method === 'GET' && req.path === '/contacts') return json(res, 200, [{ name: 'Ada' }, { name: 'Grace' }]);
    if (req.path.startsWith('/down/')) return json(res, 503, { error: 'maintenance' });
    json(res, 201, { created: true });
  });
  const registry = buildRegistry([crmSync, crmDown, careless]);
  await syncRegistry(t.db, { registry });
  await t.db
    .update(integrations)
    .set({ settings: { baseUrl: server.url } })
    .where(eq(integrations.name, 'crm-sync'));
  // Its reads fail (503) and one failure would open its breaker; one attempt, no retry delay.
  await t.db
    .update(integrations)
    .set({ settings: { baseUrl: `${server.url}/down` }, breakerFailures: 1, retryDelays: [] })
    .where(eq(integrations.name, 'crm-down'));
  worker = await startPlatformWorker({
    db: t.db,
    boss,
    registry,
    workerId: 'dry-run-worker',
    secrets: { read: async () => ({ apiToken: 'tok_live_123456' }) },
    options: TEST_WORKER_OPTIONS,
  });
});
afterAll(async () => {
  await worker.stop({ timeoutMs: 2_000 });
  await boss.stop({ graceful: false });
  await server.close();
  await t.drop();
});

describe('dry-run', () => {
  it('reads for real, captures writes into the plan, rolls back host writes, keeps the cursor and emits nothing', async () => {
    const { runId } = await runNow(t.db, boss, { integration: 'crm-sync', triggeredBy: 'ada', dryRun: true });
    const run = await waitFor('the dry-run to finish', async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
      return row.finishedAt ? row : undefined;
    });
    expect(run).toMatchObject({ status: 'succeeded', dryRun: true, result: { processed: 2, summary: 'synced 2 contacts' } });

    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /contacts']);
    expect(await t.db.select().from(customers)).toEqual([]);
    expect(await t.db.select().from(cursors)).toEqual([]);
    expect(await platformEvents(t.db)).toEqual([]);

    const plan = run.plan as { method: string; url: string; headers: Record<string, string>; body: unknown }[];
    expect(plan.map((p) => `${p.method} ${p.url}`)).toEqual([`POST ${server.url}/crm/contacts`, `POST ${server.url}/crm/contacts`]);
    expect(plan[0].body).toEqual({ name: 'Ada' });
    expect(plan[1].headers).toMatchObject({
      'idempotency-key': 'contact-Grace',
      'x-api-token': '[redacted]',
      'x-correlation-id': run.correlationId,
    });
  });

  it('the same run without dry-run sends the writes, commits them and moves the cursor', async () => {
    // An earlier run failed, so this one's success is announced (a dry-run's never is).
    await t.db.insert(runRecoveries).values({ integration: 'crm-sync' });
    const { runId } = await runNow(t.db, boss, { integration: 'crm-sync', triggeredBy: 'ada' });
    await waitFor('the run to finish', async () => (await t.db.select().from(runs).where(eq(runs.id, runId)))[0].finishedAt);
    expect(server.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
    expect((await t.db.select().from(customers)).map((c) => c.name).sort()).toEqual(['Ada', 'Grace']);
    expect((await t.db.select().from(cursors))[0]).toMatchObject({ value: { syncedUpTo: 2 }, runId });
    expect((await platformEvents(t.db, 'run.succeeded')).map((e) => e.runId)).toEqual([runId]);
  });

  it('refuses a write through ctx.db, in a run and in a dry-run: the attempt fails at once saying to use ctx.tx, nothing lands', async () => {
    for (const [via, dryRun] of [
      ['statement', false],
      ['transaction', false],
      ['statement', true],
    ] as const) {
      await t.db.update(integrations).set({ settings: { via } }).where(eq(integrations.name, 'careless'));
      const { runId } = await runNow(t.db, boss, { integration: 'careless', triggeredBy: 'ada', dryRun });
      // Permanent: with the default delays (30 s, 2 m, 5 m) a transient failure would still be retrying.
      const run = await waitFor(`the ${via} ${dryRun ? 'dry-run' : 'run'} to fail`, async () => {
        const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
        return row.finishedAt ? row : undefined;
      });
      expect(run, via).toMatchObject({ status: 'failed', attemptCount: 1, dryRun, errorClass: 'PermanentError' });
      expect(run.errorMessage).toBe(
        'the handler wrote through ctx.db, which is for reads (cannot execute INSERT in a read-only transaction): write through ctx.tx, which a dry-run rolls back and which commits only while the attempt still owns the run',
      );
      // Its read went through.
      const [attempt] = await t.db.select().from(attempts).where(eq(attempts.runId, runId));
      expect(attempt.outcome).toBe('failed');
      const lines = await t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, attempt.id));
      expect(lines.some((l) => /^read \d+ customers through ctx\.db$/.test(l.message))).toBe(true);
      expect(await t.db.select().from(customers).where(eq(customers.name, 'Careless'))).toEqual([]);
    }
  });

  it('fails against a failing system without opening its breaker or raising anything an alert could come from', async () => {
    const { runId } = await runNow(t.db, boss, { integration: 'crm-down', triggeredBy: 'ada', dryRun: true });
    const run = await waitFor('the dry-run to fail', async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
      return row.finishedAt ? row : undefined;
    });
    expect(run).toMatchObject({ status: 'failed', dryRun: true });
    expect(server.requests.some((r) => r.path === '/down/contacts')).toBe(true);
    expect((await platformEvents(t.db)).filter((e) => JSON.stringify(e).includes('crm-down'))).toEqual([]);
    const [breaker] = await t.db.select().from(breakers).where(eq(breakers.key, 'crm-down'));
    expect(breaker?.state ?? 'closed').toBe('closed');
  });

  it('sends nothing while the breaker is open and leaves it as it was', async () => {
    const openUntil = new Date(Date.now() + 60_000);
    await t.db
      .insert(breakers)
      .values({ key: 'crm-down', state: 'open', openedAt: new Date(), openUntil, consecutiveFailures: 3 })
      .onConflictDoUpdate({ target: breakers.key, set: { state: 'open', openedAt: new Date(), openUntil, consecutiveFailures: 3 } });
    const before = server.requests.length;
    const { runId } = await runNow(t.db, boss, { integration: 'crm-down', triggeredBy: 'ada', dryRun: true });
    await waitFor('the dry-run to be deferred', async () => {
      const rows = await t.db.select().from(attempts).where(eq(attempts.runId, runId));
      return rows.find((a) => a.errorClass === 'CircuitOpenError');
    });
    expect(server.requests.length).toBe(before);
    const [breaker] = await t.db.select().from(breakers).where(eq(breakers.key, 'crm-down'));
    expect(breaker).toMatchObject({ state: 'open', consecutiveFailures: 3, openUntil });
  });

  it('reads past the cooldown without being the trial: the open breaker neither closes nor re-opens', async () => {
    const openUntil = new Date(Date.now() - 1_000);
    await t.db
      .update(breakers)
      .set({ state: 'open', openUntil, consecutiveFailures: 3, trialStartedAt: null })
      .where(eq(breakers.key, 'crm-down'));
    const before = server.requests.length;
    const { runId } = await runNow(t.db, boss, { integration: 'crm-down', triggeredBy: 'ada', dryRun: true });
    await waitFor('the dry-run to fail', async () => (await t.db.select().from(runs).where(eq(runs.id, runId)))[0].finishedAt);
    expect(server.requests.length).toBeGreaterThan(before);
    const [breaker] = await t.db.select().from(breakers).where(eq(breakers.key, 'crm-down'));
    expect(breaker).toMatchObject({ state: 'open', consecutiveFailures: 3, openUntil, trialStartedAt: null });
    expect((await platformEvents(t.db)).filter((e) => JSON.stringify(e).includes('crm-down'))).toEqual([]);
  });
});
