import { randomUUID } from 'node:crypto';
import { request as playwrightRequest, type APIRequestContext, type APIResponse } from '@playwright/test';
import { METRICS_TOKEN } from '../../playwright.config';
import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';

/**
 * What a script can rely on from the JSON API: every answer it can get is in the OpenAPI document
 * for that operation, every refusal is JSON `{ error }`, a path no route serves is a JSON 404 and a
 * method a route does not serve a JSON 405 naming the methods it does (`Allow`). Each refusal
 * below is provoked for real, so a status the document leaves out fails here.
 */

type Doc = { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
const NO_RUN = '00000000-0000-4000-8000-000000000000';

test('every answer of every operation is JSON and documented for it', async ({ page, browser, baseURL }) => {
  const anonymous = await playwrightRequest.newContext({ baseURL });
  const doc = (await (await anonymous.get('/api/openapi.json')).json()) as Doc;
  await signIn(page, 'oscar');
  const operator = page.context().request;
  const viewerContext = await browser.newContext({ baseURL });
  const viewerPage = await viewerContext.newPage();
  await signIn(viewerPage, 'vera');
  const viewer = viewerContext.request;
  const origin = { Origin: baseURL! };
  const [failed, failedToo] = await seedFailedRuns('crm-sync', 2);

  const seen = new Map<string, Set<number>>();
  const problems: string[] = [];
  const check = async (operation: string, answer: Promise<APIResponse>, expected: number) => {
    const response = await answer;
    const [method, template] = operation.split(' ');
    const documented = Object.keys(doc.paths[template]?.[method.toLowerCase()]?.responses ?? {});
    const status = response.status();
    if (status !== expected) problems.push(`${operation}: expected ${expected}, got ${status}: ${(await response.text()).slice(0, 200)}`);
    if (!documented.includes(String(status)))
      problems.push(`${operation}: answered ${status}, the document lists ${documented.join(', ')}`);
    if (status >= 400 && template !== '/api/metrics') {
      const body = (await response.json().catch(() => null)) as { error?: unknown } | null;
      if (typeof body?.error !== 'string' || !body.error) problems.push(`${operation}: ${status} without a JSON error`);
    }
    seen.set(operation, (seen.get(operation) ?? new Set()).add(status));
  };
  const post = (ctx: APIRequestContext, path: string, data: unknown = {}, headers: Record<string, string> = {}) =>
    ctx.post(path, { data: data as object, headers: { ...origin, ...headers } });
  const big = { reason: 'x'.repeat(1_100_000) };

  // GET operations: 200, a repeated parameter (400), no session (401), unknown ids (404).
  for (const [operation, path] of [
    ['GET /api/me', '/api/me'],
    ['GET /api/integrations', '/api/integrations'],
    ['GET /api/runs', '/api/runs'],
    ['GET /api/runs/status', `/api/runs/status?ids=${failed}`],
    ['GET /api/runs/{id}', `/api/runs/${failed}`],
    ['GET /api/bulk-operations', '/api/bulk-operations'],
  ] as const) {
    await check(operation, viewer.get(path), 200);
    await check(operation, viewer.get(`${path}${path.includes('?') ? '&' : '?'}limit=1&limit=2`), 400);
    await check(operation, anonymous.get(path), 401);
  }
  // The fingerprint the console's open pages poll: an unknown integration is a 404, a view without its name a 400.
  await check('GET /api/changes', viewer.get('/api/changes?view=overview'), 200);
  await check('GET /api/changes', viewer.get('/api/changes?view=overview&view=alerts'), 400);
  await check('GET /api/changes', viewer.get('/api/changes?view=integration'), 400);
  await check('GET /api/changes', viewer.get('/api/changes?view=audit'), 200);
  await check('GET /api/changes', viewer.get('/api/changes?view=audit&integration=crm-sync'), 400);
  await check('GET /api/changes', viewer.get('/api/changes?view=integration&integration=no-such-integration'), 404);
  // The alerts of an integration that does not exist: a 400 naming it, not a fingerprint of nothing.
  await check('GET /api/changes', viewer.get('/api/changes?view=alerts&integration=crm_sync'), 400);
  await check('GET /api/changes', anonymous.get('/api/changes?view=overview'), 401);
  await check('GET /api/runs/{id}', viewer.get(`/api/runs/${NO_RUN}`), 404);
  await check('GET /api/runs/{id}', viewer.get('/api/runs/not-a-run'), 400);
  await check('GET /api/runs', viewer.get('/api/runs?from=2026-02-30'), 400);
  // An integration that does not exist, or an empty one, is a 400 like any bad value: not an empty
  // list read as "no failed runs", nor every run.
  const typo = await viewer.get('/api/runs?integration=crm_sync&status=failed');
  await check('GET /api/runs', Promise.resolve(typo), 400);
  expect(await typo.json()).toEqual({
    error: "No integration is named 'crm_sync': did you mean 'crm-sync'?",
    fieldErrors: { integration: "no integration is named 'crm_sync'; did you mean 'crm-sync'?" },
  });
  await check('GET /api/runs', viewer.get('/api/runs?integration='), 400);
  await check('GET /api/runs', viewer.get('/api/runs?integration=crm-sync&status=failed'), 200);

  // POST operations: each refusal a script can meet.
  await check('POST /api/integrations/{name}/runs', post(operator, '/api/integrations/crm-sync/runs', { dryRun: true }), 200);
  await check('POST /api/integrations/{name}/runs', post(operator, '/api/integrations/no-such-integration/runs'), 404);
  await check('POST /api/integrations/{name}/runs', post(operator, '/api/integrations/crm-sync/runs', { dryRun: 'yes' }), 400);
  await check('POST /api/integrations/{name}/runs', post(viewer, '/api/integrations/crm-sync/runs'), 403);
  await check('POST /api/integrations/{name}/runs', anonymous.post('/api/integrations/crm-sync/runs', { data: {} }), 401);
  await check(
    'POST /api/integrations/{name}/runs',
    operator.post('/api/integrations/crm-sync/runs', { data: {}, headers: { Origin: 'https://evil.example' } }),
    403,
  );
  await check('POST /api/integrations/{name}/runs', post(operator, '/api/integrations/crm-sync/runs', big), 413);

  await check('POST /api/runs/{id}/retry', post(operator, `/api/runs/${failed}/retry`), 200);
  await check('POST /api/runs/{id}/retry', post(operator, `/api/runs/${NO_RUN}/retry`), 404);
  await check('POST /api/runs/{id}/retry', post(operator, `/api/runs/${failed}/retry`), 409);
  await check('POST /api/runs/{id}/retry', post(operator, `/api/runs/${failed}/retry`, { colour: 'blue' }), 400);
  const key = { 'Idempotency-Key': `conventions-${failed}` };
  await check('POST /api/runs/{id}/retry', post(operator, `/api/runs/${NO_RUN}/retry`, { reason: 'a' }, key), 404);
  await check('POST /api/runs/{id}/retry', post(operator, `/api/runs/${NO_RUN}/retry`, { reason: 'b' }, key), 422);

  await check('POST /api/runs/retry', post(operator, '/api/runs/retry', { runIds: [failedToo.toUpperCase()] }), 200);
  await check('POST /api/runs/retry', post(operator, '/api/runs/retry', { runIds: [NO_RUN] }), 404);
  await check('POST /api/runs/retry', post(operator, '/api/runs/retry', { runIds: [failed] }), 409);
  await check('POST /api/runs/retry', post(operator, '/api/runs/retry', { runIds: [] }), 400);
  // The filter form (Retry all matching): a window no run is in, so it retries nothing here.
  const future = { integration: 'crm-sync', status: 'failed', from: '2999-01-01T00:00:00Z' };
  const none = await operator.post('/api/runs/retry', { data: { filter: future, pace: { runs: 20, per: '1m' } }, headers: origin });
  expect(await none.json()).toEqual({ bulkOperationId: null, queued: 0, runIds: [] });
  await check('POST /api/runs/retry', post(operator, '/api/runs/retry', { filter: future }), 200);
  await check('POST /api/runs/retry', post(operator, '/api/runs/retry', { runIds: [failed], filter: future }), 400);
  await check('POST /api/runs/retry', post(operator, '/api/runs/retry', { pace: { runs: 20, per: '1m' } }), 400);
  await check('POST /api/runs/retry', post(operator, '/api/runs/retry', { filter: { ...future, status: 'succeeded' } }), 400);
  await check(
    'POST /api/runs/retry',
    post(operator, '/api/runs/retry', { filter: { ...future, integration: 'no-such-integration' } }),
    400,
  );
  await check('POST /api/runs/retry', post(operator, '/api/runs/retry', big), 413);

  // A run waiting for its next attempt in an hour: the retry above may have finished already.
  // Not of crm-sync: the worker may be taking that retry's turn right now, and a run it defers
  // behind this one in the moment before the cancel commits would wait the hour (a race left open
  // in the runner: its turn check is not serialised with a cancel), holding up later crm-sync specs.
  const waiting = randomUUID();
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, next_attempt_at, created_at, started_at)
    values (${waiting}, 'payment-events', 'manual', 'retrying', 'e2e', ${randomUUID()}, 1, 4, now() + interval '1 hour', now(), now())`;
  await check('POST /api/runs/{id}/cancel', post(operator, `/api/runs/${waiting}/cancel`), 200);
  await check('POST /api/runs/{id}/cancel', post(operator, `/api/runs/${waiting}/cancel`), 409);
  await check('POST /api/runs/{id}/cancel', post(operator, `/api/runs/${NO_RUN}/cancel`), 404);
  await check('POST /api/runs/{id}/cancel', post(viewer, `/api/runs/${NO_RUN}/cancel`), 403);

  // A bulk retry with one run held (a run of the integration released a minute ago uses the
  // operation's 1 per hour, so the running worker's dispatcher leaves it held meanwhile).
  const bulk = randomUUID();
  const held = randomUUID();
  await db()`
    insert into bulk_operations (id, created_by, run_ids, retried_run_ids, total, pace_runs, pace_period_ms)
    values (${bulk}, 'oscar.operator@junction.local', ${db().json([held])}, ${db().json([])}, 1, 1, 3600000)`;
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at, released_at, finished_at)
    values (${randomUUID()}, 'payment-events', 'manual', 'succeeded', 'e2e', ${randomUUID()}, 1, 4, now(), now() - interval '1 minute', now())`;
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, bulk_operation_id, hold, created_at)
    values (${held}, 'payment-events', 'retry', 'queued', 'oscar.operator@junction.local', ${randomUUID()}, 0, 4, ${bulk}, 'pace', now())`;
  const patch = (ctx: APIRequestContext, path: string, data: unknown) => ctx.patch(path, { data: data as object, headers: origin });
  const faster = { pace: { runs: 20, per: '1m' } };
  await check('PATCH /api/bulk-operations/{id}', patch(operator, `/api/bulk-operations/${bulk}`, faster), 200);
  // The pace it has now: nothing to change (nor to audit).
  await check('PATCH /api/bulk-operations/{id}', patch(operator, `/api/bulk-operations/${bulk}`, faster), 409);
  await check('PATCH /api/bulk-operations/{id}', patch(operator, `/api/bulk-operations/${bulk}`, { pace: { runs: 0, per: '1m' } }), 400);
  await check('PATCH /api/bulk-operations/{id}', patch(operator, `/api/bulk-operations/${NO_RUN}`, faster), 404);
  await check('PATCH /api/bulk-operations/{id}', patch(viewer, `/api/bulk-operations/${bulk}`, faster), 403);
  await check('PATCH /api/bulk-operations/{id}', anonymous.patch(`/api/bulk-operations/${bulk}`, { data: faster }), 401);
  await check(
    'PATCH /api/bulk-operations/{id}',
    patch(operator, `/api/bulk-operations/${bulk}`, { pace: { runs: 1, per: '1m' }, ...big }),
    413,
  );
  // Cancelled (the held run with it, so no later spec waits behind it): no pace applies any more.
  await db()`update runs set status = 'cancelled', hold = null, finished_at = now() where id = ${held}`;
  await db()`update bulk_operations set cancelled_at = now(), cancelled_by = 'e2e' where id = ${bulk}`;
  await check('PATCH /api/bulk-operations/{id}', patch(operator, `/api/bulk-operations/${bulk}`, faster), 409);

  // The public ones.
  await check('GET /api/openapi.json', anonymous.get('/api/openapi.json'), 200);
  await check('GET /api/metrics', anonymous.get('/api/metrics'), 401);
  await check('GET /api/metrics', anonymous.get('/api/metrics', { headers: { Authorization: 'Bearer wrong' } }), 401);
  await check('GET /api/metrics', anonymous.get('/api/metrics', { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } }), 200);
  const health = await anonymous.get('/api/health');
  await check('GET /api/health', Promise.resolve(health), health.status() === 503 ? 503 : 200);
  // A parameter health does not take is refused like on every route (it answered 200 and ignored it).
  const healthParam = await anonymous.get('/api/health?x=1');
  await check('GET /api/health', Promise.resolve(healthParam), 400);
  expect(await healthParam.json()).toEqual({
    error: "Query parameter 'x' is not a parameter of this route: this route takes no query parameters.",
    fieldErrors: { x: 'is not a parameter of this route: this route takes no query parameters' },
  });

  expect(problems, problems.join('\n')).toEqual([]);
  // Every operation of the document was called.
  const described = Object.entries(doc.paths).flatMap(([template, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${template}`));
  expect([...seen.keys()].sort()).toEqual(described.sort());
  await viewerContext.close();
  await anonymous.dispose();
});

test('a path no route serves is a JSON 404 and a method a route does not serve a JSON 405 with Allow', async ({ page, baseURL }) => {
  await signIn(page, 'oscar');
  const request = page.context().request;
  const origin = { Origin: baseURL! };
  const apiRuns = async () => (await db()<{ n: number }[]>`select count(*)::int as n from runs where trigger = 'api'`)[0].n;
  const before = await apiRuns();
  for (const [method, path] of [
    ['GET', '/api/nope'],
    ['POST', '/api/nope'],
    ['GET', `/api/runs/${NO_RUN}/nope`],
    ['DELETE', '/api/integrations/crm-sync/runs/extra'],
  ] as const) {
    const res = await request.fetch(path, { method, headers: origin, data: method === 'GET' ? undefined : {} });
    expect(res.status(), `${method} ${path}`).toBe(404);
    expect(res.headers()['content-type'], `${method} ${path}`).toMatch(/application\/json/);
    expect(((await res.json()) as { error: string }).error).toMatch(/There is no API route at \/api\/.*\/api\/openapi\.json/);
  }
  for (const [method, path, allow] of [
    ['GET', `/api/runs/${NO_RUN}/retry`, 'POST, OPTIONS'],
    ['DELETE', `/api/runs/${NO_RUN}`, 'GET, HEAD, OPTIONS'],
    ['PUT', '/api/runs', 'GET, HEAD, OPTIONS'],
    ['PATCH', '/api/integrations/crm-sync/runs', 'POST, OPTIONS'],
    ['GET', '/api/runs/retry', 'POST, OPTIONS'],
    ['GET', `/api/bulk-operations/${NO_RUN}`, 'PATCH, OPTIONS'],
    ['POST', '/api/health', 'GET, HEAD, OPTIONS'],
    ['DELETE', '/api/openapi.json', 'GET, HEAD, OPTIONS'],
  ] as const) {
    const res = await request.fetch(path, { method, headers: origin, data: method === 'GET' ? undefined : {} });
    expect(res.status(), `${method} ${path}`).toBe(405);
    expect(res.headers().allow, `${method} ${path}`).toBe(allow);
    expect(((await res.json()) as { error: string }).error).toMatch(
      new RegExp(`^${method} is not allowed on /api/.*: use (GET|POST|PATCH)`),
    );
  }
  // OPTIONS names what the route serves (Next's own answer listed every method, the refused ones
  // included), and a path no route serves is the 404 for it too.
  for (const [path, allow] of [
    ['/api/runs', 'GET, HEAD, OPTIONS'],
    [`/api/runs/${NO_RUN}/retry`, 'POST, OPTIONS'],
    ['/api/integrations/crm-sync/runs', 'POST, OPTIONS'],
    ['/api/health', 'GET, HEAD, OPTIONS'],
  ] as const) {
    const res = await request.fetch(path, { method: 'OPTIONS', headers: origin });
    expect(res.status(), `OPTIONS ${path}`).toBe(204);
    expect(res.headers().allow, `OPTIONS ${path}`).toBe(allow);
  }
  const nowhere = await request.fetch('/api/nope', { method: 'OPTIONS', headers: origin });
  expect(nowhere.status()).toBe(404);
  expect(((await nowhere.json()) as { error: string }).error).toMatch(/^There is no API route at \/api\/nope\./);
  expect(await apiRuns(), 'the refused methods started nothing').toBe(before);
});
