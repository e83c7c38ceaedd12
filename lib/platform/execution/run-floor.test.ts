import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { defineIntegration } from '../contract';
import { buildRegistry, syncRegistry } from '../registry';
import { raiseRunFloor } from './run-floor';
import { checkTurn, turnFrom } from './run-order';
import { loadRunsQuery } from './runner';

/**
 * The bound below every unfinished run (migration 0032), which lets a run's turn skip the weeks
 * before it (issue 18: at a year of weekly partitions each turn subquery probed all 52). Skipping
 * a week that holds an unfinished run would let a later run overtake it, two runs of one
 * integration overlap and an export book twice: these tests hold transactions open, write runs in
 * the past and race the bound's raise, and check the turn still sees the run.
 */

/** How far below the oldest unfinished run (or open transaction) a raise leaves the bound: the server's clock may step back. */
const MARGIN_MS = 3_600_000;

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  const idle = (name: string) =>
    defineIntegration({
      name,
      description: 'Takes turns',
      settings: z.object({}),
      async execute() {
        return { processed: 0 };
      },
    });
  await syncRegistry(t.db, { registry: buildRegistry([idle('busy'), idle('quiet')]) });
  // A year of weekly partitions, as a database with a year's retention has.
  await t.db.execute(sql`select ensure_run_partitions(now() - interval '52 weeks', 53)`);
});
afterAll(async () => {
  await t?.drop();
});
beforeEach(async () => {
  await t.db.execute(sql`delete from runs`);
  await t.db.execute(sql`update run_active_floor set since = '-infinity', raised_at = null`);
});

/** A run of `integration` written now (created_at = its transaction's start), or at `createdAt`. */
async function run(
  integration: string,
  params: { status?: string; createdAt?: string; startedAt?: boolean; via?: (q: string) => Promise<{ id: string }[]> } = {},
) {
  const text = `insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at, started_at)
    values (gen_random_uuid(), '${integration}', 'api', false, '${params.status ?? 'queued'}', 'ada', 'c', 0, 3,
            ${params.createdAt ? `'${params.createdAt}'::timestamptz` : 'now()'}, ${params.startedAt ? 'now()' : 'null'}) returning id`;
  const rows = params.via ? await params.via(text) : await t.db.execute<{ id: string }>(sql.raw(text));
  return rows[0].id;
}

async function floor(): Promise<Date> {
  const [row] = await t.db.execute<{ since: string }>(sql`select since::text as since from run_active_floor`);
  return new Date(row.since === '-infinity' ? -8.64e15 : row.since);
}

async function createdAt(id: string): Promise<Date> {
  const [row] = await t.db.execute<{ at: string }>(sql`select created_at::text as at from runs where id = ${id}`);
  return new Date(row.at);
}

/** What `id` waits for, read as the worker reads it (the batch load's first turn). */
async function waitsFor(id: string): Promise<string | undefined> {
  const [loaded] = await loadRunsQuery(t.db).execute({ ids: id });
  return turnFrom(loaded.firstTurn).waitFor?.id;
}

/** The weekly partitions of runs the turn subqueries of a load of `ids` executed (the generic plan the worker runs). */
async function weeksProbed(ids: string[]): Promise<number> {
  const { sql: text, params } = loadRunsQuery(t.db).toSQL();
  const values = params.map((p) => (typeof p === 'object' && p !== null && 'name' in p ? ids.join(',') : p));
  const literal = (v: unknown) => (typeof v === 'number' ? String(v) : `'${String(v)}'`);
  const connection = await t.db.$client.reserve();
  try {
    await connection.unsafe('set plan_cache_mode = force_generic_plan');
    await connection.unsafe(`prepare floor_plan as ${text}`);
    const [{ 'QUERY PLAN': plan }] = await connection.unsafe(
      `explain (analyze, format json) execute floor_plan(${values.map(literal).join(', ')})`,
    );
    await connection.unsafe('deallocate floor_plan');
    await connection.unsafe('reset plan_cache_mode');
    const weeks = new Set<string>();
    const walk = (node: Record<string, unknown>, inSubPlan: boolean) => {
      const sub = inSubPlan || node['Parent Relationship'] === 'SubPlan';
      const relation = String(node['Relation Name'] ?? '');
      if (sub && relation.startsWith('runs_w') && Number(node['Actual Loops'] ?? 0) > 0) weeks.add(relation);
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child, sub);
    };
    walk((typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan, false);
    return weeks.size;
  } finally {
    connection.release();
  }
}

describe('the bound below unfinished runs', () => {
  it("lets a run's turn skip the weeks before it, once raised", async () => {
    await run('busy', { status: 'succeeded', createdAt: new Date(Date.now() - 200 * 86_400_000).toISOString() });
    const earlier = await run('busy');
    // Two inserts in a row often start in the same millisecond (created_at's precision): such runs
    // were requested concurrently and neither waits for the other (run-order.ts). A later one is.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = await run('busy');
    expect((await createdAt(later)).getTime()).toBeGreaterThan((await createdAt(earlier)).getTime());
    await t.db.execute(sql`analyze runs`);
    // No bound yet: every week of the year is probed.
    expect(await weeksProbed([later])).toBeGreaterThanOrEqual(52);
    const raised = await raiseRunFloor(t.db);
    expect(raised).not.toBeNull();
    expect(raised!.getTime()).toBe((await createdAt(earlier)).getTime() - MARGIN_MS);
    // This week (and the one before in the first hour of a Monday) and the few empty ones ahead:
    // a started run may be of any week since the bound.
    expect(await weeksProbed([later])).toBeLessThanOrEqual(7);
    expect(await waitsFor(later)).toBe(earlier);
  });

  it('stays below a run that a transaction still open wrote, and the run is waited for once committed', async () => {
    // Eight times: created_at is the transaction's start rounded to the millisecond, down about
    // half the time, and the bound must be below it either way.
    for (let round = 0; round < 8; round++) {
      const connection = await t.db.$client.reserve();
      try {
        await connection.unsafe('begin');
        // Written now, committed late: its created_at is its transaction's start.
        const late = await run('busy', { via: (q) => connection.unsafe(q) as Promise<{ id: string }[]> });
        await new Promise((resolve) => setTimeout(resolve, 20));
        const committed = await run('busy');
        // At the least margin, the millisecond created_at is kept to: the transaction has been
        // open 20 ms, not the hour the default margin covers.
        const raised = await raiseRunFloor(t.db, { marginMs: 0 });
        expect(raised).not.toBeNull();
        await connection.unsafe('commit');
        // The raise saw only the later run; taking it as the bound would skip the late one (and
        // its week, in a week's first milliseconds) and let the later run start first.
        expect(raised!.getTime()).toBeLessThan((await createdAt(late)).getTime());
        expect(await waitsFor(committed)).toBe(late);
        const turn = await checkTurn(t.db, { id: committed, integration: 'busy', trigger: 'api', startedAt: null, dryRun: false });
        expect(turn.waitFor?.id).toBe(late);
        await t.db.execute(sql`update runs set status = 'succeeded' where id in (${late}, ${committed})`);
      } finally {
        await connection.unsafe('rollback').catch(() => {});
        connection.release();
      }
    }
  });

  it('is lowered by a run written unfinished in a past week, and a raise never passes it', async () => {
    await run('busy');
    await raiseRunFloor(t.db);
    const monthAgo = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const backfilled = await run('busy', { createdAt: monthAgo, startedAt: true, status: 'retrying' });
    expect((await floor()).getTime()).toBe((await createdAt(backfilled)).getTime());
    await raiseRunFloor(t.db);
    expect((await floor()).getTime()).toBe((await createdAt(backfilled)).getTime() - MARGIN_MS);
    const next = await run('busy');
    expect(await waitsFor(next)).toBe(backfilled);
  });

  it('is lowered by a finished run set back to unfinished', async () => {
    const old = await run('busy', { status: 'failed', createdAt: new Date(Date.now() - 60 * 86_400_000).toISOString() });
    await run('busy');
    await raiseRunFloor(t.db);
    expect((await floor()).getTime()).toBeGreaterThan((await createdAt(old)).getTime());
    await t.db.execute(sql`update runs set status = 'queued' where id = ${old}`);
    expect((await floor()).getTime()).toBe((await createdAt(old)).getTime());
    expect(await waitsFor(await run('busy'))).toBe(old);
  });

  it('is not raised while a transaction writing a run in the past holds it, nor past that run after', async () => {
    // The bound is two weeks back already (an unfinished run there), below the run written next:
    // lowering it changes nothing, but the row is still held until that transaction ends.
    const twoWeeksAgo = new Date(Date.now() - 14 * 86_400_000).toISOString();
    const oldest = await run('busy', { createdAt: twoWeeksAgo, startedAt: true, status: 'retrying' });
    await run('busy');
    await raiseRunFloor(t.db);
    expect((await floor()).getTime()).toBe((await createdAt(oldest)).getTime() - MARGIN_MS);
    const connection = await t.db.$client.reserve();
    try {
      await connection.unsafe('begin');
      const weekAgo = new Date(Date.now() - 7 * 86_400_000).toISOString();
      const backfilled = await run('busy', { createdAt: weekAgo, via: (q) => connection.unsafe(q) as Promise<{ id: string }[]> });
      // The oldest run finishes meanwhile: a raise now would see the backfilled run's transaction
      // open (but not the run, dated a week before that transaction began) and the newest run.
      await t.db.execute(sql`update runs set status = 'succeeded' where id = ${oldest}`);
      expect(await raiseRunFloor(t.db)).toBeNull();
      await connection.unsafe('commit');
      const raised = await raiseRunFloor(t.db);
      expect(raised!.getTime()).toBe((await createdAt(backfilled)).getTime() - MARGIN_MS);
      expect(await waitsFor(await run('busy'))).toBe(backfilled);
    } finally {
      await connection.unsafe('rollback').catch(() => {});
      connection.release();
    }
  });

  it('is lowered by a run written in the past while a raise holds the row, once that raise commits', async () => {
    await run('busy');
    await raiseRunFloor(t.db);
    const raiser = await t.db.$client.reserve();
    const writer = await t.db.$client.reserve();
    try {
      // A raise that has locked the row and is about to set a bound above the run written meanwhile.
      await raiser.unsafe('begin');
      await raiser.unsafe('select 1 from run_active_floor where id = 1 for update');
      await writer.unsafe('begin');
      const weekAgo = new Date(Date.now() - 7 * 86_400_000).toISOString();
      const insert = run('busy', { createdAt: weekAgo, via: (q) => writer.unsafe(q) as Promise<{ id: string }[]> });
      await new Promise((resolve) => setTimeout(resolve, 100));
      await raiser.unsafe(`update run_active_floor set since = now() where id = 1`);
      await raiser.unsafe('commit');
      const backfilled = await insert;
      await writer.unsafe('commit');
      expect((await floor()).getTime()).toBe((await createdAt(backfilled)).getTime());
      expect(await waitsFor(await run('busy'))).toBe(backfilled);
    } finally {
      await raiser.unsafe('rollback').catch(() => {});
      await writer.unsafe('rollback').catch(() => {});
      raiser.release();
      writer.release();
    }
  });

  it('is raised past every run when none is unfinished, and up to the oldest open transaction', async () => {
    await run('busy', { status: 'succeeded' });
    const before = Date.now();
    const raised = await raiseRunFloor(t.db);
    // No unfinished run: the bound is an hour before the start of the oldest transaction open (or now).
    expect(raised!.getTime()).toBeGreaterThan(before - MARGIN_MS - 60_000);
    expect(raised!.getTime()).toBeLessThanOrEqual(before - MARGIN_MS + 1_000);
    expect(await waitsFor(await run('quiet'))).toBeUndefined();
  });

  it('refuses to raise inside a snapshot older than its own statements', async () => {
    await expect(
      t.db.transaction(
        async (tx) => {
          await tx.execute(sql`select raise_run_active_floor()`);
        },
        { isolationLevel: 'repeatable read' },
      ),
    ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/needs READ COMMITTED/) } });
  });

  it('is left alone by a caller who cannot see every transaction of the database', async () => {
    await run('busy');
    await raiseRunFloor(t.db);
    const before = await floor();
    // A role without pg_read_all_stats sees other roles' sessions without their transactions.
    const url = new URL(inject('adminUrl'));
    url.pathname = `/${t.name}`;
    const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
    const role = `floor_blind_${Math.random().toString(36).slice(2, 10)}`;
    try {
      await admin.unsafe(`create role ${role}`);
      await admin.unsafe(`grant select, update on run_active_floor to ${role}; grant select on runs to ${role}`);
      await t.db.execute(sql`select 1`); // a session of the test's own role, open
      await admin.unsafe(`set role ${role}`);
      const [row] = await admin.unsafe<{ since: string | null }[]>('select raise_run_active_floor() as since');
      expect(row.since).toBeNull();
      await admin.unsafe('reset role');
      expect((await floor()).getTime()).toBe(before.getTime());
    } finally {
      await admin.unsafe('reset role').catch(() => {});
      await admin.unsafe(`drop owned by ${role}; drop role if exists ${role}`).catch(() => {});
      await admin.end();
    }
  });

  it('reads as no bound when its row is missing', async () => {
    const old = await run('busy', { createdAt: new Date(Date.now() - 90 * 86_400_000).toISOString() });
    await t.db.execute(sql`delete from run_active_floor`);
    try {
      expect(await waitsFor(await run('busy'))).toBe(old);
      expect(await raiseRunFloor(t.db)).toBeNull();
    } finally {
      await t.db.execute(sql`insert into run_active_floor (id, since) values (1, '-infinity')`);
    }
  });
});

describe('the bound below unfinished runs, under concurrent writers', () => {
  it('is never above an unfinished run in any snapshot, while runs are written, backdated, finished and set back', async () => {
    const client = postgres(t.url, { max: 10, onnotice: () => {} });
    const stopAt = Date.now() + 4_000;
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const violations: string[] = [];
    let raises = 0;
    let checks = 0;
    let written = 0;
    try {
      const writer = async () => {
        while (Date.now() < stopAt) {
          const connection = await client.reserve();
          try {
            await connection.unsafe('begin');
            const roll = Math.random();
            if (roll < 0.1) {
              // Dated a little before its transaction began (a backfill, a clock stepping back):
              // often at or above the bound already, so lowering it changes nothing.
              await connection.unsafe(`insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at)
                values (gen_random_uuid(), 'busy', 'api', false, 'queued', 'ada', 'c', 0, 3, now() - random() * interval '50 milliseconds')`);
            } else if (roll < 0.2) {
              // A finished run set back to unfinished.
              await connection.unsafe(
                `update runs set status = 'retrying' where id = (select id from runs where status = 'succeeded' order by random() limit 1)`,
              );
            } else {
              // Written now: created_at is this transaction's start, committed up to 20 ms later.
              await connection.unsafe(`insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts)
                values (gen_random_uuid(), 'busy', 'api', false, 'queued', 'ada', 'c', 0, 3)`);
            }
            await pause(Math.random() * 20);
            await connection.unsafe(Math.random() < 0.1 ? 'rollback' : 'commit');
            written++;
          } finally {
            await connection.unsafe('rollback').catch(() => {});
            connection.release();
          }
        }
      };
      // Finishes the oldest unfinished runs it can see, so the bound keeps rising to the newest
      // committed ones while older runs sit in transactions not yet committed.
      const finisher = async () => {
        while (Date.now() < stopAt) {
          await client`update runs set status = 'succeeded'
                        where id in (select id from runs where status in ('queued', 'retrying') order by created_at limit 3)`;
        }
      };
      const raiser = async () => {
        while (Date.now() < stopAt) {
          await client`select raise_run_active_floor(interval '0')`;
          raises++;
        }
      };
      const checker = async () => {
        while (Date.now() < stopAt) {
          // One statement, one snapshot: what a turn subquery sees.
          const rows = await client<{ id: string; created_at: string; since: string }[]>`
            select r.id, r.created_at::text, f.since::text from runs r, run_active_floor f
             where r.status in ('queued', 'running', 'retrying', 'deferred') and r.created_at < f.since`;
          for (const row of rows) violations.push(`${row.id} created ${row.created_at}, bound ${row.since}`);
          checks++;
        }
      };
      await Promise.all([writer(), writer(), writer(), writer(), finisher(), raiser(), checker(), checker()]);
    } finally {
      await client.end();
    }
    expect(violations).toEqual([]);
    // It did rise while they wrote: the property is not held by a bound left at -infinity.
    expect(raises).toBeGreaterThan(20);
    expect(checks).toBeGreaterThan(20);
    expect(written).toBeGreaterThan(50);
    expect((await floor()).getTime()).toBeGreaterThan(Date.now() - 15 * 86_400_000);
  });
});
