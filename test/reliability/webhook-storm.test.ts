import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { integrations as integrationsTable } from '../../db/schema';
import { integrations } from '../../lib/integrations';
import { addWebhookSecret } from '../../lib/platform/intake/secrets';
import { buildRegistry, syncRegistry } from '../../lib/platform/registry';
import { PaymentProvider, type PaymentEvent } from '../../sandbox/payment-provider';
import { freeListenerPort } from '../../scripts/ports';
import { freshDatabase, type TestDatabase } from '../db';
import { startTestBoss } from '../fixtures/platform';
import { createRunQueues, newSecretsKey, report, ROOT, sleep, startIntakeProcess, startWorkerProcess, type WorkerProcess } from './support';

/**
 * Issue 17: a storm of signed payment webhooks while `kill -9` hits the web process receiving them
 * (`next start` on the production build, `POST /hooks/payment-events`; built first when missing)
 * and the worker processes applying them (worker/index.ts). The payment provider stand-in retries
 * every delivery not answered 2xx, and injects duplicates, out-of-order deliveries, bad signatures
 * and stale timestamps. Afterwards, by the effect on the host database: every event answered 2xx
 * is applied exactly once (one payment-history row, or none when it was stale), none lost, none
 * applied twice, and per payment the versions were applied in order (a success that arrived after
 * its refund is stale, so every refunded invoice ends refunded).
 *
 * The same storm, smaller, runs a second time against the dedicated intake listener (worker/intake.ts,
 * the production path for event rates), with at least one kill -9 of the listener.
 *
 * STORM_EVENTS (default 10 000; STORM_LISTENER_EVENTS for the listener's storm, default 2 000) and
 * STORM_RATE (events emitted per second, default 250) scale it.
 */

const EVENTS = Number(process.env.STORM_EVENTS ?? 10_000);
const LISTENER_EVENTS = Number(process.env.STORM_LISTENER_EVENTS ?? 2_000);
const RATE = Number(process.env.STORM_RATE ?? 250);
const WORKERS = 2;
const REFUND_SHARE = 0.3;
const PAYOUT_EVERY = 20;

/** The production build the web process serves; built once here when missing (CI runs this suite before its e2e build). */
function ensureBuild(): void {
  if (existsSync(path.join(ROOT, '.next', 'BUILD_ID'))) return;
  console.log('webhook storm: no production build, running next build (minutes on 2 cores)');
  execFileSync(path.join(ROOT, 'node_modules', '.bin', 'next'), ['build'], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
  });
}

function stormSuite(server: 'next' | 'listener', events: number) {
  const PAYMENTS = Math.max(10, Math.round(events / (1 + REFUND_SHARE + 1 / PAYOUT_EVERY)));
  const EVENTS = events;
  let t: TestDatabase;
  let boss: PgBoss;
  let provider: PaymentProvider;
  let intake: { process: ChildProcess } | undefined;
  let port = 0;
  const workers: WorkerProcess[] = [];
  const { key, keyring } = newSecretsKey();
  const auditKey = randomBytes(32).toString('base64');
  const authSecret = randomBytes(33).toString('base64');

  /** The real web process: `next start` on the production build, its own process group (killed whole). */
  async function startNext(): Promise<ChildProcess> {
    const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'next'), ['start', '-p', String(port), '-H', '127.0.0.1'], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        DATABASE_URL: t.url,
        JUNCTION_SECRETS_KEY: key,
        JUNCTION_AUDIT_KEY: auditKey,
        AUTH_SECRET: authSecret,
        AUTH_TRUST_HOST: 'true',
        APP_URL: `http://127.0.0.1:${port}`,
        NEXT_TELEMETRY_DISABLED: '1',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const started = Date.now();
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`next start exited before it was ready:\n${output}`);
      try {
        // The webhook route itself answers (GET is 405): the endpoint is up.
        if ((await fetch(`http://127.0.0.1:${port}/hooks/payment-events`)).status === 405) return child;
      } catch {
        // not listening yet
      }
      if (Date.now() - started > 120_000) throw new Error(`next start was not ready after 120 s:\n${output}`);
      await sleep(200);
    }
  }

  async function killIntake(): Promise<void> {
    const child = intake?.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // kill -9 of the receiving process (and, for next start, anything it started).
    process.kill(server === 'next' ? -child.pid! : child.pid!, 'SIGKILL');
    await exited;
  }

  async function startIntake(): Promise<{ process: ChildProcess }> {
    if (server === 'next') return { process: await startNext() };
    return startIntakeProcess({ DATABASE_URL: t.url, JUNCTION_SECRETS_KEY: key, INTAKE_PORT: String(port) });
  }

  beforeAll(async () => {
    t = await freshDatabase();
    await syncRegistry(t.db, { registry: buildRegistry(integrations) });
    await t.db.update(integrationsTable).set({ schedule: null, retryDelays: ['1s', '2s', '5s'] });
    boss = await startTestBoss(t.url);
    await createRunQueues(boss, { expireInSeconds: 60, heartbeatSeconds: 30, retryLimit: 50 });
    const [customer] = await t.db.execute<{ id: string }>(sql`insert into customers (name) values ('Storm Ltd') returning id`);
    await t.db.execute(sql`
    insert into invoices (number, customer_id, currency, status, issued_on, due_on, net_total, tax_total, gross_total, posted_at)
    select 'STORM-' || lpad(g::text, 6, '0'), ${customer.id}, 'EUR', 'posted', '2026-11-30', '2026-12-30', 100, 0, 100, now()
      from generate_series(1, ${PAYMENTS}) g`);
    const def = buildRegistry(integrations).get('payment-events')!;
    const { generated } = await addWebhookSecret(t.db, keyring, { def, label: 'storm', actor: 'storm-suite' });
    port = await freeListenerPort();
    if (server === 'next') ensureBuild();
    intake = await startIntake();
    for (let i = 0; i < WORKERS; i++)
      workers.push(await startWorkerProcess({ DATABASE_URL: t.url, JUNCTION_SECRETS_KEY: key, APP_URL: 'http://localhost:3000' }));
    provider = new PaymentProvider({
      targetUrl: `http://127.0.0.1:${port}/hooks/payment-events`,
      secret: generated!,
      retryDelaysMs: [200, 500, 1_000, 2_000],
      faults: { duplicate: 0.05, outOfOrder: 0.05, badSignature: 0.02, staleTimestamp: 0.02 },
      seed: 1717,
      concurrency: 16,
      holdBackMs: 500,
      timeoutMs: 5_000,
    });
  }, 1_200_000);

  afterAll(async () => {
    provider?.stop();
    await killIntake().catch(() => {});
    await Promise.allSettled(workers.map((w) => w.kill()));
    await boss?.stop({ graceful: false, timeout: 2_000 }).catch(() => {});
    await t?.drop();
  });

  describe(`webhook storm of ${events} events with kill -9 of the ${server === 'next' ? 'web process (next start)' : 'intake listener'} and the workers (issue 17)`, () => {
    it(
      'applies every event answered 2xx exactly once, in order per payment, none lost',
      async () => {
        const started = Date.now();
        const emitted: PaymentEvent[] = [];
        const refunds = new Set<string>();
        let emitting = true;
        let intakeKills = 0;
        let workerKills = 0;

        const killer = (async () => {
          let turn = 0;
          while (emitting) {
            // The first kill (the receiving process) comes early, so a short storm has one too.
            await sleep(turn === 0 ? 2_000 + Math.random() * 2_000 : 4_000 + Math.random() * 3_000);
            if (!emitting) break;
            if (turn++ % 2 === 0) {
              await killIntake();
              intakeKills++;
              await sleep(300 + Math.random() * 700);
              intake = await startIntake();
            } else {
              const i = Math.floor(Math.random() * workers.length);
              await workers[i].kill();
              workerKills++;
              workers[i] = await startWorkerProcess({ DATABASE_URL: t.url, JUNCTION_SECRETS_KEY: key, APP_URL: 'http://localhost:3000' });
            }
          }
        })();

        const payments: { paymentId: string; invoiceNumber: string }[] = [];
        const pendingRefunds: { paymentId: string; invoiceNumber: string; dueAt: number }[] = [];
        const tickMs = 50;
        const perTick = Math.max(1, Math.round((RATE * tickMs) / 1000));
        let n = 0;
        while (emitted.length < EVENTS) {
          for (let k = 0; k < perTick && emitted.length < EVENTS; k++) {
            const dueRefund = pendingRefunds[0] && pendingRefunds[0].dueAt <= n ? pendingRefunds.shift() : undefined;
            if (dueRefund) {
              emitted.push(provider.paymentRefunded({ ...dueRefund, amount: '100.00', currency: 'EUR' }));
              refunds.add(dueRefund.invoiceNumber);
            } else if (n > 0 && n % PAYOUT_EVERY === 0 && payments.length > 200) {
              const settled = payments.slice(payments.length - 200, payments.length - 200 + PAYOUT_EVERY).map((p) => p.paymentId);
              emitted.push(provider.payoutPaid({ paymentIds: settled, amount: '2000.00', currency: 'EUR' }));
            } else if (payments.length < PAYMENTS) {
              const invoiceNumber = `STORM-${String(payments.length + 1).padStart(6, '0')}`;
              const event = provider.paymentSucceeded({ invoiceNumber, amount: '100.00', currency: 'EUR' });
              const p = { paymentId: event.data.payment_id as string, invoiceNumber };
              payments.push(p);
              emitted.push(event);
              if (Math.random() < REFUND_SHARE) pendingRefunds.push({ ...p, dueAt: n + 5 + Math.floor(Math.random() * 50) });
            } else if (pendingRefunds.length) {
              pendingRefunds[0].dueAt = n;
              continue;
            } else break;
            n++;
          }
          await sleep(tickMs);
          if (payments.length >= PAYMENTS && pendingRefunds.length === 0 && emitted.length < EVENTS) break;
        }
        const emitSeconds = (Date.now() - started) / 1000;
        emitting = false;
        await killer;
        await provider.drained(15 * 60_000);

        // Every accepted event leaves 'pending' (applied, or stale).
        const deadline = Date.now() + 15 * 60_000;
        for (;;) {
          const [row] = await t.db.execute<{ pending: number }>(
            sql`select count(*)::int as pending from webhook_events where status = 'pending'`,
          );
          if (row.pending === 0) break;
          if (Date.now() > deadline) throw new Error(`${row.pending} events still pending`);
          await sleep(1_000);
        }
        const totalSeconds = (Date.now() - started) / 1000;

        const stats = provider.snapshot();
        expect(stats.accepted).toBe(emitted.length);
        const events = await t.db.execute<{
          event_id: string;
          event_type: string;
          status: string;
          duplicates: number;
          ordering_key: string;
          version: number;
        }>(sql`select event_id, event_type, status, duplicates, ordering_key, version from webhook_events`);
        const stored = new Map(events.map((e) => [e.event_id, e]));
        const lost = emitted.filter((e) => !stored.has(e.id));
        expect(lost.map((e) => e.id)).toEqual([]);
        expect(events.length).toBe(emitted.length);
        expect(events.filter((e) => e.status === 'failed' || e.status === 'pending')).toEqual([]);

        const history = await t.db.execute<{
          id: number;
          event_id: string;
          invoice_id: string;
          payment_id: string;
          version: number;
          event_type: string;
        }>(sql`select id, event_id, invoice_id, payment_id, version::int as version, event_type from invoice_payment_history order by id`);
        const rowsPerEvent = new Map<string, number>();
        const pairs = new Map<string, number>();
        for (const h of history) {
          rowsPerEvent.set(h.event_id, (rowsPerEvent.get(h.event_id) ?? 0) + 1);
          pairs.set(`${h.event_id}/${h.invoice_id}`, (pairs.get(`${h.event_id}/${h.invoice_id}`) ?? 0) + 1);
        }
        const appliedTwice = [...pairs.values()].filter((c) => c > 1).length;
        expect(appliedTwice).toBe(0);
        let paymentEventsLost = 0;
        for (const e of events) {
          if (e.event_type === 'payout.paid') continue;
          const rows = rowsPerEvent.get(e.event_id) ?? 0;
          if (e.status === 'processed' && rows !== 1) paymentEventsLost++;
          if (e.status === 'stale') expect(rows).toBe(0);
        }
        expect(paymentEventsLost).toBe(0);

        // Order per payment: versions only grow in the order they were applied.
        const perPayment = new Map<string, number[]>();
        for (const h of history)
          if (h.event_type !== 'payout.paid') perPayment.set(h.payment_id, [...(perPayment.get(h.payment_id) ?? []), h.version]);
        const outOfOrder = [...perPayment.values()].filter((v) => v.some((x, i) => i > 0 && x <= v[i - 1])).length;
        expect(outOfOrder).toBe(0);
        const final = await t.db.execute<{ number: string; payment_status: string | null }>(
          sql`select number, payment_status from invoices`,
        );
        const wrong = final.filter(
          (i) =>
            i.number <= `STORM-${String(payments.length).padStart(6, '0')}` &&
            i.payment_status !== (refunds.has(i.number) ? 'refunded' : 'paid'),
        );
        expect(wrong.map((w) => `${w.number}: ${w.payment_status}`)).toEqual([]);

        const [latency] = await t.db.execute<{ p50: number; p95: number; max: number }>(sql`
      select percentile_cont(0.5) within group (order by extract(epoch from started_at - received_at)) as p50,
             percentile_cont(0.95) within group (order by extract(epoch from started_at - received_at)) as p95,
             max(extract(epoch from started_at - received_at)) as max
        from webhook_events where started_at is not null`);
        const [runsRow] = await t.db.execute<{ runs: number; attempts: number; interrupted: number }>(sql`
      select (select count(*)::int from runs where integration = 'payment-events') as runs,
             (select count(*)::int from attempts a join runs r on r.id = a.run_id where r.integration = 'payment-events') as attempts,
             (select count(*)::int from attempts a join runs r on r.id = a.run_id where r.integration = 'payment-events' and a.outcome = 'interrupted') as interrupted`);
        report(`webhook storm (${server})`, {
          events: emitted.length,
          payments: payments.length,
          refunds: refunds.size,
          accepted: stats.accepted,
          deliveryAttempts: stats.attempts,
          statuses: stats.byStatus,
          injected: stats.injected,
          duplicatesStored: events.reduce((s, e) => s + e.duplicates, 0),
          stale: events.filter((e) => e.status === 'stale').length,
          lost: lost.length,
          appliedTwice,
          outOfOrder,
          intakeKills,
          workerKills,
          runs: runsRow.runs,
          attempts: runsRow.attempts,
          interruptedAttempts: runsRow.interrupted,
          receivedToStartedSeconds: {
            p50: Number(latency.p50).toFixed(2),
            p95: Number(latency.p95).toFixed(2),
            max: Number(latency.max).toFixed(2),
          },
          emitSeconds: emitSeconds.toFixed(0),
          totalSeconds: totalSeconds.toFixed(0),
          loadavg: (await import('node:os'))
            .loadavg()
            .map((l) => l.toFixed(1))
            .join(' '),
        });
        expect(intakeKills, 'the receiving process was killed at least once').toBeGreaterThan(0);
      },
      40 * 60_000,
    );
  });
}

stormSuite('next', EVENTS);
stormSuite('listener', LISTENER_EVENTS);
