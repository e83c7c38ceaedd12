import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { runsScanned } from '../../../test/explain';
import { defineIntegration } from '../contract';
import { buildRegistry, syncRegistry } from '../registry';
import { turnFrom } from './run-order';
import { loadAndStartQuery, loadRunsQuery } from './runner';

/**
 * A run's turn at volume (issue 18): loading a run reads its turn (run-order.ts), the earliest
 * unfinished run of its integration that has started, else the earliest waiting one requested
 * before it. Those subqueries walked the integration's runs of each week, finished ones included,
 * so a start cost grew with how busy the integration had been that week. They must read the
 * unfinished runs only (migration 0020's partial indexes), in the plan the worker actually runs:
 * the prepared statement's generic plan, where a bound status list would hide the index. Another
 * integration's backlog makes the other way round (every unfinished run, then its integration) as
 * costly.
 */

const HISTORY = 3_000;
const BACKLOG = 2_000;

let t: TestDatabase;
const ids = { earlier: '', loaded: '', started: '' };
beforeAll(async () => {
  t = await freshDatabase();
  const idle = (name: string, description: string) =>
    defineIntegration({
      name,
      description,
      settings: z.object({}),
      async execute() {
        return { processed: 0 };
      },
    });
  await syncRegistry(t.db, { registry: buildRegistry([idle('busy', 'Ran a lot this week'), idle('other', 'Has a backlog')]) });
  // This week's history of the integration: finished runs, all in the current week's partition.
  await t.db.execute(sql`
    insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at, started_at, finished_at)
    select gen_random_uuid(), 'busy', 'api', false, 'succeeded', 'bench', 'c', 1, 3,
           now() - interval '1 hour' + g * interval '1 ms', now() - interval '1 hour', now() - interval '1 hour'
      from generate_series(1, ${HISTORY}) g`);
  // Another integration's backlog: unfinished runs, which a plan reading every active run walks instead.
  await t.db.execute(sql`
    insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at)
    select gen_random_uuid(), 'other', 'api', false, 'queued', 'bench', 'c', 0, 3, now() - interval '1 hour' + g * interval '1 ms'
      from generate_series(1, ${BACKLOG}) g`);
  const queued = async (createdAt: string) => {
    const [row] = await t.db.execute<{ id: string }>(sql`
      insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at)
      values (gen_random_uuid(), 'busy', 'api', false, 'queued', 'ada', 'c', 0, 3, ${createdAt}::timestamptz) returning id`);
    return row.id;
  };
  ids.earlier = await queued(new Date(Date.now() - 30_000).toISOString());
  ids.loaded = await queued(new Date(Date.now() - 10_000).toISOString());
  await t.db.execute(sql`analyze runs`);
});
afterAll(async () => {
  await t?.drop();
});

/** loadRuns' statement for `runIds`, explained on one connection in the plan mode given. */
async function explainLoad(runIds: string[], mode: 'force_generic_plan' | 'force_custom_plan') {
  const { sql: text, params } = loadRunsQuery(t.db).toSQL();
  const values = params.map((p) => (typeof p === 'object' && p !== null && 'name' in p ? runIds.join(',') : p));
  const connection = await t.db.$client.reserve();
  try {
    await connection.unsafe(`set plan_cache_mode = ${mode}`);
    await connection.unsafe(`prepare turn_plan as ${text}`);
    const literal = (v: unknown) => (Array.isArray(v) ? `'{${v.join(',')}}'` : typeof v === 'number' ? String(v) : `'${String(v)}'`);
    const [{ 'QUERY PLAN': plan }] = await connection.unsafe(
      `explain (analyze, format json) execute turn_plan(${values.map(literal).join(', ')})`,
    );
    await connection.unsafe('deallocate turn_plan');
    await connection.unsafe('reset plan_cache_mode');
    return (typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan as Record<string, unknown>;
  } finally {
    connection.release();
  }
}

describe("a run's turn, read with the run", () => {
  it('is the earlier queued run, found without reading the finished runs of the week', async () => {
    const [loaded] = await loadRunsQuery(t.db).execute({ ids: ids.loaded });
    expect(turnFrom(loaded.firstTurn).waitFor?.id).toBe(ids.earlier);
    for (const mode of ['force_generic_plan', 'force_custom_plan'] as const) {
      const scanned = runsScanned(await explainLoad([ids.loaded, ids.earlier], mode));
      // The two runs themselves and a few index entries per subquery; walking the week reads thousands.
      expect(scanned, mode).toBeGreaterThan(0);
      expect(scanned, mode).toBeLessThan(50);
    }
  });

  it('is a started unfinished run when there is one, still without reading the history', async () => {
    const [row] = await t.db.execute<{ id: string }>(sql`
      insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at, started_at)
      values (gen_random_uuid(), 'busy', 'api', false, 'retrying', 'ada', 'c', 1, 3, now() - interval '5 minutes', now() - interval '4 minutes')
      returning id`);
    ids.started = row.id;
    const [loaded] = await loadRunsQuery(t.db).execute({ ids: ids.loaded });
    expect(turnFrom(loaded.firstTurn).waitFor?.id).toBe(ids.started);
    const scanned = runsScanned(await explainLoad([ids.loaded], 'force_generic_plan'));
    expect(scanned).toBeGreaterThan(0);
    expect(scanned).toBeLessThan(50);
  });
});

describe("a run's load, prepared", () => {
  it('is planned once per connection and then reused, for one run as for a batch', async () => {
    // What PostgreSQL chooses on its own (plan_cache_mode auto), on one connection, as the worker's
    // prepared statement runs: the per-run path loads one id at a time. A custom plan that looks
    // cheaper than the generic one for a single id made it plan every load anew, for ever.
    const connection = await t.db.$client.reserve();
    try {
      const { sql: text, params } = loadRunsQuery(t.db).toSQL();
      await connection.unsafe(`prepare load_plan as ${text}`);
      for (let i = 0; i < 10; i++) {
        // One run, then two, as the per-run path and a batch load them.
        const runIds = i % 2 === 0 ? ids.loaded : `${ids.loaded},${ids.earlier}`;
        const values = params.map((p) => (typeof p === 'object' && p !== null && 'name' in p ? runIds : p));
        const literals = values.map((v) => (typeof v === 'number' ? String(v) : `'${String(v)}'`));
        await connection.unsafe(`execute load_plan(${literals.join(', ')})`);
      }
      const [counts] = await connection.unsafe<{ generic_plans: number; custom_plans: number }[]>(
        `select generic_plans, custom_plans from pg_prepared_statements where name = 'load_plan'`,
      );
      await connection.unsafe('deallocate load_plan');
      // PostgreSQL tries five custom plans first, then keeps the generic one when it costs no more.
      expect(Number(counts.custom_plans)).toBeLessThanOrEqual(5);
      expect(Number(counts.generic_plans)).toBeGreaterThanOrEqual(5);
    } finally {
      connection.release();
    }
  });
});

describe('the batch load that also starts the usual runs', () => {
  it('reads the turns without the history in the generic plan, which it keeps, as the load alone does', async () => {
    const { sql: text, params } = loadAndStartQuery(t.db).toSQL();
    const runIds = [ids.loaded, ids.earlier];
    const named: Record<string, string> = {
      ids: runIds.join(','),
      // Attempt ids nobody holds a lock on: nothing starts, the statement only reads.
      input: JSON.stringify(runIds.map((id) => ({ run_id: id, job_id: crypto.randomUUID(), attempt_id: crypto.randomUUID() }))),
      registered: 'busy,other',
      worker: 'plan-test',
    };
    const literals = params
      .map((p) => (typeof p === 'object' && p !== null && 'name' in p ? named[String((p as { name: string }).name)] : p))
      .map((v) => (typeof v === 'number' ? String(v) : `'${String(v)}'`));
    const connection = await t.db.$client.reserve();
    try {
      await connection.unsafe('begin');
      await connection.unsafe(`prepare start_plan as ${text}`);
      for (let i = 0; i < 8; i++) await connection.unsafe(`execute start_plan(${literals.join(', ')})`);
      const [counts] = await connection.unsafe<{ generic_plans: number; custom_plans: number }[]>(
        `select generic_plans, custom_plans from pg_prepared_statements where name = 'start_plan'`,
      );
      expect(Number(counts.custom_plans)).toBeLessThanOrEqual(5);
      expect(Number(counts.generic_plans)).toBeGreaterThanOrEqual(3);
      await connection.unsafe('set local plan_cache_mode = force_generic_plan');
      const [{ 'QUERY PLAN': plan }] = await connection.unsafe(`explain (analyze, format json) execute start_plan(${literals.join(', ')})`);
      const root = (typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan as Record<string, unknown>;
      // The two runs read three times (turns, the start, the rows returned) and a few index entries
      // per turn subquery; walking the week reads thousands.
      const scanned = runsScanned(root);
      expect(scanned).toBeGreaterThan(0);
      expect(scanned).toBeLessThan(80);
    } finally {
      await connection.unsafe('rollback').catch(() => {});
      await connection.unsafe('deallocate start_plan').catch(() => {});
      connection.release();
    }
    // Nothing started: no attempt lock was held.
    const [row] = await t.db.execute<{ n: number }>(sql`select count(*)::int as n from attempts`);
    expect(row.n).toBe(0);
  });
});
