import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Transaction } from '../../../db/client';
import { idempotencyKeys, users } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { AppError } from '../errors';
import { canonicalRoute, pruneIdempotencyKeys, requestHash, withIdempotencyKey } from './idempotency';

let t: TestDatabase;
let ada: string;
let bob: string;

beforeAll(async () => {
  t = await freshDatabase();
  const inserted = await t.db
    .insert(users)
    .values([
      { subject: 'idp|ada', name: 'Ada', role: 'operator' },
      { subject: 'idp|bob', name: 'Bob', role: 'operator' },
    ])
    .returning();
  [ada, bob] = inserted.map((u) => u.id);
  await t.db.execute(sql`create table effects (id serial primary key, label text not null)`);
});
afterAll(() => t.drop());

/** The work of a request: one row written through the request's transaction, answered with its id. */
const effect =
  (label: string, pauseMs = 0) =>
  async (tx: Transaction) => {
    const [row] = await tx.execute<{ id: number }>(sql`insert into effects (label) values (${label}) returning id`);
    if (pauseMs) await tx.execute(sql`select pg_sleep(${pauseMs / 1000})`);
    return { status: 200, body: { effectId: row.id } };
  };
const effects = async (label: string) =>
  (await t.db.execute<{ n: number }>(sql`select count(*)::int as n from effects where label = ${label}`))[0].n;
const call = (
  params: { userId?: string; route?: string; key: string; body: unknown },
  work: (tx: Transaction) => Promise<{ status: number; body: unknown }>,
) =>
  withIdempotencyKey(
    t.db,
    { userId: params.userId ?? ada, route: params.route ?? 'POST /api/runs/retry', key: params.key, requestHash: requestHash(params.body) },
    work,
  );

describe('Idempotency-Key', () => {
  it('answers a repeat with the same key and body from the store, without doing the work again', async () => {
    const first = await call({ key: 'k-same', body: { runIds: ['a'], reason: 'x' } }, effect('same'));
    const again = await call({ key: 'k-same', body: { reason: 'x', runIds: ['a'] } }, effect('same'));
    expect(first).toMatchObject({ status: 200, replayed: false });
    expect(again).toEqual({ status: 200, body: first.body, replayed: true });
    expect(await effects('same')).toBe(1);
  });

  it('refuses the same key with another body with 422, and does nothing', async () => {
    await call({ key: 'k-diff', body: { dryRun: false } }, effect('diff'));
    const refused = call({ key: 'k-diff', body: { dryRun: true } }, effect('diff'));
    await expect(refused).rejects.toBeInstanceOf(AppError);
    await expect(refused).rejects.toMatchObject({
      code: 'idempotency_key_reused',
      status: 422,
      message: expect.stringMatching(/already used on this route with a different request body/),
    });
    expect(await effects('diff')).toBe(1);
  });

  it('runs the work once when many requests with one key arrive at the same time', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => call({ key: 'k-race', body: {} }, effect('race', 150))));
    expect(await effects('race')).toBe(1);
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
    expect(answers.filter((a) => !a.replayed)).toHaveLength(1);
  });

  it('scopes keys per user and per route', async () => {
    await call({ key: 'k-scope', body: {} }, effect('scope'));
    await call({ key: 'k-scope', body: {}, userId: bob }, effect('scope'));
    await call({ key: 'k-scope', body: {}, route: 'POST /api/runs/x/cancel' }, effect('scope'));
    expect(await effects('scope')).toBe(3);
  });

  it('is one route however its path is percent-encoded', async () => {
    const first = await call({ key: 'k-encoded', body: {}, route: 'POST /api/integrations/accounting-export/runs' }, effect('encoded'));
    // Before: another scope, so the work ran again (two runs started by one key).
    for (const route of ['POST /api/integrations/accounting%2Dexport/runs', 'POST /api/integrations/accounting%2dexport/runs'])
      expect(await call({ key: 'k-encoded', body: {}, route }, effect('encoded'))).toEqual({
        status: 200,
        body: first.body,
        replayed: true,
      });
    expect(await effects('encoded')).toBe(1);
    expect(canonicalRoute('token 3f POST /api/runs/%E0%A4%A/cancel')).toBe('token 3f POST /api/runs/%E0%A4%A/cancel');
  });

  it('stores a refusal the caller can act on, but rolls back an unexpected failure so the key can be retried', async () => {
    const refusal = await call({ key: 'k-409', body: {} }, async () => ({ status: 409, body: { error: 'already retried' } }));
    expect(await call({ key: 'k-409', body: {} }, effect('409'))).toEqual({ ...refusal, replayed: true });
    expect(await effects('409')).toBe(0);

    await expect(
      call({ key: 'k-crash', body: {} }, async (tx) => {
        await effect('crash')(tx);
        throw new Error('database went away');
      }),
    ).rejects.toThrow('database went away');
    expect(await effects('crash')).toBe(0);
    expect(await call({ key: 'k-crash', body: {} }, effect('crash'))).toMatchObject({ replayed: false });
    expect(await effects('crash')).toBe(1);
  });

  it('forgets a key after 24 hours, and the pruner deletes it', async () => {
    await call({ key: 'k-old', body: { a: 1 } }, effect('old'));
    await t.db.execute(sql`update idempotency_keys set created_at = now() - interval '25 hours' where key = 'k-old'`);
    expect(await call({ key: 'k-old', body: { a: 2 } }, effect('old'))).toMatchObject({ replayed: false });
    expect(await effects('old')).toBe(2);
    await t.db.execute(sql`update idempotency_keys set created_at = now() - interval '25 hours' where key = 'k-old'`);
    expect(await pruneIdempotencyKeys(t.db)).toBe(1);
    expect((await t.db.select().from(idempotencyKeys)).some((k) => k.key === 'k-old')).toBe(false);
  });

  it('refuses an empty, overlong or non-ASCII key with 400 and a message', async () => {
    for (const key of ['', 'x'.repeat(256), 'with space', 'clé']) {
      await expect(call({ key, body: {} }, effect('bad-key'))).rejects.toMatchObject({
        status: 400,
        message: expect.stringMatching(/^Idempotency-Key /),
      });
    }
    expect(await effects('bad-key')).toBe(0);
  });
});
