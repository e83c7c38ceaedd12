import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ZRunFilter } from '../platform/read-models/run-queries';
import { ZIntegrationsQuery, ZRunNowBody } from './api-schemas';
import { route } from './route';

/**
 * The wrapper every route under app/api goes through, on what it does with the request before the
 * handler runs: a query parameter the route does not take is refused, never dropped, and a body
 * field it does not take is named as its own field. The session and the database are stood in
 * for (a signed-in operator; no query reaches the database before the handler).
 */

vi.mock('server-only', () => ({}));
vi.mock('../auth/guards', () => ({
  authorize: async () => ({ ok: true, user: { id: 'u1', name: 'Oscar', email: 'oscar@example.com', role: 'operator' } }),
}));
vi.mock('../auth/api-tokens', () => ({ authenticateApiToken: vi.fn(), tokenRoleRefusal: vi.fn() }));
vi.mock('./db', () => ({ getDb: () => ({}) }));

const handler = vi.fn(async ({ input }: { input: unknown }) => ({ input }));
beforeEach(() => {
  handler.mockClear();
});

const context = { params: Promise.resolve({}) };
const runs = route({ role: 'viewer', input: ZRunFilter, handler });
const integrations = route({ role: 'viewer', input: ZIntegrationsQuery, handler });
const me = route({ role: 'viewer', handler });
const runNow = route({ role: 'operator', input: ZRunNowBody, handler });

async function get(handle: typeof runs, url: string) {
  const response = await handle(new Request(`http://junction.test${url}`), context);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function post(handle: typeof runs, url: string, body: unknown) {
  const request = new Request(`http://junction.test${url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const response = await handle(request, context);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('route(): query parameters', () => {
  it('answers the filter it was asked for', async () => {
    const answer = await get(runs, '/api/runs?status=failed&limit=20');
    expect(answer.status).toBe(200);
    expect(answer.body.input).toMatchObject({ status: 'failed', limit: 20 });
  });

  it('refuses a filter it would have dropped, naming it and what to send instead, without running the handler', async () => {
    // Before: 200 with every run (the status filter ignored).
    expect(await get(runs, '/api/runs?limit=200&status[]=failed')).toEqual({
      status: 400,
      body: {
        error: "Query parameter 'status[]' is not a parameter of this route: send status=failed once, without brackets.",
        fieldErrors: { 'status[]': 'is not a parameter of this route: send status=failed once, without brackets' },
      },
    });
    expect((await get(runs, '/api/runs?statuss=failed')).body.fieldErrors).toEqual({
      statuss: 'is not a parameter of this route: use integration, status, trigger, dryRun, retried, bulk, from, to, after, limit',
    });
    expect((await get(runs, '/api/runs?Status=failed')).status).toBe(400);
    expect(await get(integrations, '/api/integrations?q=crm')).toEqual({
      status: 400,
      body: {
        error: "Query parameter 'q' is not a parameter of this route: use search.",
        fieldErrors: { q: 'is not a parameter of this route: use search' },
      },
    });
    expect((await get(me, '/api/me?verbose=1')).body.fieldErrors).toEqual({
      verbose: 'is not a parameter of this route: this route takes no query parameters',
    });
    expect(handler).not.toHaveBeenCalled();
  });

  it('refuses a query parameter on a mutation, whose input is its JSON body', async () => {
    // Before: POST …/runs?dryRun=true with an empty body started a real run.
    const answer = await post(runNow, '/api/integrations/crm-sync/runs?dryRun=true', {});
    expect(answer).toEqual({
      status: 400,
      body: {
        error: "Query parameter 'dryRun' is not a parameter of this route: send dryRun in the JSON body.",
        fieldErrors: { dryRun: 'is not a parameter of this route: send dryRun in the JSON body' },
      },
    });
    expect(handler).not.toHaveBeenCalled();
  });

  it('refuses an empty integration like any other empty value, not as "every integration"', async () => {
    // Before: integration= answered every run, while status= was a 400.
    expect(await get(runs, '/api/runs?integration=&status=failed')).toEqual({
      status: 400,
      body: {
        error: 'Some fields need attention.',
        fieldErrors: { integration: 'is empty: name an integration, or leave integration out for every one' },
      },
    });
    expect((await get(runs, '/api/runs?status=')).status).toBe(400);
    expect(handler).not.toHaveBeenCalled();
  });

  it('still refuses a repeated parameter', async () => {
    expect(await get(runs, '/api/runs?status=failed&status=succeeded')).toEqual({
      status: 400,
      body: { error: "Query parameter 'status' is given 2 times: give it once.", fieldErrors: { status: 'must be given once' } },
    });
  });
});

describe('route(): body fields', () => {
  it('names a body field the route does not take as its own field, with the ones it takes', async () => {
    // Before: fieldErrors { _: 'Unrecognized key: "force"' }.
    expect(await post(runNow, '/api/integrations/crm-sync/runs', { dryRun: true, force: true })).toEqual({
      status: 400,
      body: { error: 'Some fields need attention.', fieldErrors: { force: 'is not a field of this request: use dryRun, reason' } },
    });
    expect((await post(runNow, '/api/integrations/crm-sync/runs', { reason: 'r'.repeat(501) })).body.fieldErrors).toEqual({
      reason: 'must be at most 500 characters',
    });
    expect(handler).not.toHaveBeenCalled();
  });
});
