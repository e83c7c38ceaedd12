import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts } from '../../../db/schema';
import { startExportTest, type ExportTest } from '../../../test/fixtures/export-test';
import { waitFor } from '../../../test/fixtures/platform';
import { cursorOf, runOf, waitForRun } from '../../../test/fixtures/shipped-integrations';
import { runNow } from '../../platform/triggers/triggers';

/**
 * The export end to end through the production worker entry (worker/index.ts as child processes):
 * 1 000 invoices, 20 % injected 5xx on the accounting API (seeded, so repeatable), and the worker
 * killed with SIGKILL in the middle of the export. Its job is found by the lost heartbeat, a second
 * worker process takes the run over from the committed watermark, and the idempotency keys derived
 * from each batch's content make the replayed batches book nothing twice: in the end the stand-in
 * booked every invoice exactly once.
 */

const INVOICES = 1_000;
const ERROR_RATE = 0.2;
let h: ExportTest;

beforeAll(async () => {
  h = await startExportTest({
    seed: 24,
    hostData: { customers: 25, invoices: INVOICES, seed: 20 },
    exportConfig: { settings: { batchSize: 50 }, retryDelays: ['1s', '2s', '2s', '3s'], breakerFailures: 3, breakerCooldown: '2s' },
    worker: 'processes',
  });
});
afterAll(() => h?.close());

describe('accounting-export through worker processes', () => {
  it('books every invoice exactly once across 20 % injected 5xx errors and a worker killed mid-run', async () => {
    await h.admin.setFaults('accounting', { errorRate: ERROR_RATE, latencyMs: 200 });
    const first = await h.spawnWorker('first');
    const { runId } = await runNow(h.db, h.boss, { integration: 'accounting-export', triggeredBy: 'ada@example.com' });

    // Mid-run: a few batches are booked; then the API stops answering so the worker is caught inside a batch.
    await waitFor('the first batches to be booked', async () => (await h.admin.bookings()).distinctReferences >= 200, 60_000);
    // Counted before the change: a request that arrives while the latency changes may already be
    // the one left hanging, and the next would only come after the client's 30 s timeout.
    const before = (await h.admin.requests()).accounting.total;
    await h.admin.setFaults('accounting', { errorRate: ERROR_RATE, latencyMs: 60_000 });
    await waitFor(
      'the worker to send its next batch and wait for the answer',
      async () => {
        const { total, byStatus, aborted } = (await h.admin.requests()).accounting;
        const answered = Object.values(byStatus).reduce((sum, n) => sum + n, 0) + aborted;
        return total > before && total > answered;
      },
      30_000,
    );
    const [running] = await h.db.select().from(attempts).where(eq(attempts.runId, runId));
    expect(running).toMatchObject({ number: 1, outcome: 'running' });
    expect(running.worker).toContain(`:${first.process.pid}:`);
    expect((await runOf(h.db, runId)).status).toBe('running');

    await first.kill();
    expect(first.process.signalCode).toBe('SIGKILL');
    const bookedBeforeKill = (await h.admin.bookings()).distinctReferences;
    expect(bookedBeforeKill).toBeLessThan(INVOICES);
    await h.admin.setFaults('accounting', { errorRate: ERROR_RATE, latencyMs: 20 });
    const second = await h.spawnWorker('second');

    const run = await waitForRun(h.db, runId, ['succeeded'], 120_000);
    const rows = await h.db.select().from(attempts).where(eq(attempts.runId, runId)).orderBy(asc(attempts.startedAt));
    const used = rows.filter((a) => a.outcome !== 'deferred');
    // The kill is the infrastructure's failure, not the handler's: the attempt is recorded as
    // interrupted and the next one runs under the same number (issue 14).
    expect(used[0]).toMatchObject({ number: 1, outcome: 'interrupted', errorClass: 'WorkerLost' });
    expect(used[1]).toMatchObject({ number: 1 });
    expect(used.at(-1)).toMatchObject({ outcome: 'succeeded', number: run.attemptCount });
    expect(used.at(-1)!.worker).toContain(`:${second.process.pid}:`);

    const bookings = await h.admin.bookings();
    const requests = (await h.admin.requests()).accounting;
    const injected = Object.entries(requests.byStatus)
      .filter(([status]) => Number(status) >= 500)
      .reduce((sum, [, n]) => sum + n, 0);
    const numbers = (await h.db.execute<{ number: string }>(sql`select number from invoices where status = 'posted'`)).map((r) => r.number);
    const missing = numbers.filter((n) => !bookings.byReference[n]);
    const bookedOnce = numbers.filter((n) => bookings.byReference[n] === 1).length;
    console.log(
      `worker restart: invoices: ${numbers.length}, booked once: ${bookedOnce}, duplicates: ${bookings.duplicates.length}, missing: ${missing.length}, ` +
        `booked before the kill: ${bookedBeforeKill}, replayed batches: ${bookings.replays}, accounting requests: ${requests.total}, injected 5xx: ${injected}, ` +
        `attempts: ${used.map((a) => `${a.number}:${a.outcome}${a.errorClass ? `(${a.errorClass})` : ''}`).join(' ')}, deferrals: ${rows.length - used.length}`,
    );

    expect(numbers).toHaveLength(INVOICES);
    expect(missing).toEqual([]);
    expect(bookings.duplicates).toEqual([]);
    expect(bookedOnce).toBe(INVOICES);
    expect(bookings.total).toBe(INVOICES);
    // The errors were real (some requests answered 5xx), and what the first worker had booked was
    // not booked again: the next attempt resumed from the run's checkpoint, or, when the kill fell
    // between a booking and its checkpoint, replayed that batch idempotently.
    expect(injected).toBeGreaterThan(0);
    expect(used[1].resumedFrom !== null || bookings.replays > 0).toBe(true);

    // The watermark is at the last invoice.
    const [last] = await h.db.execute<{ updated_at: string; id: string }>(sql`
      select to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as updated_at, id
        from invoices where status = 'posted' order by updated_at desc, id desc limit 1`);
    // The run's last checkpoint, its counts included (a next run reads only the position).
    expect(await cursorOf(h.db, 'accounting-export')).toEqual({ updatedAt: last.updated_at, id: last.id, tally: expect.any(Object) });
    expect(run.result).toMatchObject({ watermark: { updatedAt: last.updated_at, id: last.id } });
    // The result covers both workers' attempts: every booking the stand-in made for this run (a
    // batch booked just before the kill is replayed by the next attempt and counted once).
    expect(run.result).toMatchObject({
      processed: bookings.total,
      earlierAttempts: expect.objectContaining({ booked: expect.any(Number) }),
    });
    expect(run).toMatchObject({ progressDone: INVOICES, progressTotal: INVOICES });
  }, 180_000);
});
