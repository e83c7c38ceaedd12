import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runs } from '../../../db/schema';
import { startTestPlatform, waitFor, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { runNow, runNowLock } from './triggers';

/**
 * Run now's duplicate check against a real worker. The worker starts a run milliseconds after its
 * commit, so a second call that arrived together with the first and waited for its lock used to
 * find that run started and start another (the API's "two simultaneous POSTs", seen in CI). Here
 * the wait is held open on purpose: the lock is taken by the test, the call arrives, the queued run
 * starts, and only then is the lock let go.
 */

const gates = new Map<string, () => void>();
const defs = [
  defineIntegration({
    name: 'gated',
    description: 'Runs until the test lets it finish',
    settings: z.object({}),
    async execute(ctx) {
      await new Promise<void>((resolve) => gates.set(ctx.run.id, resolve));
      return { processed: 0 };
    },
  }),
] as IntegrationDefinition[];

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(defs, { workerId: 'race', concurrency: 2 });
});
afterAll(async () => {
  for (const release of gates.values()) release();
  await platform?.stop();
});

const started = (runId: string) =>
  waitFor(`run ${runId} to start`, async () => {
    const [row] = await platform.t.db.select({ startedAt: runs.startedAt }).from(runs).where(eq(runs.id, runId));
    return row?.startedAt;
  });
const finish = async (runId: string) => {
  await waitFor(`run ${runId} to be in its handler`, () => gates.has(runId));
  gates.get(runId)!();
};
const click = () => runNow(platform.t.db, platform.boss, { integration: 'gated', triggeredBy: 'ada@example.com' });

/** Holds runNow's lock for 'gated' in a transaction of its own until the returned function is called. */
async function holdRunNowLock(): Promise<() => Promise<void>> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let taken!: () => void;
  const lockTaken = new Promise<void>((r) => (taken = r));
  const holder = platform.t.db.transaction(async (tx) => {
    await tx.execute(runNowLock('gated'));
    taken();
    await released;
  });
  await lockTaken;
  return async () => {
    release();
    await holder;
  };
}

const waitersOnAdvisoryLocks = async () => {
  const [row] = await platform.t.db.execute<{ n: number }>(
    // pg_locks is the whole cluster's: only this test database's waiters count (other suites run beside it).
    sql`select count(*)::int as n from pg_locks
         where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`,
  );
  return row.n;
};

describe('Run now while a worker starts runs', () => {
  it('a call that arrived while a run was queued joins it, even if the run started while the call waited for the lock', async () => {
    const first = await click();
    await started(first.runId);
    // The first run is in its handler: the next click queues a run that waits its turn.
    const second = await click();
    expect(second).toMatchObject({ deduplicated: false });
    expect(second.runId).not.toBe(first.runId);

    const letGo = await holdRunNowLock();
    const arriving = click();
    await waitFor('the call to wait for the lock', async () => (await waitersOnAdvisoryLocks()) > 0);
    // While it waits, the queued run takes its turn and starts.
    await finish(first.runId);
    await started(second.runId);
    await letGo();

    expect(await arriving).toEqual({ runId: second.runId, deduplicated: true });

    // A call that arrives after the run started starts another.
    const third = await click();
    expect(third).toMatchObject({ deduplicated: false });
    expect(third.runId).not.toBe(second.runId);
    await finish(second.runId);
    await finish(third.runId);

    const all = await platform.t.db.select({ id: runs.id }).from(runs).where(eq(runs.integration, 'gated'));
    expect(all).toHaveLength(3);
  });
});
