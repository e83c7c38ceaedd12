import { sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { relationsIn } from '../../../test/explain';
import { defineIntegration } from '../contract';
import { buildRegistry, syncRegistry } from '../registry';
import { commitCheckpointStatement, resumeStatement, WRITE_CHECKPOINT } from './checkpoint';
import { succeededStatement } from './runner';

/**
 * A run's own statements at a year of runs (issue 18, "Volume"). The per-run path's success (the
 * product's default) is planned on every call, and it named the run by id alone, so every call
 * planned it over each weekly partition of runs and attempts: at 53 weeks the worker drained
 * 60–75 runs/s with 25–30 ms of PostgreSQL time per run (bench/README.md, 1). The checkpoint's
 * write (after every acknowledged batch), the resume from it and its commit as the cursor named the
 * run by id alone too. Naming the run's week lets the planner keep that week only (and, for the
 * cursor's check of a later run, the weeks after it).
 */

let t: TestDatabase;
let run: { id: string; createdAt: Date; integration: string };
let week: string;
let attemptId: string;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.execute(sql`select ensure_run_partitions(now() - interval '52 weeks', 53)`);
  const idle = defineIntegration({
    name: 'plan-year',
    description: 'Does nothing',
    settings: z.object({}),
    async execute() {
      return { processed: 0 };
    },
  });
  await syncRegistry(t.db, { registry: buildRegistry([idle]) });
  const [row] = await t.db.execute<{ id: string; created_at: string; week: string }>(sql`
    insert into runs (integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, started_at)
    values ('plan-year', 'api', 'running', 'ada', 'c', 1, 3, now())
    returning id, created_at::text, to_char(run_partition_week(created_at) at time zone 'UTC', 'YYYYMMDD') as week`);
  run = { id: row.id, createdAt: new Date(row.created_at), integration: 'plan-year' };
  week = row.week;
  const [attempt] = await t.db.execute<{ id: string }>(sql`
    insert into attempts (run_id, run_created_at, number, worker) values (${run.id}, ${row.created_at}::timestamptz, 1, 'w') returning id`);
  attemptId = attempt.id;
});
afterAll(async () => {
  await t?.drop();
});

type Explained = { 'QUERY PLAN': [{ Plan: Record<string, unknown> }] }[];

/** The relations the plan of `statement` names (planned with its values, as each call is). */
async function planned(statement: SQL): Promise<string[]> {
  const [row] = await t.db.execute<Explained[number]>(sql`explain (format json) ${statement}`);
  return [...relationsIn(row['QUERY PLAN'][0].Plan)];
}

const succeeded = (staged: { value: unknown } | undefined) =>
  succeededStatement({ run, attemptId, result: { processed: 1 }, staged, lastLines: [], announce: true });

/** The weekly partitions of runs and attempts a plan names from weeks before the run's. */
function earlierWeeks(relations: string[]): string[] {
  return relations.filter((r) => {
    const m = /^(runs|attempts|attempt_log_batches)_w(\d{8})$/.exec(r);
    return m !== null && m[2] < week;
  });
}

describe('a run’s own statements, with a year of weekly partitions', () => {
  it('a success on the per-run path plans the run’s own week of runs and attempts, not the 52 before it', async () => {
    const [weeks] = await t.db.execute<{ n: number }>(sql`select count(*)::int as n from pg_inherits where inhparent = 'runs'::regclass`);
    expect(weeks.n).toBeGreaterThanOrEqual(53);
    for (const staged of [undefined, { value: { page: 3 } }]) {
      const relations = await planned(succeeded(staged));
      expect(relations).toContain(`runs_w${week}`);
      expect(relations).toContain(`attempts_w${week}`);
      expect(earlierWeeks(relations)).toEqual([]);
    }
  });

  it('a checkpoint’s write, the resume from it and its commit as the cursor plan the run’s own week', async () => {
    const runCreatedAt = run.createdAt;
    const explained = await t.db.$client.unsafe<Explained>(`explain (format json) ${WRITE_CHECKPOINT}`, [
      '{"page":3}',
      run.id,
      attemptId,
      runCreatedAt.toISOString(),
    ]);
    const writes = [...relationsIn(explained[0]['QUERY PLAN'][0].Plan)];
    const resumes = await planned(resumeStatement({ runId: run.id, runCreatedAt, attemptId }));
    const commits = await planned(commitCheckpointStatement(run));
    for (const relations of [writes, resumes, commits]) {
      expect(relations).toContain(`runs_w${week}`);
      expect(earlierWeeks(relations)).toEqual([]);
    }
    expect(writes).toContain(`attempts_w${week}`);
    expect(resumes).toContain(`attempts_w${week}`);
  });

  it('still records the success', async () => {
    const [row] = await t.db.execute<{ status: string; closed: boolean }>(
      succeededStatement({ run, attemptId, result: { processed: 1 }, staged: undefined, lastLines: [], announce: false }),
    );
    expect(row).toMatchObject({ status: 'running', closed: true });
    const [after] = await t.db.execute<{ status: string; outcome: string }>(sql`
      select r.status, a.outcome from runs r join attempts a on a.run_id = r.id where r.id = ${run.id}`);
    expect(after).toEqual({ status: 'succeeded', outcome: 'succeeded' });
  });
});
