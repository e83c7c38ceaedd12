import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';

/** The JSON API gets the console's guarantees (issue 16, item 3). */

test('two simultaneous POST /api/integrations/:name/runs start one run', async ({ page, baseURL }) => {
  await signIn(page, 'oscar');
  const request = page.context().request;
  const before = await db()<{ n: number }[]>`select count(*)::int as n from runs where integration = 'crm-sync' and trigger = 'api'`;
  const answers = await Promise.all(
    [0, 1].map(() => request.post('/api/integrations/crm-sync/runs', { data: { dryRun: true }, headers: { Origin: baseURL! } })),
  );
  const bodies = (await Promise.all(answers.map((a) => a.json()))) as { runId: string; deduplicated: boolean }[];
  expect(answers.map((a) => a.status())).toEqual([200, 200]);
  expect(new Set(bodies.map((b) => b.runId)).size).toBe(1);
  expect(bodies.filter((b) => b.deduplicated)).toHaveLength(1);
  const after = await db()<{ n: number }[]>`select count(*)::int as n from runs where integration = 'crm-sync' and trigger = 'api'`;
  expect(after[0].n - before[0].n).toBe(1);
});

test('Idempotency-Key: the same key and body get the stored answer, concurrent repeats included; another body gets 422', async ({
  page,
  baseURL,
}) => {
  await signIn(page, 'oscar');
  const request = page.context().request;
  const [failed] = await seedFailedRuns('crm-sync', 1);
  const key = `retry-${failed}`;
  const retry = (body: unknown) =>
    request.post(`/api/runs/${failed}/retry`, { data: body, headers: { Origin: baseURL!, 'Idempotency-Key': key } });

  // Four at once: without the key three would be told the run was already retried.
  const answers = await Promise.all([0, 1, 2, 3].map(() => retry({ reason: 'after the outage' })));
  expect(answers.map((a) => a.status())).toEqual([200, 200, 200, 200]);
  const bodies = (await Promise.all(answers.map((a) => a.json()))) as { runId: string }[];
  expect(new Set(bodies.map((b) => b.runId)).size).toBe(1);
  expect(answers.filter((a) => a.headers()['idempotent-replayed'] === 'true')).toHaveLength(3);
  const retries = await db()<{ id: string }[]>`select id from runs where retry_of = ${failed}`;
  expect(retries.map((r) => r.id)).toEqual([bodies[0].runId]);

  // Later, the same request again: the same answer.
  const later = await retry({ reason: 'after the outage' });
  expect(later.status()).toBe(200);
  expect(await later.json()).toEqual(bodies[0]);

  // The same key with another body: refused, nothing done.
  const other = await retry({ reason: 'something else' });
  expect(other.status()).toBe(422);
  expect(((await other.json()) as { error: string }).error).toMatch(/already used on this route with a different request body/);

  // One stored answer for the key; a malformed key is refused before anything runs.
  const [{ n }] = await db()<{ n: number }[]>`select count(*)::int as n from idempotency_keys where key = ${key}`;
  expect(n).toBe(1);
  const bad = await request.post(`/api/runs/${failed}/retry`, { data: {}, headers: { Origin: baseURL!, 'Idempotency-Key': 'has space' } });
  expect(bad.status()).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toMatch(/^Idempotency-Key /);
});
