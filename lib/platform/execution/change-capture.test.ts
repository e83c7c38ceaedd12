import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, disconnect, type Database } from '../../../db/client';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { PermanentError } from '../errors';
import { changeCaptureBound } from './change-capture';

/**
 * The change-capture bound against real PostgreSQL sessions: a transaction held open on another
 * connection holds the bound at its start; a role that cannot see other roles' sessions is
 * refused while such a session is inside a transaction, and works once granted pg_read_all_stats.
 */

let t: TestDatabase;
const role = `junction_reader_${randomBytes(4).toString('hex')}`;
const password = randomBytes(12).toString('hex');
let reader: Database;
let other: postgres.Sql;

beforeAll(async () => {
  t = await freshDatabase();
  await t.db.$client.unsafe(`create role ${role} login nosuperuser password '${password}'`);
  const url = new URL(t.url);
  url.username = role;
  url.password = password;
  reader = connect(url.toString(), { max: 1, name: 'junction-capture-reader' });
  other = postgres(t.url, { max: 1, onnotice: () => {}, connection: { application_name: 'host-app-long-report' } });
});
afterAll(async () => {
  await disconnect(reader);
  await other.end();
  await t.db.$client.unsafe(`drop role if exists ${role}`);
  await t.drop();
});

/** Runs `fn` while `other` holds a transaction open; returns the transaction's start (µs ISO). */
async function whileOpen<T>(fn: (xactStart: string) => Promise<T>): Promise<T> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let started!: (s: string) => void;
  const start = new Promise<string>((r) => (started = r));
  const tx = other.begin(async (sql) => {
    const [row] = await sql<{ s: string }[]>`select to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as s`;
    started(row.s);
    await released;
  });
  try {
    return await fn(await start);
  } finally {
    release();
    await tx;
  }
}

describe('change capture bound', () => {
  it('is the run creation when no other transaction is open', async () => {
    const notAfter = new Date(Date.now() - 5_000);
    const bound = await changeCaptureBound(t.db, { notAfter, integration: 'x' });
    expect(bound).toEqual({ before: notAfter.toISOString().replace('Z', '000Z') });
    const slack = await changeCaptureBound(t.db, { notAfter, slackMs: 1500, integration: 'x' });
    expect(slack.before).toBe(new Date(notAfter.getTime() - 1500).toISOString().replace('Z', '000Z'));
  });

  it('is held back to the start of a transaction still open on another connection, and says who holds it', async () => {
    await whileOpen(async (xactStart) => {
      const notAfter = new Date(Date.now() + 60_000);
      const bound = await changeCaptureBound(t.db, { notAfter, integration: 'x' });
      expect(bound.before).toBe(xactStart);
      expect(bound.heldBack).toMatchObject({ applicationName: 'host-app-long-report', state: 'idle in transaction', xactStart });
      expect(bound.heldBack!.behindMs).toBeGreaterThan(59_000);
    });
    // Committed: the bound is the run's creation again.
    const notAfter = new Date();
    expect((await changeCaptureBound(t.db, { notAfter, integration: 'x' })).heldBack).toBeUndefined();
  });

  it('refuses, naming the missing grant, when it cannot see an open transaction of another role, and works once granted', async () => {
    // Idle sessions of other roles are harmless: nothing is refused.
    await other`select 1`;
    await expect(changeCaptureBound(reader, { notAfter: new Date(), integration: 'accounting-export' })).resolves.toMatchObject({
      before: expect.any(String),
    });
    await whileOpen(async (xactStart) => {
      const error = await changeCaptureBound(reader, { notAfter: new Date(Date.now() + 60_000), integration: 'accounting-export' }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as Error).message).toMatch(
        new RegExp(
          `^Change capture for 'accounting-export' cannot see when 1 other session\\(s\\) in this database started their open transaction .* GRANT pg_read_all_stats TO "${role}"`,
        ),
      );
      await t.db.$client.unsafe(`grant pg_read_all_stats to ${role}`);
      const granted = await changeCaptureBound(reader, { notAfter: new Date(Date.now() + 60_000), integration: 'accounting-export' });
      expect(granted.before).toBe(xactStart);
    });
  });
});
