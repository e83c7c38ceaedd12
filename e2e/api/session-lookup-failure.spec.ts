import { db } from '../db';
import { expect, signIn, test } from '../fixtures';
import { callServerAction, serverActions } from '../server-actions';

/**
 * Every request reads the signed-in user from the database (role, disabled, ended sessions). When
 * that read fails (the database refusing connections, or here a table it needs gone), the answer
 * is the JSON 500 with a reference to quote, not a 401 telling a signed-in user to sign in again;
 * and the session is still good once the database answers.
 */

const NO_RUN = '00000000-0000-4000-8000-000000000000';

test('a session the database cannot check is a 500 with a reference, not "not signed in", and survives', async ({ page, baseURL }) => {
  await signIn(page, 'oscar');
  const request = page.context().request;
  const retry = serverActions({ name: 'crm-sync', id: NO_RUN }).find((a) => a.name === 'retryRunAction')!;
  await db()`alter table ended_sessions rename to ended_sessions_away`;
  try {
    const me = await request.get('/api/me');
    expect(me.status()).toBe(500);
    expect(((await me.json()) as { error: string }).error).toMatch(/^Something went wrong \(ref [0-9a-f-]{36}\)\.$/);
    const post = await request.post(`/api/runs/${NO_RUN}/retry`, { data: {}, headers: { Origin: baseURL! } });
    expect(post.status()).toBe(500);
    expect(((await post.json()) as { error: string }).error).toMatch(/^Something went wrong \(ref /);
    const call = await callServerAction(request, baseURL!, retry, [{ runId: NO_RUN }]);
    expect(call.result).toMatchObject({ ok: false, status: 500, error: expect.stringMatching(/^Something went wrong \(ref .*Try again/) });
  } finally {
    await db()`alter table ended_sessions_away rename to ended_sessions`;
  }
  // Still signed in: nothing cleared the session.
  const me = await request.get('/api/me');
  expect(me.status()).toBe(200);
  expect(((await me.json()) as { user: { role: string } }).user.role).toBe('operator');
});
