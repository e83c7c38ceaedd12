import { request as playwrightRequest } from '@playwright/test';
import { METRICS_TOKEN, WORKER_METRICS_URL } from '../../playwright.config';
import { db, e2eState } from '../db';
import { expect, signIn, test } from '../fixtures';

/** Metrics and the OpenAPI document on the running product (issue 19). */

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

test('the OpenAPI document is public and lists the run API', async ({ baseURL }) => {
  const anonymous = await playwrightRequest.newContext({ baseURL });
  const answer = await anonymous.get('/api/openapi.json');
  expect(answer.status()).toBe(200);
  const doc = (await answer.json()) as {
    openapi: string;
    paths: Record<string, unknown>;
    components: { securitySchemes: Record<string, unknown> };
  };
  expect(doc.openapi).toBe('3.1.0');
  expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/runs', '/api/integrations/{name}/runs', '/api/runs/{id}']));
  expect(Object.keys(doc.components.securitySchemes)).toEqual(expect.arrayContaining(['apiToken']));
  await anonymous.dispose();
});

test('metrics need the METRICS_TOKEN; the worker counts a run and the web app shows the queue and breakers', async ({ page, baseURL }) => {
  const anonymous = await playwrightRequest.newContext({ baseURL });
  expect((await anonymous.get('/api/metrics')).status()).toBe(401);
  expect((await anonymous.get('/api/metrics', { headers: { Authorization: 'Bearer not-the-token' } })).status()).toBe(401);
  const auth = { Authorization: `Bearer ${METRICS_TOKEN}` };
  const web = await anonymous.get('/api/metrics', { headers: auth });
  expect(web.status()).toBe(200);
  const webText = await web.text();
  expect(webText).toContain('junction_runs_queued{integration="crm-sync"}');
  expect(webText).toContain('junction_oldest_queued_run_age_seconds{integration="accounting-export"}');

  const series = 'junction_runs_finished_total{integration="crm-sync",trigger="manual",outcome="succeeded"}';
  const before = await (await anonymous.get(WORKER_METRICS_URL, { headers: auth })).text();
  await signIn(page, 'oscar', '/integrations/crm-sync');
  await page.getByRole('button', { name: 'Run now' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Run now' }).click();
  await page.getByRole('link', { name: 'Follow it' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Succeeded', { timeout: 60_000 });
  await expect
    .poll(async () => value(await (await anonymous.get(WORKER_METRICS_URL, { headers: auth })).text(), series), { timeout: 10_000 })
    .toBe(value(before, series) + 1);
  const after = await (await anonymous.get(WORKER_METRICS_URL, { headers: auth })).text();
  expect(value(after, 'junction_outbound_http_requests_total{integration="crm-sync",status_class="2xx"}')).toBeGreaterThan(0);
  await anonymous.dispose();
});

test('with the database not answering, /api/metrics still serves its counters and marks the gauges unavailable', async ({ baseURL }) => {
  const anonymous = await playwrightRequest.newContext({ baseURL });
  const auth = { Authorization: `Bearer ${METRICS_TOKEN}` };
  // The breakers table locked by a transaction held open: the gauges' read waits for it past the
  // endpoint's deadline (5 s), as it would for a database that does not answer.
  await db().begin(async (tx) => {
    await tx`lock table breakers in access exclusive mode`;
    // The token is still required, before any database read.
    expect((await anonymous.get('/api/metrics')).status()).toBe(401);
    const answer = await anonymous.get('/api/metrics', { headers: auth, timeout: 20_000 });
    expect(answer.status()).toBe(200);
    const text = await answer.text();
    expect(value(text, 'junction_database_gauges_up')).toBe(0);
    expect(text).not.toContain('junction_runs_queued');
    expect(text).toContain('junction_process_cpu_user_seconds_total');
  });
  const after = await (await anonymous.get('/api/metrics', { headers: auth })).text();
  expect(value(after, 'junction_database_gauges_up')).toBe(1);
  expect(after).toContain('junction_runs_queued{integration="crm-sync"}');
  await anonymous.dispose();
});

test("a script's traceparent on an API call is the parent of the run's trace, out to the external system", async ({ page }) => {
  const sandbox = e2eState().sandboxUrl;
  await signIn(page, 'oscar');
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const answer = await page.context().request.post('/api/integrations/crm-sync/runs', {
    data: { dryRun: false },
    headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` },
  });
  expect(answer.status()).toBe(200);
  const { runId, deduplicated } = (await answer.json()) as { runId: string; deduplicated?: boolean };
  expect(deduplicated ?? false).toBe(false);
  const [run] = await db()<{ trace_parent: string | null; correlation_id: string }[]>`
    select trace_parent, correlation_id from runs where id = ${runId}`;
  expect(run.trace_parent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  await expect
    .poll(async () => (await db()<{ status: string }[]>`select status from runs where id = ${runId}`)[0].status, { timeout: 60_000 })
    .toBe('succeeded');
  const recorded = (await (await page.request.get(`${sandbox}/_admin/requests/recent?correlationId=${run.correlation_id}`)).json()) as {
    items: { traceparent: string | null }[];
  };
  expect(recorded.items.length).toBeGreaterThan(0);
  for (const item of recorded.items) expect(item.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
});
