import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { APIRequestContext } from '@playwright/test';
import { db, e2eState } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';

/**
 * Load (issue 8, item 4): 50 concurrent console users, scripted over HTTP (no browser), browse
 * pages and the JSON API while operators among them retry failed runs, with 4 worker processes
 * (the server's own plus 3 started here) working the runs. No error responses, no deadlocks;
 * server time p50/p95 is reported.
 */

const USERS = 50;
const REQUESTS_PER_USER = 12;
const ROOT = path.join(import.meta.dirname, '..', '..');

function startWorker(): ChildProcess {
  const state = e2eState();
  return spawn(process.execPath, ['--import', 'tsx', 'worker/index.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: state.databaseUrl,
      JUNCTION_SECRETS_KEY: state.secretsKey,
      JUNCTION_AUDIT_KEY: state.auditKey,
      JUNCTION_AUDIT_ANCHOR_DIR: state.auditAnchorDir,
      AUTH_SECRET: state.authSecret,
      APP_URL: state.appUrl,
      SANDBOX_URL: state.sandboxUrl,
    },
    stdio: 'ignore',
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

test('50 concurrent console users browse and retry while 4 workers process runs: no errors, no deadlocks', async ({ browser, baseURL }) => {
  test.setTimeout(240_000);
  const workers = [startWorker(), startWorker(), startWorker()];
  try {
    const seeded = await seedFailedRuns('crm-sync', 20, 'load test seed: CRM answered 503');
    const failed = [...seeded];
    const contexts: APIRequestContext[] = [];
    for (const who of ['vera', 'oscar', 'ada'] as const) {
      const context = await browser.newContext({ baseURL });
      await signIn(await context.newPage(), who);
      contexts.push(context.request);
    }
    const [deadlocksBefore] = await db()<
      { n: number }[]
    >`select deadlocks::int as n from pg_stat_database where datname = current_database()`;
    const pages = [
      '/',
      '/integrations',
      '/runs',
      '/runs?status=failed',
      '/integrations/crm-sync',
      '/integrations/accounting-export/history',
      '/alerts',
      '/audit',
      '/api/runs?limit=50',
      '/api/integrations',
    ];
    const timings: number[] = [];
    const errors: string[] = [];
    let retried = 0;
    await Promise.all(
      Array.from({ length: USERS }, async (_, user) => {
        const client = contexts[user % contexts.length];
        const isOperator = user % contexts.length !== 0;
        for (let i = 0; i < REQUESTS_PER_USER; i++) {
          const started = performance.now();
          let status: number;
          let what: string;
          if (isOperator && i === 3 && failed.length > 0) {
            const runId = failed.pop()!;
            what = `POST /api/runs/${runId}/retry`;
            const res = await client.post(`/api/runs/${runId}/retry`, { data: {}, headers: { Origin: baseURL! } });
            status = res.status();
            if (status === 200) retried++;
          } else {
            what = `GET ${pages[(user + i) % pages.length]}`;
            status = (await client.get(pages[(user + i) % pages.length])).status();
          }
          timings.push(performance.now() - started);
          if (status >= 400) errors.push(`${what} → ${status}`);
        }
      }),
    );
    await expect
      .poll(
        async () =>
          (
            await db()<
              { n: number }[]
            >`select count(*)::int as n from runs where retry_of = any(${seeded}) and status not in ('succeeded', 'failed', 'cancelled')`
          )[0].n,
        { timeout: 120_000 },
      )
      .toBe(0);
    const [deadlocksAfter] = await db()<
      { n: number }[]
    >`select deadlocks::int as n from pg_stat_database where datname = current_database()`;
    const sorted = [...timings].sort((a, b) => a - b);
    console.log(
      `[load] users: ${USERS}, requests: ${timings.length}, errors: ${errors.length}, retries started: ${retried}, deadlocks: ${deadlocksAfter.n - deadlocksBefore.n}, ` +
        `p50: ${Math.round(percentile(sorted, 50))} ms, p95: ${Math.round(percentile(sorted, 95))} ms, max: ${Math.round(sorted.at(-1)!)} ms`,
    );
    expect(errors).toEqual([]);
    expect(deadlocksAfter.n - deadlocksBefore.n).toBe(0);
    expect(retried).toBeGreaterThan(0);
  } finally {
    for (const w of workers) w.kill('SIGTERM');
  }
});
