import { eq, inArray, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { bulkOperations, runs } from '@/db/schema';
import { defineIntegration, type IntegrationDefinition } from '@/lib/platform/contract';
import { buildRegistry, syncRegistry } from '@/lib/platform/registry';
import { freshDatabase, type TestDatabase } from '@/test/db';
import { startTestBoss } from '@/test/fixtures/platform';

/**
 * POST /api/runs/retry through its route handler on real PostgreSQL: the filter form retries what
 * the console's "Retry all matching" retries, at the pace asked for; every body the route refuses
 * is a 400 that writes nothing. The session is stood in for (an operator, or a viewer); the
 * database and pg-boss are the test's.
 */

const session = vi.hoisted(() => ({ role: 'operator' as 'viewer' | 'operator' }));
const handles = vi.hoisted(() => ({ db: undefined as unknown, boss: undefined as unknown }));

vi.mock('server-only', () => ({}));
vi.mock('@/lib/auth/guards', () => ({
  authorize: async (required: 'viewer' | 'operator') =>
    required === 'operator' && session.role !== 'operator'
      ? { ok: false, error: new (await import('@/lib/platform/errors')).AppError('forbidden', 'Operators only.') }
      : { ok: true, user: { id: 'u1', name: 'Oscar', email: 'oscar@example.com', role: session.role } },
}));
vi.mock('@/lib/server/db', () => ({ getDb: () => handles.db }));
vi.mock('@/lib/server/boss', () => ({ getBoss: async () => handles.boss }));

const { POST } = await import('./route');

const def = (name: string) =>
  defineIntegration({
    name,
    description: name,
    settings: z.object({}),
    async execute() {
      return {};
    },
  }) as IntegrationDefinition;

let t: TestDatabase;
let boss: PgBoss;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  handles.db = t.db;
  handles.boss = boss;
  await syncRegistry(t.db, { registry: buildRegistry(['ledger', 'bystander', 'refused', 'named'].map(def)) });
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  await t.drop();
});
beforeEach(() => {
  session.role = 'operator';
});

const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);
type Seed = { integration: string; createdAt: Date; status?: 'failed' | 'cancelled' | 'succeeded'; retriedAt?: Date };
async function seed(rows: Seed[]): Promise<string[]> {
  const inserted = await t.db
    .insert(runs)
    .values(
      rows.map((r) => ({
        integration: r.integration,
        trigger: 'schedule' as const,
        triggeredBy: 'x',
        correlationId: 'c',
        maxAttempts: 2,
        status: r.status ?? ('failed' as const),
        createdAt: r.createdAt,
        retriedAt: r.retriedAt ?? null,
      })),
    )
    .returning({ id: runs.id });
  return inserted.map((r) => r.id);
}

async function post(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const request = new Request('http://junction.test/api/runs/retry', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const response = await POST(request, { params: Promise.resolve({}) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Every run and bulk operation, and every run's retried mark: what a refused request must leave as it was. */
async function written(): Promise<string> {
  const [row] = await t.db.execute<{ f: string }>(
    sql`select (select count(*) from runs)::text || '/' || (select count(*) from bulk_operations)::text || '/' ||
      (select count(*) from runs where retried_at is not null)::text as f`,
  );
  return row.f;
}

describe('POST /api/runs/retry with a filter', () => {
  it('retries the oldest not-retried runs the filter matches, at the pace asked for, and leaves the rest alone', async () => {
    const from = ago(120);
    const to = ago(10);
    // Matching, inserted newest first: failed runs of ledger inside [from, to], not retried.
    const matching = await seed([20, 40, 60].map((m) => ({ integration: 'ledger', createdAt: ago(m) })));
    const [retriedAlready] = await seed([{ integration: 'ledger', createdAt: ago(30), retriedAt: ago(25) }]);
    const untouched = await seed([
      { integration: 'ledger', createdAt: ago(50), status: 'cancelled' },
      { integration: 'ledger', createdAt: ago(55), status: 'succeeded' },
      { integration: 'ledger', createdAt: ago(300) },
      { integration: 'ledger', createdAt: ago(1) },
      { integration: 'bystander', createdAt: ago(45) },
    ]);

    const answer = await post({
      filter: { integration: 'ledger', status: 'failed', from: from.toISOString(), to: to.toISOString() },
      pace: { runs: 7, per: '30s' },
    });

    expect(answer.status).toBe(200);
    const { bulkOperationId, queued, runIds } = answer.body as { bulkOperationId: string; queued: number; runIds: string[] };
    expect(Object.keys(answer.body).sort()).toEqual(['bulkOperationId', 'queued', 'runIds']);
    expect(queued).toBe(3);
    const retries = await t.db.select().from(runs).where(inArray(runs.id, runIds));
    const retryOf = new Map(retries.map((r) => [r.id, r.retryOf]));
    // Oldest first: the run of 60 minutes ago is retried first.
    expect(runIds.map((id) => retryOf.get(id))).toEqual([...matching].reverse());
    expect(
      retries.every((r) => r.trigger === 'retry' && r.bulkOperationId === bulkOperationId && r.triggeredBy === 'oscar@example.com'),
    ).toBe(true);
    const [operation] = await t.db.select().from(bulkOperations).where(eq(bulkOperations.id, bulkOperationId));
    expect({ paceRuns: operation.paceRuns, pacePeriodMs: operation.pacePeriodMs, total: operation.total }).toEqual({
      paceRuns: 7,
      pacePeriodMs: 30_000,
      total: 3,
    });
    expect([...operation.retriedRunIds].sort()).toEqual([...matching].sort());

    const others = await t.db
      .select({ id: runs.id, retriedAt: runs.retriedAt })
      .from(runs)
      .where(inArray(runs.id, [...untouched, retriedAlready]));
    expect(others.filter((r) => r.id !== retriedAlready).every((r) => r.retriedAt === null)).toBe(true);
    expect(
      await t.db
        .select()
        .from(runs)
        .where(inArray(runs.retryOf, [...untouched, retriedAlready])),
    ).toEqual([]);

    // The same request again finds nothing left: every match was retried.
    expect(await post({ filter: { integration: 'ledger', status: 'failed', from: from.toISOString(), to: to.toISOString() } })).toEqual({
      status: 200,
      body: { bulkOperationId: null, queued: 0, runIds: [] },
    });
  });

  it('still takes run ids, now with a pace', async () => {
    const [run] = await seed([{ integration: 'named', createdAt: ago(5) }]);
    const answer = await post({ runIds: [run], pace: { runs: 2, per: '1m' } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ queued: 1, runIds: [expect.any(String)] });
    const [operation] = await t.db
      .select()
      .from(bulkOperations)
      .where(eq(bulkOperations.id, answer.body.bulkOperationId as string));
    expect({ paceRuns: operation.paceRuns, pacePeriodMs: operation.pacePeriodMs }).toEqual({ paceRuns: 2, pacePeriodMs: 60_000 });
  });

  it('refuses a body that is not exactly one of runIds or a valid filter with a 400 that says what to send, retrying nothing', async () => {
    // Runs a valid filter of 'refused' would retry: none of the bodies below may touch them.
    const [retryable] = await seed([
      { integration: 'refused', createdAt: ago(30) },
      { integration: 'refused', createdAt: ago(20), status: 'cancelled' },
    ]);
    const filter = { integration: 'refused', status: 'failed' };
    const huge = 'x'.repeat(200_000);
    const cases: [string, unknown, Record<string, RegExp> | RegExp][] = [
      ['both forms', { runIds: [retryable], filter }, { filter: /not both/ }],
      ['neither form', {}, { runIds: /send runIds .* or filter/ }],
      ['only a pace', { pace: { runs: 5, per: '1m' } }, { runIds: /send runIds .* or filter/ }],
      ['status succeeded', { filter: { ...filter, status: 'succeeded' } }, { 'filter.status': /failed or cancelled/ }],
      ['no status', { filter: { integration: 'refused' } }, { 'filter.status': /failed or cancelled/ }],
      [
        'a reversed time range',
        { filter: { ...filter, from: ago(10).toISOString(), to: ago(60).toISOString() } },
        { 'filter.to': /reversed/ },
      ],
      ['an unknown integration', { filter: { ...filter, integration: 'no-such-integration' } }, /'no-such-integration' does not exist/],
      ['an unknown key', { filter, force: true }, { force: /is not a field of this request: use runIds, filter, pace/ }],
      ['an unknown key in the filter', { filter: { ...filter, colour: 'red' } }, { 'filter.colour': /is not a field/ }],
      ['a huge integration', { filter: { ...filter, integration: huge } }, { 'filter.integration': /at most 100 characters/ }],
      ['a huge from', { filter: { ...filter, from: huge } }, { 'filter.from': /not a date and time/ }],
      ['a huge key', { filter, [huge]: 1 }, /./],
      ['a pace out of range', { filter, pace: { runs: 0, per: '1m' } }, { 'pace.runs': /at least 1/ }],
      ['retried other than exclude', { filter: { ...filter, retried: 'only' } }, { 'filter.retried': /retried once/ }],
    ];
    const before = await written();
    for (const [name, body, expected] of cases) {
      const answer = await post(body);
      expect({ name, status: answer.status }).toEqual({ name, status: 400 });
      expect(typeof answer.body.error, name).toBe('string');
      expect(JSON.stringify(answer.body).length, `${name}: the refusal echoes the input`).toBeLessThan(2_000);
      if (expected instanceof RegExp) expect(answer.body.error, name).toMatch(expected);
      else {
        const fieldErrors = answer.body.fieldErrors as Record<string, string>;
        for (const [field, message] of Object.entries(expected)) expect(fieldErrors?.[field], `${name}: ${field}`).toMatch(message);
      }
    }
    expect(await written()).toBe(before);
  });

  it('refuses a viewer, retrying nothing', async () => {
    await seed([{ integration: 'refused', createdAt: ago(15) }]);
    const before = await written();
    session.role = 'viewer';
    const answer = await post({ filter: { integration: 'refused', status: 'failed' } });
    expect(answer.status).toBe(403);
    expect(await written()).toBe(before);
  });
});
