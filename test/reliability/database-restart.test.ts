import { sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, disconnect, type Database } from '../../db/client';
import { applyMigrations } from '../../db/migrate';
import { checkHealth, type Health } from '../../lib/platform/read-models/health';
import { runNow } from '../../lib/platform/triggers/triggers';
import { startStandIns, type StandIns } from '../../sandbox/stand-ins';
import { startTestBoss } from '../fixtures/platform';
import { waitThroughErrors } from '../fixtures/wait';
import {
  addInvoices,
  configureAccountingExport,
  createRunQueues,
  INTEGRATION,
  invoiceNumbers,
  newSecretsKey,
  report,
  runStatusCounts,
  sleep,
  startRestartableServer,
  startWorkerProcess,
  type RestartableServer,
  type WorkerProcess,
} from './support';

/**
 * Issue 8, item 2: the PostgreSQL this test owns (an embedded server) is stopped while runs are in
 * flight and started again. The health check (on the same client the console uses) reports the
 * outage and then the recovery; the real worker process reconnects by itself and every run
 * completes; the stand-in booked every invoice exactly once.
 */

const RUNS = 30;
const OUTAGE_MS = 8_000;

let server: RestartableServer | undefined;
let url: string;
let db: Database;
let standIns: StandIns;
let boss: PgBoss;
let worker: WorkerProcess | undefined;
const { key, keyring } = newSecretsKey();

beforeAll(async () => {
  server = await startRestartableServer('junction_restart');
  url = server.url;
  db = connect(url, { max: 4, name: 'junction-web' });
  await applyMigrations(db);
  standIns = await startStandIns({ port: 0, smtpPort: 0, seed: 2, faults: {} });
  await configureAccountingExport(db, { sandboxUrl: standIns.url, keyring, batchSize: 3, retryDelays: ['2s', '5s', '10s', '10s'] });
  boss = await startTestBoss(url);
  await createRunQueues(boss, { expireInSeconds: 60, heartbeatSeconds: 10, retryLimit: 20 });
}, 180_000);

afterAll(async () => {
  await worker?.stop(5_000);
  await boss?.stop({ graceful: false, timeout: 2_000 }).catch(() => {});
  await standIns?.close();
  if (db) await disconnect(db).catch(() => {});
  await server?.remove();
}, 60_000);

/** While the database is down a probe throws: that counts as not yet. */
const waitFor = <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number) =>
  waitThroughErrors(what, probe, timeoutMs, 300);

describe('database restart during work (issue 8, item 2)', () => {
  it('reports the outage and the recovery, and the worker reconnects by itself with no run lost', async () => {
    worker = await startWorkerProcess({
      DATABASE_URL: url,
      JUNCTION_SECRETS_KEY: key,
      APP_URL: 'http://localhost:3000',
      SANDBOX_URL: standIns.url,
    });
    const before = await waitFor(
      'a healthy start',
      async () => {
        const h = await checkHealth(db);
        return h.ok ? h : null;
      },
      30_000,
    );

    for (let i = 0; i < RUNS; i++) {
      await addInvoices(db, 2);
      await runNow(db, boss, { integration: INTEGRATION, triggeredBy: 'reliability-suite', trigger: 'api' });
    }
    await waitFor('a few runs to succeed', async () => ((await runStatusCounts(db)).succeeded ?? 0) >= 3, 60_000);
    const atStop = await runStatusCounts(db);
    const inFlight = RUNS - (atStop.succeeded ?? 0) - (atStop.failed ?? 0);

    const stoppedAt = Date.now();
    await server!.stop();
    const during: Health = await checkHealth(db);
    await sleep(OUTAGE_MS);
    const duringLater: Health = await checkHealth(db);
    await server!.start();
    const restartedAt = new Date();

    let lastHealth: Health | undefined;
    const after = await waitFor(
      'health to report the recovery with a worker heartbeat after the restart',
      async () => {
        const h = (lastHealth = await checkHealth(db));
        if (!h.ok) return null;
        const [beat] = await db.execute<{ at: Date | string }>(sql`select max(beat_at) as at from worker_heartbeats`);
        return new Date(beat.at).getTime() > restartedAt.getTime() ? h : null;
      },
      60_000,
    ).catch((error: unknown) => {
      // Say why: a worker that died is a different failure from one that is slow to reconnect.
      const child = worker!.process;
      const state = child.exitCode !== null || child.signalCode !== null ? `exited (${child.exitCode ?? child.signalCode})` : 'running';
      const tail = worker!.output().split('\n').slice(-40).join('\n');
      throw new Error(`${String(error)}; last health ${JSON.stringify(lastHealth)}; worker ${state}; its last output:\n${tail}`);
    });

    await waitFor(
      'every run to finish',
      async () => {
        const c = await runStatusCounts(db);
        return (c.succeeded ?? 0) + (c.failed ?? 0) + (c.cancelled ?? 0) === RUNS;
      },
      150_000,
    );
    const counts = await runStatusCounts(db);
    const numbers = await invoiceNumbers(db);
    const ledger = standIns.state.ledger.summary();
    const booked = new Map(Object.entries(ledger.byReference));
    const lost = numbers.filter((n) => !booked.has(n));
    const duplicated = numbers.filter((n) => (booked.get(n) ?? 0) > 1);
    const [{ lostAttempts }] = await db.execute<{ lostAttempts: number }>(
      sql`select count(*) filter (where error_class = 'WorkerLost' or outcome = 'failed')::int as "lostAttempts" from attempts`,
    );

    report('database restart', {
      runs: RUNS,
      inFlightAtStop: inFlight,
      succeeded: counts.succeeded ?? 0,
      failed: counts.failed ?? 0,
      lost: lost.length,
      duplicated: duplicated.length,
      failedAttempts: lostAttempts,
      outageSeconds: Math.round((restartedAt.getTime() - stoppedAt) / 1000),
      healthDuring: during.database.detail,
      healthAfter: `${after.database.detail}; ${after.worker.detail}`,
      workerPid: worker.pid,
    });

    expect(before.ok).toBe(true);
    expect(inFlight).toBeGreaterThan(0);
    expect(during.ok).toBe(false);
    expect(during.database.ok).toBe(false);
    expect(duringLater.database.ok).toBe(false);
    expect(after).toMatchObject({ ok: true, database: { ok: true }, migrations: { ok: true }, worker: { ok: true } });
    // The same worker process did it: no restart of the worker was needed.
    expect(worker.process.exitCode).toBeNull();
    expect(counts.succeeded).toBe(RUNS);
    expect(lost).toEqual([]);
    expect(duplicated).toEqual([]);
  }, 330_000);
});
