import { request as playwrightRequest } from '@playwright/test';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

/** API tokens for scripts (issue 19): created in the console, used with curl-like requests, revoked at once. */

test('an admin creates a token, a script uses it on the JSON API only, and revocation is immediate and audited', async ({
  page,
  baseURL,
}) => {
  await signIn(page, 'ada', '/users/tokens');
  await expect(page.getByRole('heading', { name: 'API tokens' })).toBeVisible();

  // Bad input is refused with the field named, nothing created.
  await page.getByLabel('Name').fill('bad name!');
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByText(/may contain letters, digits/)).toBeVisible();

  await page.getByLabel('Name').fill('e2e-script');
  await page.getByLabel('Role', { exact: true }).selectOption('operator');
  await page.getByLabel('Expires in').selectOption('7');
  await page.getByRole('button', { name: 'Create token' }).click();
  const value = (await page.getByTestId('new-token-value').textContent())!.trim();
  expect(value).toMatch(/^jct_/);
  // Focus is taken to what to do next, the value's Copy button; after Done, back to the form.
  const shown = page.getByRole('status').filter({ has: page.getByTestId('new-token-value') });
  await expect(shown.getByRole('button', { name: 'Copy' })).toBeFocused();
  const row = page.getByTestId('token-e2e-script');
  await expect(row).toContainText('operator');
  await expect(row).toContainText('never');
  const [stored] = await db()<{ token_hash: string }[]>`select token_hash from api_tokens where name = 'e2e-script' and revoked_at is null`;
  expect(stored.token_hash).not.toContain(value.slice(4));

  await shown.getByRole('button', { name: 'Done' }).click();
  await expect(page.getByTestId('new-token-value')).toHaveCount(0);
  await expect(page.getByLabel('Name')).toBeFocused();

  // A script: no cookies, only the bearer token.
  const script = await playwrightRequest.newContext({ baseURL, extraHTTPHeaders: { Authorization: `Bearer ${value}` } });
  const me = await script.get('/api/me');
  expect(me.status()).toBe(200);
  expect(((await me.json()) as { user: { name: string; role: string } }).user).toMatchObject({
    name: expect.stringMatching(/^token e2e-script \(created by .+\)$/),
    role: 'operator',
  });
  expect((await script.get('/api/integrations')).status()).toBe(200);

  // A mutation is audited under the token's name.
  const started = await script.post('/api/integrations/crm-sync/runs', { data: { dryRun: true } });
  expect(started.status()).toBe(200);
  const { runId } = (await started.json()) as { runId: string };
  const [run] = await db()<{ triggered_by: string }[]>`select triggered_by from runs where id = ${runId}`;
  expect(run.triggered_by).toMatch(/^token e2e-script \(created by .+\)$/);
  const audit = await db()<{ changed_by: string }[]>`select changed_by from audit_log where new_value->>'runId' = ${runId}`;
  expect(audit.map((a) => a.changed_by)).toEqual([expect.stringMatching(/^token e2e-script \(created by .+\)$/)]);

  // Pages are refused to a token: they only know sessions.
  const pageAnswer = await script.get('/runs', { maxRedirects: 0 });
  expect(pageAnswer.status()).toBe(307);
  expect(pageAnswer.headers().location).toContain('/signin');

  // Last use is shown.
  await page.reload();
  await expect(row).not.toContainText('never');

  // Revoke: the very next request is refused with a message that says why.
  await row.getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('button', { name: 'Revoke token' }).click();
  await expect(row).toContainText('revoked');
  // It no longer counts down to an expiry it will never reach.
  await expect(row.locator('[data-label="Expires"]')).toHaveText('— (revoked)');
  const after = await script.get('/api/me');
  expect(after.status()).toBe(401);
  expect(((await after.json()) as { error: string }).error).toMatch(/was revoked/);
  const trail = await db()<{ field_name: string }[]>`
    select field_name from audit_log where field_name in ('api_token_create', 'api_token_revoke') and new_value->>'name' = 'e2e-script' order by id`;
  expect(trail.map((r) => r.field_name)).toEqual(['api_token_create', 'api_token_revoke']);
  await script.dispose();
});

test('a viewer token cannot mutate, and bad or expired tokens get 401 with a clear message', async ({ page, baseURL }) => {
  await signIn(page, 'ada', '/users/tokens');
  await page.getByLabel('Name').fill('e2e-viewer');
  await page.getByRole('button', { name: 'Create token' }).click();
  const value = (await page.getByTestId('new-token-value').textContent())!.trim();
  const viewer = await playwrightRequest.newContext({ baseURL, extraHTTPHeaders: { Authorization: `Bearer ${value}` } });
  const before = await db()<{ n: number }[]>`select count(*)::int as n from runs`;
  const refused = await viewer.post('/api/integrations/crm-sync/runs', { data: { dryRun: true } });
  expect(refused.status()).toBe(403);
  expect(((await refused.json()) as { error: string }).error).toMatch(
    /needs the operator role; API token 'e2e-viewer' has the viewer role/,
  );
  expect((await db()<{ n: number }[]>`select count(*)::int as n from runs`)[0].n).toBe(before[0].n);

  await db()`update api_tokens set expires_at = now() - interval '1 minute' where name = 'e2e-viewer'`;
  const expired = await viewer.get('/api/runs');
  expect(expired.status()).toBe(401);
  expect(((await expired.json()) as { error: string }).error).toMatch(/expired on/);
  // RFC 6750: a refused bearer token is answered with the challenge, so clients know what failed.
  expect(expired.headers()['www-authenticate']).toMatch(/^Bearer realm="junction", error="invalid_token"/);
  await viewer.dispose();

  const anonymous = await playwrightRequest.newContext({ baseURL });
  for (const [header, message] of [
    ['Bearer jct_nope', /not a Junction API token/],
    [`Bearer jct_${'x'.repeat(43)}`, /not valid/],
    ['Basic YWRhOmp1bmN0aW9u', /must be 'Bearer <token>'/],
  ] as const) {
    const answer = await anonymous.get('/api/runs', { headers: { Authorization: header } });
    expect(answer.status(), header).toBe(401);
    expect(((await answer.json()) as { error: string }).error).toMatch(message);
    expect(answer.headers()['www-authenticate'], header).toMatch(/^Bearer realm="junction"/);
  }
  // No credentials at all: the challenge, and a message that names both ways in.
  const none = await anonymous.get('/api/runs');
  expect(none.status()).toBe(401);
  expect(none.headers()['www-authenticate']).toBe('Bearer realm="junction"');
  expect(((await none.json()) as { error: string }).error).toMatch(/Authorization: Bearer <API token>/);
  await anonymous.dispose();
});

test('the token page is for admins only', async ({ page }) => {
  await signIn(page, 'oscar');
  const response = await page.goto('/users/tokens');
  // Refused where the link pointed (403, the page says who grants the role), nothing of the tokens shown.
  expect(response?.status()).toBe(403);
  await expect(page).toHaveURL(/\/users\/tokens$/);
  await expect(page.getByRole('heading', { name: 'This page needs the admin role' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'API tokens' })).toHaveCount(0);
});
