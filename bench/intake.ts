import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { createBoss } from '../lib/platform/execution/boss';
import { ensurePlatformQueues } from '../lib/platform/execution/queue';
import { keyringFrom } from '../lib/platform/governance/crypto';
import { addWebhookSecret } from '../lib/platform/intake/secrets';
import { syncRegistry } from '../lib/platform/registry';
import { BENCH_EVENTS, benchEventsRegistry } from './intake-integration';
import { alternate, createBenchDatabase, median, percentile, ratioText, sleep, table, until, type BenchContext } from './lib';
import type { BenchResult } from './run';

/**
 * Benchmark 7, signed webhook intake. A hand-rolled load generator (fetch with keep-alive, no
 * extra package) sends Standard Webhooks-signed events to two servers in their own processes
 * (bench/intake-server.ts): the platform's intake (`receiveWebhook`, what `POST /hooks/<name>`
 * calls) and a bare node:http server that verifies the same signature and inserts the same row.
 * Sustained: an open-loop schedule at RATE events/s for SECONDS; 2xx throughput, p50/p95 latency,
 * errors. Capacity: a closed loop with 32 requests in flight for SECONDS/3; events/s, the ratio
 * (goal ≥ 0.5). A platform worker applies the events meanwhile (a no-op handler): received →
 * handler started p50/p95 over the sustained phase (the events started within 3 minutes of its end).
 */

export const INTAKE_SIZES = {
  tiny: { rate: 100, seconds: 4, rounds: 1 },
  full: { rate: 500, seconds: 60, rounds: 1 },
} as const;
const IN_FLIGHT = 32;
/** Open loop: a request due while this many are unanswered is not sent (an error: notSent). */
const MAX_IN_FLIGHT = 256;
const ROOT = path.resolve(import.meta.dirname, '..');

interface LoadResult {
  sent: number;
  ok: number;
  errors: Record<string, number>;
  seconds: number;
  latencies: number[];
}

async function startServer(
  mode: 'platform' | 'bare' | 'worker',
  env: Record<string, string>,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/intake-server.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env, MODE: mode, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} intake server did not start:\n${output}`)), 90_000);
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /ready (\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', () => reject(new Error(`${mode} intake server exited:\n${output}`)));
  });
  return { url: `http://127.0.0.1:${port}/hooks/${BENCH_EVENTS}`, child };
}

function signedRequest(hook: Webhook, n: number) {
  const id = `evt_${randomUUID()}`;
  const body = JSON.stringify({ type: 'bench.event', key: `k-${n % 500}`, version: n, data: { amount: '12.34', note: 'x'.repeat(200) } });
  const now = new Date();
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': hook.sign(id, now, body),
    },
  };
}

async function send(url: string, hook: Webhook, n: number, result: LoadResult): Promise<void> {
  const { body, headers } = signedRequest(hook, n);
  const started = performance.now();
  result.sent++;
  try {
    const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
    if (response.status >= 200 && response.status < 300) {
      result.ok++;
      result.latencies.push(performance.now() - started);
    } else result.errors[response.status] = (result.errors[response.status] ?? 0) + 1;
  } catch (error) {
    const key = (error as Error).name === 'TimeoutError' ? 'timeout' : 'network';
    result.errors[key] = (result.errors[key] ?? 0) + 1;
  }
}

/** Open loop: request i goes at start + i / rate, whatever the answers do. */
async function sustained(url: string, hook: Webhook, rate: number, seconds: number): Promise<LoadResult> {
  const result: LoadResult = { sent: 0, ok: 0, errors: {}, seconds, latencies: [] };
  const total = rate * seconds;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let i = 0;
  let inFlight = 0;
  while (i < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    while (i < due) {
      i++;
      if (inFlight >= MAX_IN_FLIGHT) {
        // The server is this far behind: counted as an error, not queued in the generator.
        result.sent++;
        result.errors.notSent = (result.errors.notSent ?? 0) + 1;
        continue;
      }
      inFlight++;
      pending.push(send(url, hook, i, result).finally(() => inFlight--));
    }
    await sleep(5);
  }
  await Promise.all(pending);
  result.seconds = (performance.now() - start) / 1000;
  return result;
}

/** Closed loop: IN_FLIGHT requests at all times for `seconds`. */
async function capacity(url: string, hook: Webhook, seconds: number): Promise<LoadResult> {
  const result: LoadResult = { sent: 0, ok: 0, errors: {}, seconds, latencies: [] };
  const stopAt = performance.now() + seconds * 1000;
  let n = 1_000_000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < stopAt) await send(url, hook, n++, result);
    }),
  );
  result.seconds = (performance.now() - start) / 1000;
  return result;
}

export async function runIntake(ctx: BenchContext): Promise<BenchResult> {
  const size = INTAKE_SIZES[ctx.size];
  const bench = await createBenchDatabase(ctx.adminUrl, 'intake');
  const servers: ChildProcess[] = [];
  const boss = createBoss(bench.url, { max: 4 });
  try {
    await bench.db.execute(
      sql`create table bench_bare_events (event_id text primary key, event_type text not null, payload jsonb not null, received_at timestamptz not null default now())`,
    );
    const registry = benchEventsRegistry();
    await syncRegistry(bench.db, { registry });
    const key = randomBytes(32).toString('base64');
    const keyring = keyringFrom({ key, keyId: 'k1' });
    const { generated } = await addWebhookSecret(bench.db, keyring, { def: registry.get(BENCH_EVENTS)!, label: 'bench', actor: 'bench' });
    const hook = new Webhook(generated!);
    await boss.start();
    await ensurePlatformQueues(boss);
    const env = { DATABASE_URL: bench.url, JUNCTION_SECRETS_KEY: key };
    // The worker applying the events runs in its own process, not in the load generator's.
    servers.push((await startServer('worker', env)).child);
    const platform = await startServer('platform', env);
    const bare = await startServer('bare', env);
    servers.push(platform.child, bare.child);
    // Warm both (connections, JIT).
    await sustained(platform.url, hook, 50, 1);
    await sustained(bare.url, hook, 50, 1);
    const warmStart = await bench.db.execute<{ n: number }>(sql`select coalesce(max(id), 0)::int as n from webhook_events`);
    const afterId = warmStart[0].n;

    const loads = await alternate(
      size.rounds,
      () => sustained(platform.url, hook, size.rate, size.seconds),
      () => sustained(bare.url, hook, size.rate, size.seconds),
    );
    await until(
      'the worker to apply the sustained events',
      async () => {
        const [row] = await bench.db.execute<{ n: number }>(
          sql`select count(*)::int as n from webhook_events where status = 'pending' and id > ${afterId}`,
        );
        return row.n === 0;
      },
      180_000,
      500,
    ).catch(() => undefined);
    const [lat] = await bench.db.execute<{ p50: number; p95: number; n: number }>(sql`
      select percentile_cont(0.5) within group (order by extract(epoch from started_at - received_at) * 1000) as p50,
             percentile_cont(0.95) within group (order by extract(epoch from started_at - received_at) * 1000) as p95,
             count(*)::int as n
        from webhook_events where id > ${afterId} and started_at is not null`);
    const caps = await alternate(
      size.rounds,
      () => capacity(platform.url, hook, Math.max(2, size.seconds / 3)),
      () => capacity(bare.url, hook, Math.max(2, size.seconds / 3)),
    );

    const sum = (rs: LoadResult[]) => ({
      throughput: median(rs.map((r) => r.ok / r.seconds)),
      p50: median(rs.map((r) => percentile(r.latencies, 50))),
      p95: median(rs.map((r) => percentile(r.latencies, 95))),
      errors: rs.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0),
      detail: rs.map((r) => JSON.stringify(r.errors)).join(' '),
    });
    const p = sum(loads.platform);
    const b = sum(loads.baseline);
    const pc = sum(caps.platform);
    const bc = sum(caps.baseline);
    const load = (await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
    const text = [
      `sustained ${size.rate} events/s for ${size.seconds} s (open loop), then ${IN_FLIGHT} in flight for ${Math.max(2, size.seconds / 3)} s; ${size.rounds} round(s); load average at the end ${load}`,
      table(
        ['', 'platform (receiveWebhook)', 'bare node:http (verify + insert)', 'platform / bare'],
        [
          ['sustained: 2xx events/s', p.throughput, b.throughput, p.throughput / b.throughput],
          ['sustained: 2xx p50, ms', p.p50, b.p50, p.p50 / b.p50],
          ['sustained: 2xx p95, ms', p.p95, b.p95, `${(p.p95 / b.p95).toFixed(2)} (goal p95 < 25 ms: ${p.p95 < 25 ? 'met' : 'MISSED'})`],
          ['sustained: errors', `${p.errors} ${p.detail}`, `${b.errors} ${b.detail}`, ''],
          ['capacity: 2xx events/s', pc.throughput, bc.throughput, ratioText(pc.throughput / bc.throughput, 0.5)],
          ['capacity: 2xx p95, ms', pc.p95, bc.p95, pc.p95 / bc.p95],
          ['capacity: errors', `${pc.errors} ${pc.detail}`, `${bc.errors} ${bc.detail}`, ''],
          [
            'received → handler started, p50 / p95 ms',
            `${Number(lat.p50).toFixed(0)} / ${Number(lat.p95).toFixed(0)} (${lat.n} events)`,
            '—',
            '',
          ],
        ],
      ),
    ].join('\n');
    return {
      name: 'intake',
      text,
      summary: [
        [
          `7 intake, sustained ${size.rate}/s: 2xx events/s (p95 ms)`,
          `${p.throughput.toFixed(0)} (${p.p95.toFixed(1)})`,
          `${b.throughput.toFixed(0)} (${b.p95.toFixed(1)})`,
          (p.throughput / b.throughput).toFixed(2),
        ],
        ['7 intake, capacity events/s', pc.throughput, bc.throughput, ratioText(pc.throughput / bc.throughput, 0.5)],
      ],
    };
  } finally {
    for (const s of servers) s.kill('SIGKILL');
    await boss.stop({ graceful: false }).catch(() => {});
    await bench.drop();
  }
}
