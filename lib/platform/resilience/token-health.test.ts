import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { integrations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { json, startTestServer, type TestServer } from '../../../test/fixtures/http-server';
import { platformEvents, startTestBoss, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { startPlatformWorker, type PlatformWorker } from '../execution/worker';
import { buildRegistry } from '../registry';
import { runNow } from '../triggers/triggers';
import { clearOAuth2Providers } from './oauth2';
import { getCredentialsHealth } from './token-health';

let tokenMode: 'down' | 'refuse' | 'ok' | 'blip' = 'down';
let tokenServer: TestServer;
let api: TestServer;
let t: TestDatabase;
let boss: PgBoss;
let worker: PlatformWorker;

const erp = defineIntegration({
  name: 'erp',
  description: 'reads items with an OAuth2 token',
  settings: z.object({}),
  defaults: { retry: { delays: ['300ms'] }, breaker: { failures: 100, cooldown: '1s' } },
  oauth2: () => ({ tokenUrl: `${tokenServer.url}/token`, clientId: 'junction', clientSecret: 's3cret' }),
  async execute(ctx) {
    await ctx.http.getJson(`${api.url}/items`);
    return { processed: 1 };
  },
}) as IntegrationDefinition;

beforeAll(async () => {
  tokenServer = await startTestServer((_req, res) => {
    if (tokenMode === 'down')
      return json(res, 503, { error: 'temporarily_unavailable', error_description: 'identity provider maintenance' });
    if (tokenMode === 'refuse') return json(res, 401, { error: 'invalid_client', error_description: 'client secret expired' });
    // One 502, then tokens again.
    if (tokenMode === 'blip') {
      tokenMode = 'ok';
      return json(res, 502, { error: 'bad_gateway', error_description: 'identity provider restarting' });
    }
    json(res, 200, { access_token: 'token-1', token_type: 'Bearer', expires_in: 3600 });
  });
  api = await startTestServer((_req, res) => json(res, 200, []));
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  worker = await startPlatformWorker({
    db: t.db,
    boss,
    registry: buildRegistry([erp]),
    workerId: 'token-worker',
    options: TEST_WORKER_OPTIONS,
  });
});
afterAll(async () => {
  await worker.stop({ timeoutMs: 1_000 });
  await boss.stop({ graceful: false });
  await t.drop();
  await tokenServer.close();
  await api.close();
  clearOAuth2Providers();
});

async function finished(runId: string) {
  return waitFor(`run ${runId} to finish`, async () => {
    const [run] = await t.db.select().from(runs).where(eq(runs.id, runId));
    return run.finishedAt ? run : undefined;
  });
}
const run = async () => finished((await runNow(t.db, boss, { integration: 'erp', triggeredBy: 'ops', trigger: 'api' })).runId);
const events = async (type: string) => (await platformEvents(t.db, type)).filter((e) => e.integration === 'erp');

describe('token health', () => {
  it('token endpoint down: credentials failing with the provider error from the first failure, one event however many attempts and runs fail', async () => {
    const first = await run();
    expect(first).toMatchObject({ status: 'failed', attemptCount: 2 });
    const health = await getCredentialsHealth(t.db, { integration: 'erp' });
    expect(health).toMatchObject({ failing: true, error: expect.stringContaining('identity provider maintenance') });
    expect(health!.since!.getTime()).toBeLessThanOrEqual(first.finishedAt!.getTime());
    await run();
    expect(await events('credentials.failing')).toHaveLength(1);
    expect((await events('credentials.failing'))[0]).toMatchObject({ error: expect.stringContaining('503') });
    const [row] = await t.db.select().from(integrations).where(eq(integrations.name, 'erp'));
    expect(row.credentialsFailingSince).toEqual(health!.since);
  });

  it('a token obtained again clears it and emits one recovery; a refused client opens a new incident with its error', async () => {
    tokenMode = 'ok';
    expect(await run()).toMatchObject({ status: 'succeeded' });
    expect(await getCredentialsHealth(t.db, { integration: 'erp' })).toEqual({ failing: false, error: null, since: null });
    await run();
    expect(await events('credentials.recovered')).toHaveLength(1);

    tokenMode = 'refuse';
    clearOAuth2Providers();
    const refused = await run();
    expect(refused).toMatchObject({ status: 'failed', attemptCount: 1, errorClass: 'CredentialsError' });
    expect(await getCredentialsHealth(t.db, { integration: 'erp' })).toMatchObject({
      failing: true,
      error: expect.stringContaining('invalid_client'),
    });
    await run();
    expect(await events('credentials.failing')).toHaveLength(2);
  });

  it('a single transient failure of the token endpoint is retried with its request and opens no incident', async () => {
    tokenMode = 'ok';
    clearOAuth2Providers();
    expect(await run()).toMatchObject({ status: 'succeeded' });
    const recovered = (await events('credentials.recovered')).length;
    // Before: the 502 recorded "credentials failing" and its incident, and the token a moment
    // later its recovery; the request was not retried either, so the attempt failed.
    tokenMode = 'blip';
    clearOAuth2Providers();
    expect(await run()).toMatchObject({ status: 'succeeded', attemptCount: 1 });
    expect(tokenMode).toBe('ok');
    expect(await getCredentialsHealth(t.db, { integration: 'erp' })).toEqual({ failing: false, error: null, since: null });
    expect(await events('credentials.failing')).toHaveLength(2);
    expect(await events('credentials.recovered')).toHaveLength(recovered);
  });
});
