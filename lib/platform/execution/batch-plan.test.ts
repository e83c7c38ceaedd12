import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { rowsScanned } from '../../../test/explain';
import { defineIntegration } from '../contract';
import { buildRegistry, syncRegistry } from '../registry';
import { batchKeys, SETTLE_BATCH_SQL, START_BATCH_SQL } from './runner';

/**
 * The batch path's statements at volume (issue 18): a fetch's runs are started in one statement
 * and their successes recorded in another, each joining the batch (a jsonb list the planner
 * takes for 100 rows of unknown values) with runs and attempts. Joined on that alone, both were
 * planned as hash joins over a sequential scan of the whole week's partition, and the attempts'
 * update as a scan of the week's attempts per run: every fetch of 16 read every run of the week
 * twice. They must read the batch's own rows, found by primary key, in the generic and the
 * custom plan alike.
 */

const INTEGRATIONS = 16;
const HISTORY = 4_000;
const name = (i: number) => `batch-plan-${i}`;

let t: TestDatabase;
let batch: { id: string; created_at: string; job_id: string; attempt_id: string; integration: string }[] = [];
beforeAll(async () => {
  t = await freshDatabase();
  const idle = (i: number) =>
    defineIntegration({
      name: name(i),
      description: 'Does nothing',
      settings: z.object({}),
      async execute() {
        return { processed: 0 };
      },
    });
  await syncRegistry(t.db, { registry: buildRegistry(Array.from({ length: INTEGRATIONS }, (_, i) => idle(i))) });
  const names = Array.from({ length: INTEGRATIONS }, (_, i) => name(i)).join(',');
  // A busy week so far: finished runs of these integrations and their attempts, in this week's partitions.
  await t.db.execute(sql`
    with history as (
      insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at, started_at, finished_at)
      select gen_random_uuid(), (string_to_array(${names}, ','))[1 + g % ${INTEGRATIONS}], 'api', false, 'succeeded', 'bench', 'c', 1, 3,
             now() - interval '1 hour' + g * interval '1 ms', now() - interval '1 hour', now() - interval '1 hour'
        from generate_series(1, ${HISTORY}) g
      returning id, created_at)
    insert into attempts (id, run_id, run_created_at, number, job_id, worker, outcome, finished_at)
    select gen_random_uuid(), id, created_at, 1, gen_random_uuid()::text, 'w', 'succeeded', now() from history`);
  // The fetch: one queued run per integration, each with its job.
  batch = await t.db.execute<(typeof batch)[number]>(sql`
    insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at, job_id)
    select gen_random_uuid(), (string_to_array(${names}, ','))[g], 'api', false, 'queued', 'ada', 'c', 0, 3,
           now() - interval '1 minute' + g * interval '1 ms', gen_random_uuid()
      from generate_series(1, ${INTEGRATIONS}) g
    returning id, created_at::text, job_id::text, gen_random_uuid()::text as attempt_id, integration`);
  await t.db.execute(sql`analyze runs`);
  await t.db.execute(sql`analyze attempts`);
});
afterAll(async () => {
  await t?.drop();
});

const keys = () => batchKeys(batch.map((row) => ({ id: row.id, createdAt: new Date(row.created_at) })));

/**
 * `text` prepared and explained with `values` in the plan mode given, on one connection; with
 * `keep` false it runs in a transaction that is rolled back. Returns the plan's root node.
 */
async function explain(text: string, values: string[], mode: 'force_generic_plan' | 'force_custom_plan', keep = false) {
  const connection = await t.db.$client.reserve();
  try {
    if (!keep) await connection.unsafe('begin');
    await connection.unsafe(`set ${keep ? '' : 'local '}plan_cache_mode = ${mode}`);
    await connection.unsafe(`prepare batch_plan as ${text}`);
    const literal = (v: string) => `'${v.replaceAll("'", "''")}'`;
    const [{ 'QUERY PLAN': plan }] = await connection.unsafe(
      `explain (analyze, format json) execute batch_plan(${values.map(literal).join(', ')})`,
    );
    await connection.unsafe('deallocate batch_plan');
    await connection.unsafe(keep ? 'reset plan_cache_mode' : 'rollback');
    return (typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan as Record<string, unknown>;
  } finally {
    connection.release();
  }
}

function startValues() {
  const input = JSON.stringify(
    batch.map((row) => ({ run_id: row.id, created_at: row.created_at, job_id: row.job_id, attempt_id: row.attempt_id })),
  );
  const k = keys();
  return [input, 'batch-plan', k.ids, k.from, k.to];
}

function settleValues() {
  const input = JSON.stringify(
    batch.map((row) => ({
      run_id: row.id,
      created_at: row.created_at,
      attempt_id: row.attempt_id,
      integration: row.integration,
      result: { processed: 0 },
      has_staged: false,
      staged: null,
    })),
  );
  const k = keys();
  return [input, '[]', k.ids, k.from, k.to, batch.map((row) => row.attempt_id).join(','), String(INTEGRATIONS)];
}

describe("a batch's start and its successes", () => {
  it("start the batch's runs reading their own rows, not the week's", async () => {
    for (const mode of ['force_generic_plan', 'force_custom_plan'] as const) {
      const plan = await explain(START_BATCH_SQL, startValues(), mode);
      expect(plan['Actual Rows'], mode).toBe(INTEGRATIONS);
      // Each run once (and its foreign key's check); the week has thousands.
      expect(rowsScanned(plan, 'runs'), mode).toBeLessThanOrEqual(4 * INTEGRATIONS);
    }
  });

  it("record the successes reading the batch's runs and attempts, not the week's", async () => {
    await explain(START_BATCH_SQL, startValues(), 'force_custom_plan', true);
    for (const mode of ['force_generic_plan', 'force_custom_plan'] as const) {
      const plan = await explain(SETTLE_BATCH_SQL, settleValues(), mode);
      // One row (the attempt ids), raised as an error unless every attempt passed its fence.
      expect(plan['Actual Rows'], mode).toBe(1);
      expect(rowsScanned(plan, 'runs'), mode).toBeLessThanOrEqual(4 * INTEGRATIONS);
      expect(rowsScanned(plan, 'attempts'), mode).toBeLessThanOrEqual(2 * INTEGRATIONS);
    }
    const [row] = await t.db.execute<{ running: number }>(sql`select count(*)::int as running from attempts where outcome = 'running'`);
    expect(row.running).toBe(INTEGRATIONS);
  });
});
