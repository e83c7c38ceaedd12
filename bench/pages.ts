import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from '@playwright/test';
import { sql } from 'drizzle-orm';
import { runCursor } from '../lib/platform/read-models/run-queries';
import { CONSOLE_SIZES, generate } from './console';
import { createBenchDatabase, median, percentile, sleep, table, type BenchContext } from './lib';
import type { BenchResult } from './run';

/**
 * Benchmark 6, console pages end to end on the production build: `scripts/start.ts --prod` (next
 * start, worker, sandbox, local identity provider) on a bench database, first at demo size (the
 * demo seed), then after benchmark 4's generator has added 1,000,000 runs (3 M attempts, 1 M audit
 * rows). Per page: the time from sending GET to the last byte of the HTML, signed in as an admin,
 * over localhost (so it is server time plus a loopback round trip), after warm-up, pages
 * interleaved. Sign-in: Chromium from "Continue with SSO" through the identity provider's form to
 * the console's Overview, a fresh browser context each time.
 *
 * Needs a production build (`npx next build`; start.ts builds one when missing) and Chromium
 * (CHROMIUM_PATH, default /usr/bin/chromium). Ports: BENCH_PORT (default 3700) and +1000..+1002.
 */

const SIZES = {
  tiny: { generated: null, samples: 3, signIns: 2 },
  full: { generated: CONSOLE_SIZES.full, samples: 30, signIns: 10 },
} as const;

const GOALS = { demo: 200, large: 500, signIn: 3_000 };

const root = path.resolve(import.meta.dirname, '..');

interface Server {
  stop(): Promise<void>;
}

/**
 * One data folder and one secrets key for every start in this benchmark: the product refuses to
 * start with a key other than the one that sealed the stored secrets (its key check), and the
 * 1 M-run part starts it again on the database the demo part used.
 */
const PRODUCT_DATA_DIR = mkdtempSync(path.join(os.tmpdir(), 'junction-bench-pages-'));
const PRODUCT_SECRETS_KEY = randomBytes(32).toString('base64');

async function startProduct(databaseUrl: string, port: number): Promise<Server> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    SANDBOX_PORT: String(port + 1000),
    IDP_PORT: String(port + 1001),
    SANDBOX_SMTP_PORT: String(port + 1002),
    SANDBOX_URL: `http://localhost:${port + 1000}`,
    IDP_URL: `http://localhost:${port + 1001}`,
    APP_URL: `http://localhost:${port}`,
    DATA_DIR: PRODUCT_DATA_DIR,
    AUTH_SECRET: randomBytes(33).toString('base64'),
    JUNCTION_SECRETS_KEY: PRODUCT_SECRETS_KEY,
    NEXT_TELEMETRY_DISABLED: '1',
    LOG_LEVEL: 'warn',
  };
  const child: ChildProcess = spawn(path.join(root, 'node_modules', '.bin', 'tsx'), ['scripts/start.ts', '--prod'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the product exited with ${child.exitCode} before it was healthy:\n${output}`);
    try {
      if ((await fetch(`http://localhost:${port}/api/health`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > 300_000) throw new Error(`the product was not healthy after 300 s:\n${output}`);
    await sleep(1_000);
  }
  return {
    async stop() {
      if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGTERM');
      await Promise.race([exited, sleep(30_000)]);
      if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL');
    },
  };
}

/** Signs in through the real SSO flow in a fresh context; returns the time taken and the cookies. */
async function signIn(browser: Browser, baseURL: string): Promise<{ ms: number; cookie: string }> {
  const context = await browser.newContext({ baseURL });
  try {
    const page = await context.newPage();
    await page.goto('/signin');
    const started = performance.now();
    await page.getByRole('button', { name: 'Continue with SSO' }).click();
    await page.getByLabel('Username').fill('ada');
    await page.getByLabel('Password').fill('junction');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('current-user').waitFor();
    const ms = performance.now() - started;
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    return { ms, cookie };
  } finally {
    await context.close();
  }
}

async function timePages(baseURL: string, cookie: string, pages: string[], samples: number): Promise<Map<string, number[]>> {
  const get = async (p: string) => {
    const started = performance.now();
    const res = await fetch(`${baseURL}${p}`, { headers: { cookie }, redirect: 'manual' });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET ${p} answered ${res.status}: the benchmark measures signed-in pages`);
    return performance.now() - started;
  };
  for (const p of pages) for (let i = 0; i < 2; i++) await get(p); // warm caches, plans and the route's code
  const times = new Map(pages.map((p) => [p, [] as number[]]));
  for (let i = 0; i < samples; i++) for (const p of pages) times.get(p)!.push(await get(p));
  return times;
}

function pageRows(times: Map<string, number[]>, goal: number) {
  return [...times].map(([p, t]) => {
    const p95 = percentile(t, 95);
    return [p, median(t), p95, Math.max(...t), p95 < goal ? 'met' : 'MISSED'];
  });
}

export async function runPages(ctx: BenchContext): Promise<BenchResult> {
  const size = SIZES[ctx.size];
  if (!existsSync(path.join(root, '.next', 'BUILD_ID')))
    console.log('no production build: start.ts runs next build first (minutes on 2 cores)');
  const port = Number(process.env.BENCH_PORT ?? 3700);
  const baseURL = `http://localhost:${port}`;
  const bench = await createBenchDatabase(ctx.adminUrl, 'pages', 4);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const sections: string[] = [];
  const summary: BenchResult['summary'] = [];
  try {
    // 1. Demo size: what `npm run dev` seeds.
    let server = await startProduct(bench.url, port);
    let cookie = '';
    const signIns: number[] = [];
    try {
      for (let i = 0; i < size.signIns + 1; i++) {
        const s = await signIn(browser, baseURL);
        if (i > 0) signIns.push(s.ms); // the first one also compiles and warms everything
        cookie = s.cookie;
      }
      const [run] = await bench.db.execute<{ id: string }>(
        sql`select id from runs where status = 'failed' order by created_at desc limit 1`,
      );
      const demoPages = [
        '/',
        '/integrations',
        '/integrations/accounting-export',
        '/integrations/accounting-export/config',
        '/integrations/accounting-export/history',
        '/integrations/accounting-export/credentials',
        '/integrations/accounting-export/mapping',
        '/runs',
        '/runs?status=failed',
        `/runs/${run.id}`,
        '/alerts',
        '/audit',
        '/users',
      ];
      const times = await timePages(baseURL, cookie, demoPages, size.samples);
      const [{ runs }] = await bench.db.execute<{ runs: number }>(sql`select count(*)::int as runs from runs`);
      const worst = Math.max(...[...times.values()].map((t) => percentile(t, 95)));
      sections.push(
        `Load average while measuring: ${os
          .loadavg()
          .map((l) => l.toFixed(1))
          .join(', ')} (1, 5, 15 min) on ${os.cpus().length} cores`,
        `Demo size (${runs} runs), ${size.samples} samples per page, interleaved:`,
        table(['page', 'p50 ms', 'p95 ms', 'max ms', `p95 < ${GOALS.demo} ms`], pageRows(times, GOALS.demo)),
        '',
        `Sign-in round trip (Chromium: Continue with SSO → identity provider form → Overview), ${signIns.length} fresh contexts:`,
        table(
          ['', 'p50 ms', 'p95 ms', 'max ms', `p95 < ${GOALS.signIn} ms`],
          [
            [
              'sign-in',
              median(signIns),
              percentile(signIns, 95),
              Math.max(...signIns),
              percentile(signIns, 95) < GOALS.signIn ? 'met' : 'MISSED',
            ],
          ],
        ),
      );
      console.log(sections.join('\n')); // printed as it goes: the 1 M-run part takes long
      summary.push(
        ['6 pages: worst page p95 ms at demo size (goal < 200)', worst, '', worst < GOALS.demo ? 'met' : 'MISSED'],
        [
          '6 pages: sign-in round trip p95 ms (goal < 3000)',
          percentile(signIns, 95),
          '',
          percentile(signIns, 95) < GOALS.signIn ? 'met' : 'MISSED',
        ],
      );
    } finally {
      await server.stop();
    }
    if (!size.generated) {
      sections.push('', '(--size tiny: the 1,000,000-run database is skipped)');
      return { name: 'pages', text: sections.join('\n'), summary };
    }

    // 2. The same product against 1,000,000 runs.
    const seconds = await generate(bench.db, size.generated);
    server = await startProduct(bench.url, port);
    try {
      cookie = (await signIn(browser, baseURL)).cookie;
      const [failed] = await bench.db.execute<{ id: string }>(
        sql`select id from runs where status = 'failed' order by created_at desc limit 1 offset 40`,
      );
      const [deep] = await bench.db.execute<{ id: string; created_at: string }>(
        sql`select id, created_at::text from runs order by created_at desc, id desc limit 1 offset 20000`,
      );
      const after = runCursor({ createdAt: new Date(deep.created_at), id: deep.id });
      const largePages = [
        '/',
        '/integrations',
        '/integrations/accounting-export',
        '/integrations/bench-noop-0/history',
        '/runs',
        '/runs?status=failed',
        `/runs?${new URLSearchParams({ after })}`,
        '/runs?integration=bench-noop-3&status=failed',
        `/runs/${failed.id}`,
        '/alerts',
        '/audit',
        '/audit?window=30d',
      ];
      const times = await timePages(baseURL, cookie, largePages, size.samples);
      const worst = Math.max(...[...times.values()].map((t) => percentile(t, 95)));
      sections.push(
        '',
        `Load average while measuring: ${os
          .loadavg()
          .map((l) => l.toFixed(1))
          .join(', ')} (1, 5, 15 min)`,
        `1,000,000 runs (3 M attempts, 1 M audit rows; generated in ${seconds.toFixed(0)} s), ${size.samples} samples per page, interleaved:`,
        table(['page', 'p50 ms', 'p95 ms', 'max ms', `p95 < ${GOALS.large} ms`], pageRows(times, GOALS.large)),
      );
      summary.push(['6 pages: worst page p95 ms at 1 M runs (goal < 500)', worst, '', worst < GOALS.large ? 'met' : 'MISSED']);
    } finally {
      await server.stop();
    }
    return { name: 'pages', text: sections.join('\n'), summary };
  } finally {
    await browser.close();
    await bench.drop();
  }
}
