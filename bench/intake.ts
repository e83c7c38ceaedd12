import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { createBoss } from '../lib/platform/execution/boss';
import { ensurePlatformQueues } from '../lib/platform/execution/queue';
import { keyringFrom } from '../lib/platform/governance/crypto';
import { addWebhookSecret } from '../lib/platform/intake/secrets';
import { syncRegistry } from '../lib/platform/registry';
import { freeListenerPort } from '../scripts/ports';
import { BENCH_EVENTS, benchEventsRegistry } from './intake-integration';
import { createBenchDatabase, median, percentile, ratioText, sleep, table, until, type BenchContext, type Cell } from './lib';
import type { BenchResult } from './run';

/**
 * Benchmark 7, signed webhook intake. A hand-rolled load generator (fetch with keep-alive, no
 * extra package) sends Standard Webhooks-signed events to three servers, each its own process:
 * the product's dedicated intake listener (worker/intake.ts, `npm run start:intake`,
 * `POST /hooks/payment-events`), the Next.js route on the production build (`next start`, the same
 * endpoint) and a bare node:http server that verifies the same signature and inserts the same row
 * (bench/intake-server.ts).
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

async function startServer(mode: 'bare' | 'worker', env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  // INTAKE_CPU_PROF=<dir>: CPU profiles of the servers (written when they are stopped with SIGTERM).
  const prof = process.env.INTAKE_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.INTAKE_CPU_PROF] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', path.join(ROOT, 'bench/intake-server.ts')], {
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

/**
 * Every request of the run gets the next number: its version. The listener and the route share
 * `payment-events`, so a number reused by the second server would be an older version of its
 * ordering key, recorded stale without reaching the handler.
 */
let sequence = 0;

function signedRequest(hook: Webhook) {
  const n = ++sequence;
  const id = `evt_${randomUUID()}`;
  // Read by bench-events (type, key, version) and by payment-events (type, data.payment_id,
  // data.sequence; a type it does not use, so its handler applies nothing).
  const key = `k-${n % 500}`;
  const body = JSON.stringify({
    type: 'bench.event',
    key,
    version: n,
    data: { payment_id: key, sequence: n, amount: '12.34', note: 'x'.repeat(200) },
  });
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

async function send(url: string, hook: Webhook, result: LoadResult): Promise<void> {
  const { body, headers } = signedRequest(hook);
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
      pending.push(send(url, hook, result).finally(() => inFlight--));
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
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < stopAt) await send(url, hook, result);
    }),
  );
  result.seconds = (performance.now() - start) / 1000;
  return result;
}

/** What a product process needs to start in production mode on the bench database. */
function productionEnv(databaseUrl: string, secretsKey: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    JUNCTION_SECRETS_KEY: secretsKey,
    JUNCTION_AUDIT_KEY: randomBytes(32).toString('base64'),
    AUTH_SECRET: randomBytes(33).toString('base64'),
    LOG_LEVEL: 'warn',
  };
}

/** Waits until `up()` answers true; fails with the process's last output when it exits or times out. */
async function untilUp(name: string, child: ChildProcess, up: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`);
    try {
      if (await up()) return;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${name} was not up after ${timeoutMs / 1000} s:\n${output}`);
    await sleep(300);
  }
}

/** The production build, `next start` on the bench database: the route users' senders hit. */
async function startRoute(databaseUrl: string, secretsKey: string): Promise<{ url: string; child: ChildProcess } | null> {
  if (!existsSync(path.join(ROOT, '.next', 'BUILD_ID'))) {
    console.log('intake: no production build (npx next build): the Next.js route is not measured');
    return null;
  }
  const port = await freeListenerPort();
  const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'next'), ['start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: ROOT,
    env: {
      ...productionEnv(databaseUrl, secretsKey),
      AUTH_TRUST_HOST: 'true',
      APP_URL: `http://127.0.0.1:${port}`,
      NEXT_TELEMETRY_DISABLED: '1',
      ...(process.env.INTAKE_CPU_PROF ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.INTAKE_CPU_PROF}` } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  // Any answer from the route itself (GET is 405) means it is up.
  await untilUp('next start', child, async () => (await fetch(`http://127.0.0.1:${port}/hooks/${ROUTE_EVENTS}`)).status === 405, 120_000);
  return { url: `http://127.0.0.1:${port}/hooks/${ROUTE_EVENTS}`, child };
}

const ROUTE_EVENTS = 'payment-events';

/** The product's dedicated intake listener, the real process (`npm run start:intake`), on the bench database. */
async function startListener(databaseUrl: string, secretsKey: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freeListenerPort();
  const prof = process.env.INTAKE_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.INTAKE_CPU_PROF] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', path.join(ROOT, 'worker/intake.ts')], {
    cwd: ROOT,
    env: {
      ...productionEnv(databaseUrl, secretsKey),
      INTAKE_PORT: String(port),
      INTAKE_HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await untilUp('the intake listener', child, async () => (await fetch(`http://127.0.0.1:${port}/health`)).status === 200, 90_000);
  return { url: `http://127.0.0.1:${port}/hooks/${ROUTE_EVENTS}`, child };
}

function summarise(rs: LoadResult[]) {
  return {
    throughput: median(rs.map((r) => r.ok / r.seconds)),
    p50: median(rs.map((r) => percentile(r.latencies, 50))),
    p95: median(rs.map((r) => percentile(r.latencies, 95))),
    errors: rs.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0),
    detail: rs.map((r) => JSON.stringify(r.errors)).join(' '),
    rounds: rs.map((r) => (r.ok / r.seconds).toFixed(0)).join(', '),
  };
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
    // The same secret on the product's endpoint: one signer for every server.
    await addWebhookSecret(bench.db, keyring, { def: registry.get(ROUTE_EVENTS)!, label: 'bench', value: generated!, actor: 'bench' });
    const hook = new Webhook(generated!);
    await boss.start();
    await ensurePlatformQueues(boss);
    const env = { DATABASE_URL: bench.url, JUNCTION_SECRETS_KEY: key };
    // The worker applying the events runs in its own process, not in the load generator's.
    servers.push((await startServer('worker', env)).child);
    const listener = await startListener(bench.url, key);
    const bare = await startServer('bare', env);
    servers.push(listener.child, bare.child);
    const route = await startRoute(bench.url, key);
    if (route) servers.push(route.child);
    const targets = [
      { name: 'listener', url: listener.url },
      ...(route ? [{ name: 'route', url: route.url }] : []),
      { name: 'bare', url: bare.url },
    ];
    // Warm every server (connections, JIT, the route's code).
    for (const t of targets) await sustained(t.url, hook, 50, 2);
    const lastId = async () => (await bench.db.execute<{ n: number }>(sql`select coalesce(max(id), 0)::int as n from webhook_events`))[0].n;
    const afterId = await lastId();

    // Side by side: each round runs every server once, the order rotated between rounds. The event
    // ids each server stored (listener and route share the endpoint) are kept for its latencies.
    const loads = new Map<string, LoadResult[]>(targets.map((t) => [t.name, []]));
    const windows = new Map<string, [number, number][]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < size.rounds; round++)
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + round) % targets.length];
        const from = await lastId();
        loads.get(t.name)!.push(await sustained(t.url, hook, size.rate, size.seconds));
        windows.get(t.name)!.push([from, await lastId()]);
      }
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
    const lat = new Map<string, { p50: number; p95: number; n: number }>();
    for (const t of targets) {
      if (t.name === 'bare') continue;
      const ranges = JSON.stringify(windows.get(t.name));
      const [row] = await bench.db.execute<{ p50: number; p95: number; n: number }>(sql`
        select percentile_cont(0.5) within group (order by extract(epoch from started_at - received_at) * 1000) as p50,
               percentile_cont(0.95) within group (order by extract(epoch from started_at - received_at) * 1000) as p95,
               count(*)::int as n
          from webhook_events e
         where started_at is not null
           and exists (select 1 from jsonb_array_elements(${ranges}::jsonb) w where e.id > (w->>0)::int and e.id <= (w->>1)::int)`);
      lat.set(t.name, row);
    }
    const caps = new Map<string, LoadResult[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < size.rounds; round++)
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + round) % targets.length];
        caps.get(t.name)!.push(await capacity(t.url, hook, Math.max(2, size.seconds / 3)));
      }

    const s = new Map(targets.map((t) => [t.name, { load: summarise(loads.get(t.name)!), cap: summarise(caps.get(t.name)!) }]));
    const b = s.get('bare')!;
    const columns = targets.filter((t) => t.name !== 'bare').map((t) => t.name);
    const label: Record<string, string> = { listener: 'intake listener (npm run start:intake)', route: 'Next.js route (next start)' };
    const latText = (l: { p50: number; p95: number; n: number } | undefined) =>
      l && l.n ? `${Number(l.p50).toFixed(0)} / ${Number(l.p95).toFixed(0)} (${l.n} events)` : '—';
    const rowsFor = (name: string) => {
      const x = s.get(name)!;
      return {
        throughput: x.load.throughput,
        p50: x.load.p50,
        p95: x.load.p95,
        errors: `${x.load.errors} ${x.load.detail}`,
        rounds: x.load.rounds,
        cap: x.cap.throughput,
        capRounds: x.cap.rounds,
        capP95: x.cap.p95,
        capErrors: `${x.cap.errors} ${x.cap.detail}`,
      };
    };
    const cells = (pick: (r: ReturnType<typeof rowsFor>) => Cell) => columns.map((c) => pick(rowsFor(c)));
    const ratios = (pick: (r: ReturnType<typeof rowsFor>) => string) => columns.map((c) => pick(rowsFor(c))).join('; ');
    const load = (await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
    const text = [
      `sustained ${size.rate} events/s for ${size.seconds} s (open loop), then ${IN_FLIGHT} in flight for ${Math.max(2, size.seconds / 3)} s; ${size.rounds} round(s); load average at the end ${load}`,
      table(
        ['', ...columns.map((c) => label[c]), 'bare node:http (verify + insert)', `${columns.join(' / ')} vs bare`],
        [
          [
            'sustained: 2xx events/s',
            ...cells((r) => r.throughput),
            b.load.throughput,
            ratios((r) => (r.throughput / b.load.throughput).toFixed(2)),
          ],
          ['sustained: 2xx events/s per round', ...cells((r) => r.rounds), b.load.rounds, ''],
          ['sustained: 2xx p50, ms', ...cells((r) => r.p50), b.load.p50, ratios((r) => (r.p50 / b.load.p50).toFixed(2))],
          [
            'sustained: 2xx p95, ms',
            ...cells((r) => r.p95),
            b.load.p95,
            ratios((r) => `${(r.p95 / b.load.p95).toFixed(2)} (p95 < 25 ms: ${r.p95 < 25 ? 'met' : 'MISSED'})`),
          ],
          ['sustained: errors', ...cells((r) => r.errors), `${b.load.errors} ${b.load.detail}`, ''],
          ['capacity: 2xx events/s', ...cells((r) => r.cap), b.cap.throughput, ratios((r) => ratioText(r.cap / b.cap.throughput, 0.5))],
          ['capacity: 2xx events/s per round', ...cells((r) => r.capRounds), b.cap.rounds, ''],
          ['capacity: 2xx p95, ms', ...cells((r) => r.capP95), b.cap.p95, ratios((r) => (r.capP95 / b.cap.p95).toFixed(2))],
          ['capacity: errors', ...cells((r) => r.capErrors), `${b.cap.errors} ${b.cap.detail}`, ''],
          ['received → handler started, p50 / p95 ms', ...columns.map((c) => latText(lat.get(c))), '—', ''],
        ],
      ),
    ].join('\n');
    return {
      name: 'intake',
      text,
      summary: columns.flatMap((c) => {
        const r = rowsFor(c);
        return [
          [
            `7 intake ${c}, sustained ${size.rate}/s: 2xx events/s (p95 ms)`,
            `${r.throughput.toFixed(0)} (${r.p95.toFixed(1)})`,
            `${b.load.throughput.toFixed(0)} (${b.load.p95.toFixed(1)})`,
            (r.throughput / b.load.throughput).toFixed(2),
          ],
          [`7 intake ${c}, capacity events/s`, r.cap, b.cap.throughput, ratioText(r.cap / b.cap.throughput, 0.5)],
        ];
      }),
    };
  } finally {
    for (const c of servers) {
      if (c.exitCode !== null) continue;
      // next start is its own process group (its workers go with it).
      if (c.spawnargs.includes('start') && c.pid) {
        try {
          if (process.env.INTAKE_CPU_PROF) {
            process.kill(-c.pid, 'SIGTERM');
            await new Promise((resolve) => setTimeout(resolve, 5_000));
          }
          if (c.exitCode === null) process.kill(-c.pid, 'SIGKILL');
        } catch {
          c.kill('SIGKILL');
        }
      } else if (process.env.INTAKE_CPU_PROF) {
        c.kill('SIGTERM');
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      } else c.kill('SIGKILL');
    }
    await boss.stop({ graceful: false }).catch(() => {});
    await bench.drop();
  }
}
