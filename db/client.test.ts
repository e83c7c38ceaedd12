import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../test/db';
import { waitFor } from '../test/fixtures/wait';
import { connect, disconnect, readOnlyPeer, readOnlyRefusal } from './client';
import { customers } from './schema';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

const sessions = async (name: string) =>
  Number(
    (
      await t.db.execute<{ n: string }>(
        sql`select count(*) as n from pg_stat_activity where datname = current_database() and application_name = ${name}`,
      )
    )[0].n,
  );

describe('the read-only pool beside a pool (ctx.db)', () => {
  it('reads, refuses every write with SQLSTATE 25006, opens only when used and ends with its pool', async () => {
    const db = connect(t.url, { max: 4, name: 'client-test' });
    await db.select().from(customers);
    // Not opened until something reads through it.
    expect(await sessions('client-test-reads')).toBe(0);
    const reads = readOnlyPeer(db);
    expect(readOnlyPeer(db)).toBe(reads);
    await db.insert(customers).values({ name: 'Written' });
    expect((await reads.select().from(customers)).map((c) => c.name)).toEqual(['Written']);
    expect(await sessions('client-test-reads')).toBe(1);

    const refusals = [
      await reads
        .insert(customers)
        .values({ name: 'Refused' })
        .catch((e: unknown) => e),
      await reads
        .update(customers)
        .set({ name: 'Renamed' })
        .catch((e: unknown) => e),
      await reads.delete(customers).catch((e: unknown) => e),
      await reads.transaction((tx) => tx.insert(customers).values({ name: 'Refused' })).catch((e: unknown) => e),
      await reads.$client`insert into customers (name) values ('Refused')`.catch((e: unknown) => e),
      await reads.execute(sql`create table scratch (id int)`).catch((e: unknown) => e),
    ];
    for (const refusal of refusals)
      expect(readOnlyRefusal(refusal)?.message).toMatch(/^cannot execute \w+( \w+)? in a read-only transaction$/);
    expect((await db.select().from(customers)).map((c) => c.name)).toEqual(['Written']);
    // Anything else is not a refusal.
    expect(readOnlyRefusal(await db.execute(sql`select 1/0`).catch((e: unknown) => e))).toBeUndefined();
    expect(readOnlyRefusal(new Error('cannot execute INSERT in a read-only transaction'))).toBeUndefined();

    await disconnect(db);
    // A backend leaves pg_stat_activity a moment after its client hung up.
    await waitFor('both pools to be gone', async () => (await sessions('client-test-reads')) + (await sessions('client-test')) === 0);
  });
});
