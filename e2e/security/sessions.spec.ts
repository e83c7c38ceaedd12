import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('sign-out ends the session: a copy of the old cookie is refused afterwards', async ({ page, browser, baseURL }) => {
  await signIn(page, 'vera');
  const stolen = await page.context().storageState();
  const session = stolen.cookies.find((c) => c.name.includes('session-token'));
  expect(session, 'an Auth.js session cookie').toBeTruthy();
  expect(session!.httpOnly).toBe(true);
  expect(session!.sameSite).toBe('Lax');
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/signin/);
  const replay = await browser.newContext({ storageState: stolen, baseURL });
  const res = await replay.request.get('/api/me');
  expect(res.status()).toBe(401);
  await replay.close();
});

test('sign-out also ends the identity provider session: the next sign-in shows its login form, so another person can sign in', async ({
  page,
}) => {
  test.setTimeout(120_000);
  await signIn(page, 'vera');
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/signin/);
  // Without RP-initiated logout the provider's session would sign vera straight back in here.
  await page.getByRole('button', { name: 'Continue with SSO' }).click();
  await expect(page.getByRole('heading', { name: 'Junction local SSO' })).toBeVisible();
  await page.getByLabel('Username').fill('oscar');
  await page.getByLabel('Password').fill('junction');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('current-user')).toContainText('Oscar Operator');
});

test('sign-out ends only this browser\'s session; "Sign out everywhere" ends every session of the user', async ({ browser, baseURL }) => {
  test.setTimeout(180_000);
  const here = await browser.newContext({ baseURL });
  const there = await browser.newContext({ baseURL });
  try {
    const page = await here.newPage();
    await signIn(page, 'vera');
    await signIn(await there.newPage(), 'vera');
    await page.waitForLoadState('networkidle');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await expect(page).toHaveURL(/\/signin/);
    expect((await here.request.get('/api/me')).status()).toBe(401);
    expect((await there.request.get('/api/me')).status(), 'the other browser stays signed in').toBe(200);

    await signIn(page, 'vera');
    await page.waitForLoadState('networkidle');
    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await expect(page).toHaveURL(/\/signin/);
    expect((await here.request.get('/api/me')).status()).toBe(401);
    expect((await there.request.get('/api/me')).status(), 'every other session ended too').toBe(401);
  } finally {
    await here.close();
    await there.close();
  }
});

test('a disabled user is refused on their next request', async ({ page }) => {
  await signIn(page, 'vera');
  expect((await page.request.get('/api/me')).status()).toBe(200);
  await db()`update users set disabled = true where email = 'vera.viewer@junction.local'`;
  try {
    expect((await page.request.get('/api/me')).status()).toBe(401);
    await page.goto('/runs');
    await expect(page).toHaveURL(/\/signin/);
  } finally {
    await db()`update users set disabled = false where email = 'vera.viewer@junction.local'`;
  }
});

test('pages carry security headers that forbid framing and limit what loads', async ({ request }) => {
  const res = await request.get('/signin');
  const headers = res.headers();
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(headers['content-security-policy']).toContain("default-src 'self'");
  expect(headers['x-frame-options']).toBe('DENY');
  expect(headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['x-powered-by']).toBeUndefined();
});

test('a cross-origin POST to the API is refused even with a valid session', async ({ page }) => {
  await signIn(page, 'oscar');
  const res = await page.request.post('/api/integrations/crm-sync/runs', {
    data: { dryRun: true },
    headers: { Origin: 'https://evil.example' },
  });
  expect(res.status()).toBe(403);
  expect((await res.json()).error).toContain('Cross-site request refused');
});

test('a user disabled from the Users page stays signed out when enabled again', async ({ browser, baseURL }) => {
  test.setTimeout(180_000);
  const admin = await browser.newContext({ baseURL });
  const viewer = await browser.newContext({ baseURL });
  try {
    await signIn(await viewer.newPage(), 'vera');
    expect((await viewer.request.get('/api/me')).status()).toBe(200);
    const page = await admin.newPage();
    await signIn(page, 'ada', '/users');
    const row = page.getByRole('row').filter({ hasText: 'vera.viewer@junction.local' });
    await row.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
    await expect(page.getByText('Vera Viewer is disabled and signed out on their next request')).toBeVisible();
    await row.getByRole('button', { name: 'Enable' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Enable' }).click();
    await expect(page.getByText('Vera Viewer can sign in again')).toBeVisible();
    // "Signed out" held: the session that was open when she was disabled does not come back.
    expect((await viewer.request.get('/api/me')).status()).toBe(401);
    // Enabled means she can sign in again (the identity provider still knows her: no form).
    const fresh = await viewer.newPage();
    await fresh.goto('/signin');
    await fresh.getByRole('button', { name: 'Continue with SSO' }).click();
    await expect(fresh.getByTestId('current-user')).toContainText('Vera Viewer');
    expect((await viewer.request.get('/api/me')).status()).toBe(200);
  } finally {
    await db()`update users set disabled = false where email = 'vera.viewer@junction.local'`;
    await admin.close();
    await viewer.close();
  }
});
