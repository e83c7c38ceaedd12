import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../test/db';

/**
 * postgres.js 3.4.9 schedules small writes with setImmediate; when the connection closes before
 * one fires, it calls write on a null socket and throws outside any promise, which kills the
 * process (porsager/postgres#1154, #1208). A database restart took a worker down this way in CI.
 * patches/postgres+3.4.9.patch (applied by patch-package at npm install) rejects the waiting
 * query with CONNECTION_CLOSED instead. The scenario runs in a child process, since unpatched it
 * ends the process it runs in: a reserved connection whose backend is terminated, then one query.
 */
const scenario = `
  const { default: postgres } = await import('postgres');
  const url = process.env.URL;
  const admin = postgres(url, { max: 1, onnotice() {} });
  const sql = postgres(url, { max: 1, onnotice() {} });
  const reserved = await sql.reserve();
  const [{ pid }] = await reserved\`select pg_backend_pid() as pid\`;
  await admin\`select pg_terminate_backend(\${pid})\`;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const outcome = await reserved\`select 1\`.then(() => 'answered', (error) => 'rejected ' + error.code);
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log(outcome);
  await admin.end();
  process.exit(0);
`;

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('the patched database driver', () => {
  it('rejects a query on a connection whose backend died instead of crashing the process', () => {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', scenario], {
      cwd: process.cwd(),
      env: { ...process.env, URL: t.url },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.stderr).not.toMatch(/Cannot read properties of null/);
    expect({ status: child.status, out: child.stdout.trim() }).toEqual({ status: 0, out: 'rejected CONNECTION_CLOSED' });
  });
});

/**
 * A TCP relay between postgres.js and the database that counts flights: bursts of bytes from the
 * client with an answer from the server between them. A query that needs the server's answer
 * before it can send the rest (Parse/Describe, then Bind/Execute) takes two.
 */
async function flightCounter(url: string) {
  const target = new URL(url);
  let flights = 0;
  let serverSpoke = true;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    client.on('data', (chunk) => {
      if (serverSpoke) flights += 1;
      serverSpoke = false;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      serverSpoke = true;
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const relayed = new URL(url);
  relayed.hostname = '127.0.0.1';
  relayed.port = String((server.address() as net.AddressInfo).port);
  return {
    url: relayed.toString(),
    /** Flights the client sends while `work` runs. */
    async count(work: () => Promise<unknown>): Promise<number> {
      const before = flights;
      await work();
      return flights - before;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('Drizzle queries through the patched driver', () => {
  it('send a parameterised query in one flight, and several in one transaction together', async () => {
    const relay = await flightCounter(t.url);
    const client = postgres(relay.url, { max: 1, onnotice: () => {} });
    const db = drizzle(client);
    try {
      await db.execute(
        sql`create temporary table flights (id int primary key, label text, data jsonb, ok boolean, at timestamptz, raw bytea)`,
      );
      // Unpatched: Parse/Describe/Flush, wait, Bind/Execute/Sync.
      expect(await relay.count(() => db.execute(sql`select ${'a'}::text as label, ${7}::int as n`))).toBe(1);
      // A transaction's statements sent together go together (begin; three inserts; commit).
      const inTransaction = await relay.count(() =>
        db.transaction(async (tx) => {
          await Promise.all(
            [1, 2, 3].map((id) =>
              tx.execute(
                sql`insert into flights values (${id}, ${`label ${id}`}, ${JSON.stringify({ id })}, ${id % 2 === 1}, ${new Date(Date.UTC(2026, 0, id)).toISOString()}, ${Buffer.from([id, 255])})`,
              ),
            ),
          );
        }),
      );
      expect(inTransaction).toBe(3); // begin; the three inserts; commit (unpatched: 1 + 2 × 3 + 1)
      // Every type of plain value arrives as it would have after a description.
      const rows = await db.execute<{ id: number; label: string; data: unknown; ok: boolean; at: string; raw: string }>(
        sql`select id, label, data, ok, at::text as at, encode(raw, 'hex') as raw from flights order by id`,
      );
      expect(rows.map((r) => ({ ...r }))).toEqual([
        { id: 1, label: 'label 1', data: { id: 1 }, ok: true, at: '2026-01-01 00:00:00+00', raw: '01ff' },
        { id: 2, label: 'label 2', data: { id: 2 }, ok: false, at: '2026-01-02 00:00:00+00', raw: '02ff' },
        { id: 3, label: 'label 3', data: { id: 3 }, ok: true, at: '2026-01-03 00:00:00+00', raw: '03ff' },
      ]);
      // Values whose text depends on the server type are still described first, and still right.
      const [array] = await client.unsafe<{ n: number }[]>('select cardinality($1::int[]) as n', [[1, 2, 3]] as never);
      expect(array.n).toBe(3);
      const [texts] = await client<{ v: string }[]>`select array_to_string(${['a,b', 'c"d']}::text[], '|') as v`;
      expect(texts.v).toBe('a,b|c"d');
    } finally {
      await client.end({ timeout: 5 });
      await relay.close();
    }
  });

  it('on the pool, a waiting query takes the first connection free, not a place behind a slow one', async () => {
    const client = postgres(t.url, { max: 2, onnotice: () => {} });
    const db = drizzle(client);
    try {
      await db.execute(sql`select ${1}::int`);
      const finished: string[] = [];
      const query = (name: string, seconds: number) =>
        db.execute(sql`select pg_sleep(${seconds}::float8), ${name}::text`).then(() => finished.push(name));
      // Both connections busy: the slow one for a second, the other for a moment; the third query
      // was sent while both were busy and goes to the one freed first.
      const slow = query('slow', 1);
      const fast = query('fast', 0.01);
      const waiting = query('waiting', 0);
      await Promise.all([slow, fast, waiting]);
      expect(finished).toEqual(['fast', 'waiting', 'slow']);
    } finally {
      await client.end({ timeout: 5 });
    }
  });
});
