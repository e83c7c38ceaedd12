import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import type { IntegrationDefinition } from '../lib/platform/contract';
import { buildRegistry, syncRegistry } from '../lib/platform/registry';
import { freshDatabase, type TestDatabase } from '../test/db';
import { connect, disconnect, type Database } from './client';
import { applyMigrations, migrationsFolder, migrationStatus, shippedMigrations } from './migrate';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

/**
 * A new database holding the schema as it was before the migration written at `beforeMillis`
 * (the migrations before it applied and recorded in the journal as applied), for a test of that
 * migration on existing rows; `drop` removes it.
 */
async function databaseBefore(beforeMillis: number, label: string): Promise<{ db: Database; drop: () => Promise<void> }> {
  const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => {} });
  const name = `jt_${label}_${randomBytes(4).toString('hex')}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(inject('adminUrl'));
  url.pathname = `/${name}`;
  const db = connect(url.toString(), { max: 1, name: label });
  const drop = async () => {
    await disconnect(db);
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  };
  try {
    const before = readMigrationFiles({ migrationsFolder }).filter((m) => m.folderMillis < beforeMillis);
    await db.execute(sql`create schema drizzle`);
    await db.execute(sql`create table drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`);
    for (const m of before) {
      for (const statement of m.sql) await db.execute(sql.raw(statement));
      await db.execute(sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${m.hash}, ${m.folderMillis})`);
    }
  } catch (error) {
    await drop();
    throw error;
  }
  return { db, drop };
}

describe('migrations', () => {
  it('reports a migrated database as current', async () => {
    const status = await migrationStatus(t.db);
    expect(status).toEqual({ applied: shippedMigrations().length, shipped: shippedMigrations().length, current: true });
  });

  it('reports a database with a missing migration as not current', async () => {
    await t.db.execute(sql`create table drizzle.__saved as select * from drizzle.__drizzle_migrations`);
    await t.db.execute(sql`delete from drizzle.__drizzle_migrations where id = (select max(id) from drizzle.__drizzle_migrations)`);
    const status = await migrationStatus(t.db);
    expect(status.current).toBe(false);
    expect(status.applied).toBe(shippedMigrations().length - 1);
    await t.db.execute(
      sql`insert into drizzle.__drizzle_migrations select * from drizzle.__saved s where s.id not in (select id from drizzle.__drizzle_migrations)`,
    );
  });
});

describe('concurrent starters', () => {
  it('serialises two starters on an empty database: both succeed and every migration is applied once', async () => {
    const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => {} });
    const name = `jt_mig_${randomBytes(4).toString('hex')}`;
    await admin.unsafe(`create database ${name}`);
    const url = new URL(inject('adminUrl'));
    url.pathname = `/${name}`;
    const starters = [connect(url.toString(), { max: 1, name: 'starter-a' }), connect(url.toString(), { max: 1, name: 'starter-b' })];
    try {
      const results = await Promise.allSettled(starters.map((db) => applyMigrations(db)));
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
      const applied = await starters[0].execute<{ n: number; distinct_hashes: number }>(
        sql`select count(*)::int as n, count(distinct hash)::int as distinct_hashes from drizzle.__drizzle_migrations`,
      );
      expect(applied[0]).toEqual({ n: shippedMigrations().length, distinct_hashes: shippedMigrations().length });
      expect(await migrationStatus(starters[1])).toMatchObject({ current: true });
    } finally {
      for (const db of starters) await disconnect(db);
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});

describe('migration 0016: runs, attempts and logs partitioned by week', () => {
  it('moves existing runs, attempts and logs into the weeks of their runs, keys and sequence intact', async () => {
    // The schema as it was before 0016, recorded in the journal as applied.
    const { db, drop } = await databaseBefore(1797100000000, 'mig16');
    try {
      await db.execute(sql`insert into integrations (name, breaker_key) values ('x', 'x')`);
      // 60 runs over 120 days (microsecond created_at, as before), 2 attempts and 3 log lines each.
      await db.execute(sql`
        with r as (
          insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
          select 'x', 'schedule', (case when g % 7 = 0 then 'queued' else 'succeeded' end)::run_status, 's', 'c', 3,
                 now() - make_interval(days => g * 2) - make_interval(secs => 0.123456)
            from generate_series(0, 59) g returning id),
        a as (insert into attempts (run_id, number, outcome) select id, n, 'succeeded' from r cross join generate_series(1, 2) n returning id)
        insert into attempt_logs (attempt_id, level, message) select id, 'info', 'line ' || k from a cross join generate_series(1, 3) k`);

      await applyMigrations(db);

      const [counts] = await db.execute<{ runs: number; attempts: number; logs: number; in_default: number; weeks: number }>(sql`
        select (select count(*)::int from runs) as runs, (select count(*)::int from attempts) as attempts,
               (select count(*)::int from attempt_logs) as logs, (select count(*)::int from runs_default) as in_default,
               (select count(distinct tableoid)::int from runs) as weeks`);
      expect(counts).toEqual({ runs: 60, attempts: 120, logs: 360, in_default: 0, weeks: expect.any(Number) });
      expect(counts.weeks).toBeGreaterThanOrEqual(17);
      // Every attempt and line sits in its run's week, under the composite foreign keys.
      const [misplaced] = await db.execute<{ n: number }>(sql`
        select count(*)::int as n from runs r join attempts a on a.run_id = r.id join attempt_log_batches l on l.attempt_id = a.id
         where substr(r.tableoid::regclass::text, 6) <> substr(a.tableoid::regclass::text, 10)
            or substr(r.tableoid::regclass::text, 6) <> substr(l.tableoid::regclass::text, 21)
            or a.run_created_at <> r.created_at or l.run_created_at <> r.created_at`);
      expect(misplaced.n).toBe(0);
      // New log lines come after the moved ones; deleting a run still cascades to its attempts and logs.
      const [attempt] = await db.execute<{ id: string; run_created_at: string }>(
        sql`select id, run_created_at::text from attempts limit 1`,
      );
      await db.execute(sql`
        insert into attempt_log_batches (attempt_id, run_created_at, at, offsets, levels, messages)
        values (${attempt.id}, ${attempt.run_created_at}::timestamptz, now(), '{0}', 'i', '{new}')`);
      const lines = await db.execute<{ message: string }>(
        sql`select message from attempt_logs where attempt_id = ${attempt.id} order by id`,
      );
      expect(lines.map((l) => l.message)).toEqual(['line 1', 'line 2', 'line 3', 'new']);
      await db.execute(sql`delete from runs where id = (select run_id from attempts where id = ${attempt.id})`);
      const [afterDelete] = await db.execute<{ attempts: number; logs: number }>(
        sql`select (select count(*)::int from attempts) as attempts, (select count(*)::int from attempt_logs) as logs`,
      );
      expect(afterDelete).toEqual({ attempts: 118, logs: 354 });
      expect(await migrationStatus(db)).toMatchObject({ current: true });
    } finally {
      await drop();
    }
  });
});

describe('migration 0018: compact attempt logs', () => {
  it('turns the lines of each attempt into rows of 200 in order, every level, message, data and time kept', async () => {
    // The schema as it was before 0018, recorded in the journal as applied.
    const { db, drop } = await databaseBefore(1797300000000, 'mig18');
    try {
      await db.execute(sql`insert into integrations (name, breaker_key) values ('x', 'x')`);
      // 12 runs over 40 days, one attempt each; attempt k logs 40 * k lines (up to 480: three rows),
      // of every level, some with data, interleaved with the other attempts' lines (ids not contiguous).
      await db.execute(sql`
        with r as (
          insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
          select 'x', 'schedule', 'succeeded', 's', 'c', 1, date_trunc('milliseconds', now()) - make_interval(days => g * 3)
            from generate_series(1, 12) g returning id, created_at),
        a as (insert into attempts (run_id, run_created_at, number, outcome) select id, created_at, 1, 'succeeded' from r returning id, run_created_at)
        insert into attempt_logs (attempt_id, run_created_at, at, level, message, data)
        select a.id, a.run_created_at, a.run_created_at + make_interval(secs => k * 0.137),
               (array['debug', 'info', 'warn', 'error'])[1 + k % 4], 'line ' || k || case when k % 5 = 0 then ' "q" {b} \\' else '' end,
               case when k % 7 = 0 then jsonb_build_object('k', k) end
          from (select *, row_number() over (order by run_created_at) as n from a) a cross join generate_series(1, 480) k
         where k <= 40 * a.n
         order by k, a.id`);
      const old = await db.execute<{ attempt_id: string; at: string; level: string; message: string; data: unknown }>(
        sql`select attempt_id, at::text, level, message, data from attempt_logs order by attempt_id, id`,
      );
      expect(old.length).toBe((40 * (12 * 13)) / 2);

      await applyMigrations(db);

      const moved = await db.execute<{ attempt_id: string; at: string; level: string; message: string; data: unknown }>(
        sql`select attempt_id, at::text, level, message, data from attempt_logs order by attempt_id, id`,
      );
      expect(moved).toEqual(old);
      const [rows] = await db.execute<{ rows: number; misplaced: number; largest: number }>(sql`
        select count(*)::int as rows, max(cardinality(messages))::int as largest,
               count(*) filter (where substr(b.tableoid::regclass::text, 21) <> substr(r.tableoid::regclass::text, 6))::int as misplaced
          from attempt_log_batches b join attempts a on a.id = b.attempt_id join runs r on r.id = a.run_id`);
      // Per attempt ceil(40k / 200) rows: 1 + 1 + 1 + 1 + 1 + 2 + 2 + 2 + 2 + 2 + 3 + 3.
      expect(rows).toEqual({ rows: 21, misplaced: 0, largest: 200 });
      expect(await migrationStatus(db)).toMatchObject({ current: true });
    } finally {
      await drop();
    }
  });
});

describe('migration 0019: retried_at', () => {
  it('marks every run retried before it with its first retry, and runs retried after it by the trigger', async () => {
    // The schema as it was before 0019, recorded in the journal as applied.
    const { db, drop } = await databaseBefore(1797500000000, 'mig19');
    try {
      await db.execute(sql`insert into integrations (name, breaker_key) values ('x', 'x')`);
      await db.execute(sql`select ensure_run_partitions(now() - interval '30 days', 6)`);
      // a failed 20 days ago, retried by b 10 days ago (another week), which failed and was
      // retried twice, by c and d (before retries were refused); e failed and was never retried.
      const ids = { a: randomUUID(), b: randomUUID(), c: randomUUID(), d: randomUUID(), e: randomUUID() };
      await db.execute(sql`
        insert into runs (id, integration, trigger, status, triggered_by, correlation_id, max_attempts, retry_of, created_at)
        values (${ids.a}, 'x', 'schedule', 'failed', 's', 'c', 3, null, date_trunc('milliseconds', now()) - interval '20 days'),
               (${ids.b}, 'x', 'retry', 'failed', 's', 'c', 3, ${ids.a}, date_trunc('milliseconds', now()) - interval '10 days'),
               (${ids.c}, 'x', 'retry', 'succeeded', 's', 'c', 3, ${ids.b}, date_trunc('milliseconds', now()) - interval '2 days'),
               (${ids.d}, 'x', 'retry', 'succeeded', 's', 'c', 3, ${ids.b}, date_trunc('milliseconds', now()) - interval '3 days'),
               (${ids.e}, 'x', 'schedule', 'failed', 's', 'c', 3, null, date_trunc('milliseconds', now()) - interval '1 day')`);

      await applyMigrations(db);

      const retriedAt = async () =>
        Object.fromEntries(
          (
            await db.execute<{ id: string; created_at: string; retried_at: string | null }>(
              sql`select id, created_at::text, retried_at::text from runs`,
            )
          ).map((r) => [r.id, r]),
        );
      const backfilled = await retriedAt();
      expect(backfilled[ids.a].retried_at).toBe(backfilled[ids.b].created_at);
      expect(backfilled[ids.b].retried_at).toBe(backfilled[ids.d].created_at);
      for (const id of [ids.c, ids.d, ids.e]) expect(backfilled[id].retried_at).toBeNull();

      // e retried now, through the trigger; the partial index holds the runs awaiting action.
      const f = randomUUID();
      await db.execute(sql`
        insert into runs (id, integration, trigger, status, triggered_by, correlation_id, max_attempts, retry_of)
        values (${f}, 'x', 'retry', 'queued', 's', 'c', 3, ${ids.e})`);
      const after = await retriedAt();
      expect(after[ids.e].retried_at).toBe(after[f].created_at);
      expect(after[ids.b].retried_at).toBe(backfilled[ids.b].retried_at);
      const [index] = await db.execute<{ n: number }>(
        sql`select count(*)::int as n from pg_indexes where tablename = 'runs' and indexname = 'runs_awaiting_action_idx'`,
      );
      expect(index.n).toBe(1);
      expect(await migrationStatus(db)).toMatchObject({ current: true });
    } finally {
      await drop();
    }
  });
});

describe('migration 0022: run_recoveries', () => {
  it('puts every existing integration on the list, so its first success after the upgrade is announced', async () => {
    const { db, drop } = await databaseBefore(1797800000000, 'mig22');
    try {
      await db.execute(sql`insert into integrations (name, breaker_key) values ('x', 'x'), ('y', 'y')`);
      await applyMigrations(db);
      const listed = await db.execute<{ integration: string }>(sql`select integration from run_recoveries order by integration`);
      expect(listed.map((r) => r.integration)).toEqual(['x', 'y']);
      expect(await migrationStatus(db)).toMatchObject({ current: true });
    } finally {
      await drop();
    }
  });
});

describe('migration 0027: incident_recoveries', () => {
  it('remembers the latest recovery of every closed incident, so no older failure reopens one', async () => {
    const { db, drop } = await databaseBefore(1798300000000, 'mig27');
    try {
      await db.execute(sql`insert into incidents (integration, kind, opened_at, closed_at) values
        ('x', 'run_failed', '2026-05-01T01:00Z', '2026-05-01T02:00Z'),
        ('x', 'run_failed', '2026-05-01T03:00Z', '2026-05-01T04:00Z'),
        ('x', 'breaker_open', '2026-05-01T05:00Z', null)`);
      await applyMigrations(db);
      const rows = await db.execute<{ integration: string; kind: string; at: string }>(
        sql`select integration, kind, to_char(recovered_at at time zone 'UTC', 'HH24:MI') as at from incident_recoveries`,
      );
      expect(rows.map((r) => ({ ...r }))).toEqual([{ integration: 'x', kind: 'run_failed', at: '04:00' }]);
      expect(await migrationStatus(db)).toMatchObject({ current: true });
    } finally {
      await drop();
    }
  });
});

describe('migration 0029: incident failure counts', () => {
  it('counts the failed runs of run_failed incidents, and leaves events_failed ones not known apart', async () => {
    const { db, drop } = await databaseBefore(1798500000000, 'mig29');
    try {
      await db.execute(sql`insert into incidents (integration, kind, event_count) values
        ('x', 'run_failed', 3), ('x', 'events_failed', 4), ('x', 'breaker_open', 2)`);
      await applyMigrations(db);
      const rows = await db.execute<{ kind: string; runs: number | null; events: number | null; event_run: boolean }>(
        sql`select kind, failed_runs as runs, failed_events as events, event_run from incidents order by kind`,
      );
      expect(rows.map((r) => ({ ...r }))).toEqual([
        { kind: 'breaker_open', runs: null, events: null, event_run: false },
        { kind: 'events_failed', runs: null, events: null, event_run: false },
        { kind: 'run_failed', runs: 3, events: 0, event_run: false },
      ]);
      expect(await migrationStatus(db)).toMatchObject({ current: true });
    } finally {
      await drop();
    }
  });
});

describe('migration 0030: attempt time limit as configuration', () => {
  it("leaves existing rows' limit unset until the registry fills it from the code, never over an edited one", async () => {
    const { db, drop } = await databaseBefore(1798600000000, 'mig30');
    try {
      await db.execute(sql`insert into integrations (name, breaker_key) values ('coded', 'coded'), ('plain', 'plain'), ('gone', 'gone')`);
      await applyMigrations(db);
      const limits = async () =>
        (
          await db.execute<{ name: string; limit: string | null }>(
            sql`select name, attempt_timeout as limit from integrations order by name`,
          )
        ).map((r) => ({ ...r }));
      expect(await limits()).toEqual([
        { name: 'coded', limit: null },
        { name: 'gone', limit: null },
        { name: 'plain', limit: null },
      ]);
      const def = (name: string, defaults?: IntegrationDefinition['defaults']) =>
        ({ name, description: name, settings: z.object({}), defaults, execute: async () => ({}) }) as IntegrationDefinition;
      await syncRegistry(db, { registry: buildRegistry([def('coded', { attemptTimeout: '15m' }), def('plain')]) });
      // The code's value, else the default; an integration no longer registered keeps NULL (read as the default).
      expect(await limits()).toEqual([
        { name: 'coded', limit: '15m' },
        { name: 'gone', limit: null },
        { name: 'plain', limit: '1h' },
      ]);
      await db.execute(sql`update integrations set attempt_timeout = '2h' where name = 'coded'`);
      await syncRegistry(db, { registry: buildRegistry([def('coded', { attemptTimeout: '20m' }), def('plain')]) });
      expect((await limits())[0]).toEqual({ name: 'coded', limit: '2h' });
      expect(await migrationStatus(db)).toMatchObject({ current: true });
    } finally {
      await drop();
    }
  });
});
