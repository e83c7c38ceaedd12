import { spawn } from 'node:child_process';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { Job, PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBoss } from '../lib/platform/execution/boss';
import { freshDatabase, type TestDatabase } from '../test/db';
import { startTestBoss, waitFor } from '../test/fixtures/platform';

/**
 * patches/pg-boss+12.38.0.patch (applied by patch-package at npm install), proven on pg-boss itself:
 * - A batch fetch of a singleton queue returns one job per key, and must return each key's
 *   earliest: pg-boss ranked a key's candidates with no order, so it returned any of them, and
 *   the runs queue delivered a later run of an integration before an earlier one (which then
 *   deferred it, and every run behind it: issue 18).
 * - A per-job result may say `settled`: the handler completed the job in its own transaction, and
 *   pg-boss writes nothing more for it (one round trip less per fetch).
 * - A singleton batch fetch that loses a key to a concurrent fetch (a unique violation once that
 *   fetch commits) fetches again, on the same connection, and claims the other keys' jobs: pg-boss
 *   returned nothing, and the worker slot sat idle for a polling interval (issue 18's scale-out).
 * - The fetch is a named (prepared) statement on pg-boss's own pool, one per text: parsed and
 *   planned at every call, it cost the database ~1.1 ms of CPU per fetch (issue 18).
 * - Stopping takes its listeners off the LISTEN connection and ends it: a termination by the
 *   database that had arrived and was read only then (a restart, or `npm start`'s Ctrl-C reaching
 *   PostgreSQL with the processes) was an 'error' event nobody heard, and the process crashed.
 */

let t: TestDatabase;
let boss: PgBoss;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  await t.drop();
});

const KEYS = ['a', 'b', 'c', 'd', 'e'];

describe('the patched queue', () => {
  it('a singleton batch fetch returns the earliest job of each key, whatever the candidates hold', async () => {
    await boss.createQueue('patch-singleton', { policy: 'singleton' });
    // Keys interleaved, several jobs each, one second apart so their order is unambiguous.
    const sent: { id: string; key: string }[] = [];
    for (let i = 0; i < 20; i++) {
      const key = KEYS[i % KEYS.length];
      const id = (await boss.send('patch-singleton', { i }, { singletonKey: key }))!;
      sent.push({ id, key });
    }
    await t.db.execute(sql`
      update pgboss.job j set created_on = now() - make_interval(secs => 100 - x.ord)
        from unnest(string_to_array(${sent.map((s) => s.id).join(',')}, ',')::uuid[]) with ordinality as x(id, ord) where j.id = x.id`);
    const delivered: string[] = [];
    while (delivered.length < sent.length) {
      const jobs = await boss.fetch<{ i: number }>('patch-singleton', { batchSize: 16 });
      expect(jobs.length).toBeGreaterThan(0);
      // Each key's earliest job not yet delivered, and no other.
      const expected = KEYS.map((key) => sent.find((s) => s.key === key && !delivered.includes(s.id))?.id).filter(Boolean);
      expect(jobs.map((j) => j.id).sort()).toEqual(expected.sort());
      delivered.push(...jobs.map((j) => j.id));
      await boss.complete(
        'patch-singleton',
        jobs.map((j) => j.id),
      );
    }
  });

  it('a singleton batch fetch that loses a key to a concurrent fetch claims the jobs of the other keys', async () => {
    // Many rounds: the fetch's next try used to run on another connection, sometimes before the
    // failed try's backend had let go of the rows it locked, and SKIP LOCKED then passed over them
    // (1 to 3 rounds in 80 returned nothing).
    const missed: { round: number; fetched: string[] }[] = [];
    for (let round = 0; round < 40; round++) {
      const queue = `patch-conflict-${round}`;
      await boss.createQueue(queue, { policy: 'singleton' });
      const send = async (key: string) => (await boss.send(queue, { key }, { singletonKey: key }))!;
      const a1 = await send('a');
      const a2 = await send('a');
      const b1 = await send('b');
      const c1 = await send('c');

      // A concurrent fetch, held open: it has claimed a1 and not committed.
      let commit!: () => void;
      const committed = new Promise<void>((resolve) => (commit = resolve));
      let claimed!: () => void;
      const claim = new Promise<void>((resolve) => (claimed = resolve));
      const other = t.db.transaction(async (tx) => {
        await tx.execute(sql`update pgboss.job set state = 'active', started_on = now() where id = ${a1}`);
        claimed();
        await committed;
      });
      await claim;

      // This fetch skips the locked a1, sees key a free (the claim is not committed) and takes a2,
      // whose activation waits on the other fetch's uncommitted claim of the key.
      const fetched = boss.fetch(queue, { batchSize: 16 });
      await waitFor(
        'the fetch to wait for the concurrent claim',
        async () => {
          const [row] = await t.db.execute<{ n: number }>(
            // pg_locks is the whole cluster's: only waiters connected to this test database count.
            sql`select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
                 where l.locktype = 'transactionid' and not l.granted and a.datname = current_database()`,
          );
          return row.n > 0;
        },
        10_000,
        20,
      );
      commit();
      await other;

      // The claim committed, so the fetch lost key a: it still claims b1 and c1, and a2 stays queued.
      const ids = (await fetched).map((job) => job.id).sort();
      if (JSON.stringify(ids) !== JSON.stringify([b1, c1].sort())) missed.push({ round, fetched: ids });
      const [row] = await t.db.execute<{ state: string }>(sql`select state from pgboss.job where id = ${a2}`);
      expect(row.state).toBe('created');
    }
    expect(missed).toEqual([]);
  });

  it('a job its handler reports settled is left as the handler left it', async () => {
    await boss.createQueue('patch-settled');
    const own = (await boss.send('patch-settled', { n: 1 }))!;
    const untouched = (await boss.send('patch-settled', { n: 2 }))!;
    const seen: Job<{ n: number }>[] = [];
    const id = await boss.work<{ n: number }>(
      'patch-settled',
      { batchSize: 2, perJobResults: true, pollingIntervalSeconds: 0.5 },
      async (jobs) => {
        seen.push(...jobs);
        // The handler completes one job itself; neither is written again by pg-boss.
        await t.db.execute(
          sql`update pgboss.job set state = 'completed', completed_on = now(), output = '{"by":"handler"}' where id = ${own}`,
        );
        return jobs.map((job) => ({ id: job.id, status: 'settled' as const }));
      },
    );
    await waitFor('both jobs to be handled', async () => (seen.length === 2 ? true : undefined), 10_000);
    await boss.offWork('patch-settled', { id, wait: true });
    const rows = await t.db.execute<{ id: string; state: string; output: unknown }>(
      sql`select id, state, output from pgboss.job where name = 'patch-settled' order by id`,
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(own)).toMatchObject({ state: 'completed', output: { by: 'handler' } });
    // Left active: pg-boss neither completed nor failed it (its claim would expire and retry it).
    expect(byId.get(untouched)).toMatchObject({ state: 'active', output: null });
  });

  it('fetches through a statement prepared once per connection, one for each text, and still delivers each job once', async () => {
    // One connection, so the prepared statements read back are the fetches'.
    const single = createBoss(t.url, { max: 1, registerInstance: false, superviseIntervalSeconds: 60, monitorIntervalSeconds: 60 });
    single.on('error', () => {});
    await single.start();
    try {
      await single.createQueue('patch-prepared-a', { policy: 'singleton' });
      await single.createQueue('patch-prepared-b');
      const a = [
        (await single.send('patch-prepared-a', {}, { singletonKey: 'x' }))!,
        (await single.send('patch-prepared-a', {}, { singletonKey: 'y' }))!,
      ];
      const b = [(await single.send('patch-prepared-b', {}))!, (await single.send('patch-prepared-b', {}))!];
      const delivered: string[] = [];
      for (let i = 0; i < 3; i++) {
        delivered.push(...(await single.fetch('patch-prepared-a', { batchSize: 1 })).map((job) => job.id));
        delivered.push(...(await single.fetch('patch-prepared-b', { batchSize: 1 })).map((job) => job.id));
      }
      expect(delivered.sort()).toEqual([...a, ...b].sort());
      const { rows } = await single
        .getDb()
        .executeSql(
          `select name, statement from pg_prepared_statements where name like 'pgboss_fetch_%' and statement like '%patch-prepared-%'`,
        );
      // Six fetches, two texts (one per queue): two statements, each naming its queue.
      expect(rows).toHaveLength(2);
      expect(rows.map((r: { statement: string }) => /j\.name = 'patch-prepared-(a|b)'/.exec(r.statement)?.[1]).sort()).toEqual(['a', 'b']);
    } finally {
      await single.stop({ graceful: false });
    }
  });

  it('a stop after the database terminated its LISTEN connection exits cleanly', async () => {
    const appName = `patch-listen-${process.pid}`;
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../test/fixtures/boss-stop-after-kill.ts')], {
      env: { ...process.env, DATABASE_URL: t.url, APP_NAME: appName, BLOCK_MS: '3000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('the child to start', async () => (output.includes('ready') ? true : undefined));
    // While its event loop is blocked: the termination waits in the socket until the stop has begun.
    const terminated = await t.db.execute<{ done: boolean }>(
      sql`select pg_terminate_backend(pid) as done from pg_stat_activity where application_name = ${appName} and query like 'LISTEN%'`,
    );
    expect(terminated.map((r) => r.done)).toEqual([true]);
    expect(await exited, output).toBe(0);
    expect(output).not.toContain("Unhandled 'error' event");
    expect(output).toContain('stopped');
  });
});
