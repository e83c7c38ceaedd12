import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { integrations, runs } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';

/**
 * The API's integration filters against a real database: a name that is no integration is a 400
 * naming it and the name it probably meant, never a 200 with an empty list (GET /api/runs, and the
 * Alerts view of GET /api/changes). The session is stood in for (a signed-in viewer).
 */

vi.mock('server-only', () => ({}));
vi.mock('../auth/guards', () => ({
  authorize: async () => ({ ok: true, user: { id: 'u1', name: 'Vera', email: 'vera@example.com', role: 'viewer' } }),
}));
vi.mock('../auth/api-tokens', () => ({ authenticateApiToken: vi.fn(), tokenRoleRefusal: vi.fn() }));
const database = vi.hoisted(() => ({ db: undefined as unknown }));
vi.mock('./db', () => ({ getDb: () => database.db }));

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  database.db = t.db;
  await t.db.insert(integrations).values([
    { name: 'crm-sync', breakerKey: 'crm' },
    { name: 'retired', breakerKey: 'retired', registered: false },
  ]);
  await t.db.insert(runs).values([
    { integration: 'crm-sync', trigger: 'manual', status: 'failed', triggeredBy: 'ada', correlationId: 'c1', maxAttempts: 3 },
    { integration: 'retired', trigger: 'manual', status: 'failed', triggeredBy: 'ada', correlationId: 'c2', maxAttempts: 3 },
  ]);
});
afterAll(() => t.drop());

const context = { params: Promise.resolve({}) };

async function get(url: string) {
  const { GET } = url.startsWith('/api/changes') ? await import('../../app/api/changes/route') : await import('../../app/api/runs/route');
  const response = await GET(new Request(`http://junction.test${url}`), context);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('GET /api/runs?integration=', () => {
  it('refuses an integration that does not exist, naming it and the name it probably meant', async () => {
    // Before: 200 { items: [] }, read as "no failed runs".
    expect(await get('/api/runs?integration=crm_sync&status=failed')).toEqual({
      status: 400,
      body: {
        error: "No integration is named 'crm_sync': did you mean 'crm-sync'?",
        fieldErrors: { integration: "no integration is named 'crm_sync'; did you mean 'crm-sync'?" },
      },
    });
  });

  it('refuses an empty integration as status= is refused, not as every integration', async () => {
    // Before: integration= answered every run.
    const empty = await get('/api/runs?integration=');
    expect(empty.status).toBe(400);
    expect(empty.body.fieldErrors).toEqual({ integration: 'is empty: name an integration, or leave integration out for every one' });
    expect((await get('/api/runs?status=')).status).toBe(400);
  });

  it('lists the runs of an integration removed from the code by its name', async () => {
    const answer = await get('/api/runs?integration=retired');
    expect(answer.status).toBe(200);
    expect((answer.body.items as { integration: string }[]).map((r) => r.integration)).toEqual(['retired']);
  });
});

describe('GET /api/changes?view=alerts&integration=', () => {
  it('refuses an integration that does not exist and answers one that does', async () => {
    const typo = await get('/api/changes?view=alerts&integration=crm_sync');
    expect(typo.status).toBe(400);
    expect(typo.body.fieldErrors).toEqual({ integration: "no integration is named 'crm_sync'; did you mean 'crm-sync'?" });
    expect((await get('/api/changes?view=alerts&integration=crm-sync')).status).toBe(200);
    // view=integration names its subject, as a path would: unknown is still a 404.
    expect((await get('/api/changes?view=integration&integration=crm_sync')).status).toBe(404);
  });
});
