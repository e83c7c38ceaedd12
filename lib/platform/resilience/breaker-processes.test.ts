import { asc, eq, inArray } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts, integrations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { spawnChildWorker, type ChildWorker } from '../../../test/fixtures/child-worker';
import { json, startTestServer, type TestServer } from '../../../test/fixtures/http-server';
import { fixtureIntegrations } from '../../../test/fixtures/integrations';
import { platformEvents, startTestBoss, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { startPlatformWorker, type PlatformWorker } from '../execution/worker';
import { buildRegistry, syncRegistry } from '../registry';
import { runNow } from '../triggers/triggers';
import { getBreaker } from './breaker';

let t: TestDatabase;
let boss: PgBoss;
let server: TestServer;
let healthy = false;
let child: ChildWorker | undefined;
let parent: PlatformWorker | undefined;
const registry = buildRegistry(fixtureIntegrations);

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  server = await startTestServer((_req, res) => (healthy ? json(res, 200, { ok: true }) : json(res, 500, { error: 'CRM is down' })));
  await syncRegistry(t.db, { registry });
  await t.db.update(integrations).set({ settings: { baseUrl: server.url } });
});
afterAll(async () => {
  await child?.kill();
  await parent?.stop({ timeoutMs: 2_000 });
  await boss.stop({ graceful: false });
  await server.close();
  await t.drop();
});

const runOf = async (id: string) => (await t.db.select().from(runs).where(eq(runs.id, id)))[0];
const settled = (id: string, status: string, timeoutMs = 30_000) =>
  waitFor(
    `run ${id} to be ${status}`,
    async () => {
      const run = await runOf(id);
      return run.status === status ? run : undefined;
    },
    timeoutMs,
  );
const workRequests = () => server.requests.filter((r) => r.path === '/work').length;

describe('a breaker shared by two worker processes', () => {
  it('opens on failures counted by both processes, defers without traffic or attempts, and closes after a half-open trial', async () => {
    // Two failures in a child process...
    child = await spawnChildWorker(t.url, 'child-process');
    const first = await runNow(t.db, boss, { integration: 'crm-a', triggeredBy: 'ada' });
    await settled(first.runId, 'failed');
    const second = await runNow(t.db, boss, { integration: 'crm-a', triggeredBy: 'ada' });
    await settled(second.runId, 'failed');
    expect(await getBreaker(t.db, { key: 'fixture-crm' })).toMatchObject({ state: 'closed', consecutiveFailures: 2 });
    expect(await child.stop()).toBe(0);

    // ...and a third in this process (another integration on the same system) opens it.
    parent = await startPlatformWorker({ db: t.db, boss, registry, workerId: 'parent-process', options: TEST_WORKER_OPTIONS });
    const third = await runNow(t.db, boss, { integration: 'crm-b', triggeredBy: 'ada' });
    await settled(third.runId, 'failed');
    const open = await getBreaker(t.db, { key: 'fixture-crm' });
    expect(open).toMatchObject({ state: 'open', consecutiveFailures: 3 });
    const failedAttempts = await t.db
      .select({ worker: attempts.worker })
      .from(attempts)
      .where(inArray(attempts.runId, [first.runId, second.runId, third.runId]))
      .orderBy(asc(attempts.startedAt));
    expect(failedAttempts.map((a) => a.worker)).toEqual(['child-process', 'child-process', 'parent-process']);
    const [opened] = await platformEvents(t.db, 'breaker.opened');
    expect(opened).toMatchObject({ breakerKey: 'fixture-crm', integrations: ['crm-a', 'crm-b'] });

    // While open: runs are deferred, nothing reaches the CRM, no attempt is used.
    healthy = true;
    const sent = workRequests();
    const a = await runNow(t.db, boss, { integration: 'crm-a', triggeredBy: 'ada' });
    const b = await runNow(t.db, boss, { integration: 'crm-b', triggeredBy: 'ada' });
    for (const id of [a.runId, b.runId]) {
      const deferred = await settled(id, 'deferred', 10_000);
      expect(deferred.attemptCount).toBe(0);
      expect(deferred.nextAttemptAt!.getTime()).toBeGreaterThanOrEqual(open!.openUntil!.getTime());
    }
    expect(workRequests()).toBe(sent);
    const deferredAttempts = await t.db
      .select()
      .from(attempts)
      .where(inArray(attempts.runId, [a.runId, b.runId]));
    expect(deferredAttempts.every((x) => x.outcome === 'deferred' && x.errorClass === 'CircuitOpenError')).toBe(true);

    // After the cooldown one trial closes it; both runs then succeed with one real attempt each.
    const doneA = await settled(a.runId, 'succeeded');
    const doneB = await settled(b.runId, 'succeeded');
    expect([doneA.attemptCount, doneB.attemptCount]).toEqual([1, 1]);
    expect(workRequests() - sent).toBe(2);
    expect(await getBreaker(t.db, { key: 'fixture-crm' })).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect(await platformEvents(t.db, 'breaker.closed')).toHaveLength(1);
  });
});
