import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts, breakers, integrations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { logBatchInsert } from '../log';
import { listInventory } from './inventory';
import { AWAITING_ACTION_WINDOW_MS, awaitingActionFilter, getRunDetail, listRuns, overviewStats, ZRunFilter } from './run-queries';

let t: TestDatabase;
const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);

beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values([
    { name: 'alpha', description: 'Alpha export', breakerKey: 'alpha' },
    { name: 'beta', description: 'Beta sync', breakerKey: 'shared-crm' },
    { name: 'gamma', description: 'Paused one', breakerKey: 'gamma', paused: true },
    { name: 'ghost', description: 'Handler removed', breakerKey: 'ghost', registered: false },
    { name: 'delta', description: 'Never ran', breakerKey: 'delta' },
  ]);
  await t.db
    .insert(breakers)
    .values({ key: 'shared-crm', state: 'open', consecutiveFailures: 3, openUntil: new Date(Date.now() + 60_000) });
  const base = { trigger: 'schedule' as const, triggeredBy: 'schedule', correlationId: 'c', maxAttempts: 4 };
  const inserted = await t.db
    .insert(runs)
    .values([
      ...Array.from({ length: 6 }, (_, i) => ({
        ...base,
        integration: 'alpha',
        status: 'succeeded' as const,
        createdAt: ago(100 + i),
        finishedAt: ago(99 + i),
      })),
      {
        ...base,
        integration: 'alpha',
        status: 'failed' as const,
        createdAt: ago(50),
        finishedAt: ago(49),
        errorMessage: 'HTTP 503 from accounting',
      },
      { ...base, integration: 'alpha', status: 'succeeded' as const, createdAt: ago(10), finishedAt: ago(9) },
      { ...base, integration: 'beta', status: 'failed' as const, createdAt: ago(20), finishedAt: ago(19) },
      { ...base, integration: 'beta', status: 'succeeded' as const, createdAt: ago(30 * 60), finishedAt: ago(30 * 60) },
      { ...base, integration: 'alpha', status: 'failed' as const, dryRun: true, createdAt: ago(5), finishedAt: ago(5) },
    ])
    .returning();
  const failedAlpha = inserted.find((r) => r.errorMessage)!;
  const [a1, a2] = await t.db
    .insert(attempts)
    .values([
      {
        runId: failedAlpha.id,
        runCreatedAt: failedAlpha.createdAt,
        number: 1,
        outcome: 'failed',
        errorMessage: 'HTTP 503',
        errorClass: 'TransientError',
        finishedAt: ago(49),
      },
      {
        runId: failedAlpha.id,
        runCreatedAt: failedAlpha.createdAt,
        number: 2,
        outcome: 'failed',
        errorMessage: 'HTTP 503 from accounting',
        errorClass: 'TransientError',
        finishedAt: ago(49),
      },
    ])
    .returning();
  await t.db.execute(
    logBatchInsert({ attemptId: a1.id, runCreatedAt: failedAlpha.createdAt }, [
      { level: 'info', message: 'posting batch 1', data: null, at: new Date() },
    ]),
  );
  await t.db.execute(
    logBatchInsert({ attemptId: a2.id, runCreatedAt: failedAlpha.createdAt }, [
      { level: 'error', message: 'batch 1 failed', data: null, at: new Date() },
    ]),
  );
  await t.db.insert(runs).values({
    ...base,
    trigger: 'retry',
    integration: 'alpha',
    status: 'succeeded',
    retryOf: failedAlpha.id,
    triggeredBy: 'oscar',
    createdAt: ago(8),
  });
});
afterAll(() => t.drop());

describe('inventory', () => {
  it('derives each integration state and its 24 h success rate, ignoring dry-runs', async () => {
    const rows = await listInventory(t.db);
    const by = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(by.alpha.state).toBe('healthy');
    expect(by.alpha.finished24h).toBe(9);
    expect(by.alpha.succeeded24h).toBe(8);
    expect(by.alpha.lastRun?.status).toBe('succeeded');
    expect(by.beta.state).toBe('breaker_open');
    expect(by.beta.successRate24h).toBe(0);
    expect(by.gamma.state).toBe('paused');
    expect(by.ghost.state).toBe('orphaned');
    expect(by.delta.state).toBe('new');
    expect(by.delta.successRate24h).toBeNull();
    expect(rows.at(-1)?.name).toBe('ghost');
  });

  it('searches name and description', async () => {
    expect((await listInventory(t.db, { search: 'sync' })).map((r) => r.name)).toEqual(['beta']);
    expect(await listInventory(t.db, { search: '%' })).toEqual([]);
  });
});

describe('runs list', () => {
  it('filters by integration and status, newest first, with the retry that followed', async () => {
    const { items } = await listRuns(t.db, { integration: 'alpha', status: 'failed', dryRun: 'exclude' });
    expect(items).toHaveLength(1);
    expect(items[0].errorMessage).toBe('HTTP 503 from accounting');
    expect(items[0].retriedBy).not.toBeNull();
  });

  it('walks every run exactly once with keyset pagination', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await listRuns(t.db, { limit: 3, after });
      seen.push(...page.items.map((r) => r.id));
      after = page.next ?? undefined;
    } while (after);
    expect(seen).toHaveLength(12);
    expect(new Set(seen).size).toBe(12);
  });

  it('refuses a malformed cursor with a message', async () => {
    await expect(listRuns(t.db, { after: 'garbage' })).rejects.toThrow(/cursor must be/);
  });

  it('refuses cursors and times PostgreSQL cannot read with a message, before any query', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const bad: [Record<string, string>, RegExp][] = [
      [{ after: `notadate|${id}` }, /is not a date and time/],
      [{ after: '2026-01-01T00:00:00Z|------------------------------------' }, /is not a run id/],
      [{ after: `-271821-04-20|${id}` }, /out of range/],
      [{ after: `275760-09-13|${id}` }, /out of range|not a date/],
      [{ after: `2026-01-01T00:00:00Z|${id}|more` }, /cursor must be/],
      [{ from: '-271821-04-20' }, /out of range/],
      [{ from: '-000001-01-01' }, /out of range/],
      [{ to: '+275760-09-13T00:00:00Z' }, /out of range/],
      [{ from: 'tomorrow' }, /is not a date and time/],
      [{ from: '-4713-01-01' }, /out of range/],
      [{ from: '2026-02-30' }, /has no day 30/],
      [{ to: '12' }, /is not a date and time/],
      [{ integration: 'crm\u0000sync' }, /NUL/],
    ];
    for (const [filter, message] of bad) {
      const parsed = ZRunFilter.safeParse(filter);
      expect(parsed.success, JSON.stringify(filter)).toBe(false);
      expect(parsed.error?.issues[0].message).toMatch(message);
    }
    // Valid extremes still work end to end.
    expect((await listRuns(t.db, { from: '0001-01-01', to: '9999-12-31T23:59:59Z' })).items.length).toBeGreaterThan(0);
    expect((await listRuns(t.db, { after: `2026-01-01T00:00:00Z|${id.toUpperCase()}` })).items).toEqual([]);
  });

  it('refuses a time range whose To is before its From, naming the field, instead of answering an empty list', async () => {
    const reversed = ZRunFilter.safeParse({ from: '2026-12-01T08:00', to: '2026-11-30T08:00:00+01:00' });
    expect(reversed.success).toBe(false);
    expect(reversed.error?.issues).toEqual([
      expect.objectContaining({
        path: ['to'],
        message: 'To (2026-11-30 07:00:00 UTC) is before From (2026-12-01 08:00:00 UTC): the time range is reversed. Swap the two times.',
      }),
    ]);
    await expect(listRuns(t.db, { from: ago(10).toISOString(), to: ago(60).toISOString() })).rejects.toThrow(/time range is reversed/);
    // The same range in order finds the runs between; one instant (From = To) is a range too.
    expect((await listRuns(t.db, { from: ago(60).toISOString(), to: ago(10).toISOString() })).items.length).toBeGreaterThan(0);
    expect(ZRunFilter.safeParse({ from: '2026-12-01T08:00:00Z', to: '2026-12-01T09:00:00+01:00' }).success).toBe(true);
  });
});

describe('run detail and overview', () => {
  it('returns attempts in order with their logs and the retries', async () => {
    const { items } = await listRuns(t.db, { integration: 'alpha', status: 'failed', dryRun: 'exclude' });
    const detail = await getRunDetail(t.db, { id: items[0].id });
    expect(detail?.attempts.map((a) => a.number)).toEqual([1, 2]);
    expect(detail?.attempts[1].logs.map((l) => l.message)).toEqual(['batch 1 failed']);
    expect(detail?.retries).toHaveLength(1);
    expect(await getRunDetail(t.db, { id: 'not-a-uuid' })).toBeNull();
  });

  it('counts failed runs nobody retried yet, and the list it links to shows exactly those', async () => {
    const since = new Date(Date.now() - AWAITING_ACTION_WINDOW_MS);
    const stats = await overviewStats(t.db, { since });
    expect(stats.failedAwaitingAction).toBe(1);
    const linked = await listRuns(t.db, { ...awaitingActionFilter(since), limit: 200 });
    expect(linked.items).toHaveLength(stats.failedAwaitingAction);
    expect(linked.items.every((r) => r.status === 'failed' && !r.dryRun && r.retriedBy === null)).toBe(true);
    expect((await listRuns(t.db, { status: 'failed', dryRun: 'exclude', retried: 'only' })).items).toHaveLength(1);
    expect(stats.daily.find((d) => d.integration === 'alpha')?.finished).toBeGreaterThan(0);
  });
});

describe('active runs filter', () => {
  it('lists every queued, running, retrying and deferred run under status=active, and nothing finished', async () => {
    await t.db.insert(integrations).values({ name: 'epsilon', breakerKey: 'epsilon' });
    const base = { integration: 'epsilon', trigger: 'manual' as const, triggeredBy: 'ada', correlationId: 'c', maxAttempts: 4 };
    const statuses = ['queued', 'running', 'retrying', 'deferred', 'succeeded', 'failed', 'cancelled'] as const;
    await t.db.insert(runs).values(statuses.map((status, i) => ({ ...base, status, createdAt: ago(i + 1) })));
    const { items } = await listRuns(t.db, { integration: 'epsilon', status: 'active' });
    expect(items.map((r) => r.status)).toEqual(['queued', 'running', 'retrying', 'deferred']);
    expect((await listRuns(t.db, { integration: 'epsilon', status: 'running' })).items.map((r) => r.status)).toEqual(['running']);
  });
});
