import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, disconnect, type Database } from '../../db/client';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { failureAnswer } from './answers';

/**
 * What the API and the console's actions answer when the database itself fails, with failures
 * PostgreSQL and the driver really produce: nothing listening, a backend terminated mid-query, a
 * role out of connection slots (53300, what "too many clients already" also is). Each is an outage
 * to wait out (503, "try again"), not a bug report (500); a query that is simply wrong stays a 500.
 */

let t: TestDatabase;
const role = `junction_noslot_${randomBytes(4).toString('hex')}`;
const password = randomBytes(12).toString('hex');
const opened: Database[] = [];

beforeAll(async () => {
  t = await freshDatabase();
  await t.db.$client.unsafe(`create role ${role} login nosuperuser connection limit 0 password '${password}'`);
});
afterAll(async () => {
  for (const db of opened) await disconnect(db);
  await t.db.$client.unsafe(`drop role if exists ${role}`);
  await t.drop();
});

function database(url: string): Database {
  const db = connect(url, { max: 1, name: 'junction-unavailable-test' });
  opened.push(db);
  return db;
}

/** The error a query on `db` fails with. */
async function failureOf(query: Promise<unknown>): Promise<unknown> {
  try {
    await query;
  } catch (error) {
    return error;
  }
  throw new Error('the query was expected to fail');
}

function answerTo(error: unknown, source: 'api' | 'action') {
  const log = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    return { answer: failureAnswer(error, 'ref-9', source), logged: log.mock.calls.map((c) => c.join(' ')).join('\n') };
  } finally {
    log.mockRestore();
  }
}

const OUTAGE =
  /^Junction's database is not answering \(ref ref-9\)\. Try again in a minute; if it persists, quote the ref to whoever runs Junction\.$/;

describe('a database that cannot answer', () => {
  it('nothing listening on its address: 503, try again', async () => {
    const url = new URL(t.url);
    url.port = '1';
    const error = await failureOf(database(url.toString()).execute(sql`select 1`));
    const { answer, logged } = answerTo(error, 'api');
    expect(answer).toEqual({ status: 503, error: expect.stringMatching(OUTAGE) });
    expect(logged).toMatch(/ref ref-9: the database is unavailable/);
  });

  it('its backend terminated in the middle of a query (57P01, connection closed): 503', async () => {
    const db = database(t.url);
    const [{ pid }] = await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`);
    const query = failureOf(db.execute(sql`select pg_sleep(30)`));
    const admin = postgres(t.url, { max: 1, onnotice: () => {} });
    try {
      // Terminated once it is inside the sleep.
      for (let i = 0; i < 100; i++) {
        const [row] =
          await admin`select count(*)::int as n from pg_stat_activity where pid = ${pid} and query like '%pg_sleep%' and state = 'active'`;
        if (row.n === 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await admin`select pg_terminate_backend(${pid})`;
    } finally {
      await admin.end();
    }
    const error = await query;
    // postgres.js reports the FATAL 57P01 or the connection it closed, whichever it reads first.
    expect(['57P01', 'CONNECTION_CLOSED']).toContain((error as { cause?: { code?: string } }).cause?.code);
    expect(answerTo(error, 'action').answer).toEqual({ status: 503, error: expect.stringMatching(OUTAGE) });
  });

  it('no connection slot left for it (53300, as "too many clients already"): 503', async () => {
    const url = new URL(t.url);
    url.username = role;
    url.password = password;
    const error = await failureOf(database(url.toString()).execute(sql`select 1`));
    expect(String((error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code)).toBe('53300');
    expect(answerTo(error, 'api').answer).toEqual({ status: 503, error: expect.stringMatching(OUTAGE) });
  });

  it('a query the database answers with an error of its own stays a 500 with a reference', async () => {
    const error = await failureOf(t.db.execute(sql`select * from no_such_table`));
    expect(answerTo(error, 'api').answer).toEqual({ status: 500, error: 'Something went wrong (ref ref-9).' });
  });
});
