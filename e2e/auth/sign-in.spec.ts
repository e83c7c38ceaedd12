import { expect, signIn, test } from '../fixtures';
import { SignInPage } from '../pages/sign-in-page';

test('operator signs in through the identity provider and lands on the console', async ({ page }) => {
  await signIn(page, 'oscar');
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(page.getByTestId('current-user')).toContainText('Oscar Operator');
  await expect(page.getByTestId('current-user')).toContainText('operator');
});

test('a wrong password is refused by the identity provider with a clear message', async ({ page }) => {
  const signInPage = new SignInPage(page);
  await signInPage.goto();
  await signInPage.signInAs('vera', 'wrong');
  await expect(page.getByRole('alert')).toHaveText('Unknown user or wrong password.');
});

test('an anonymous visit to a console page ends on sign-in', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/signin/);
  await expect(page.getByRole('button', { name: 'Continue with SSO' })).toBeVisible();
});

test('signing out returns to sign-in and the console is closed again', async ({ page }) => {
  await signIn(page, 'vera');
  // The sign-out form posts a server action: wait until the page is hydrated and idle first.
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/signin/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/signin/);
});

test('API calls without a session are refused with 401, not an error page', async ({ request }) => {
  const res = await request.get('/api/me');
  expect(res.status()).toBe(401);
  expect(await res.json()).toEqual({ error: expect.stringContaining('Not signed in') });
});

test('a mutating endpoint called without a session is refused with 401 and starts nothing', async ({ request }) => {
  const res = await request.post('/api/integrations/accounting-export/runs', { data: { dryRun: false } });
  expect(res.status()).toBe(401);
  const runs = await request.get('/api/runs');
  expect(runs.status()).toBe(401);
});

test('a signed-in visit to sign-in returns to a path of this site, never to another host or a 500', async ({ page }) => {
  await signIn(page, 'oscar');
  const location = async (callbackUrl: string) => {
    const res = await page.request.get(`/signin?callbackUrl=${callbackUrl}`, { maxRedirects: 0 });
    expect(res.status(), callbackUrl).toBe(307);
    return res.headers()['location'];
  };
  // Browsers drop the tab: '/<TAB>/evil.example' would become '//evil.example', another host.
  for (const hostile of [
    '/%09/evil.example/phish',
    '/%0a/x',
    '/%0d/x',
    '/%0d%0aSet-Cookie:%20a=b',
    '/%5Cevil.example',
    '/%5C%5Cevil.example',
    '//evil.example',
    '/.//evil.example',
    'https://evil.example/',
    'javascript:alert(1)',
  ]) {
    expect(await location(hostile), hostile).toBe('/');
  }
  expect(await location('/%E3%80%82x'), 'non-ASCII text is percent-encoded, not a 500').toBe('/%E3%80%82x');
  expect(await location('/%252F%252Fevil.example'), 'an encoded slash stays a path').toBe('/%2F%2Fevil.example');
  expect(await location(encodeURIComponent('/runs?status=failed'))).toBe('/runs?status=failed');
});

test('signing in from a page behind the proxy returns to that page', async ({ page }) => {
  await signIn(page, 'vera', '/runs?status=failed');
  await expect(page).toHaveURL(/\/runs\?status=failed$/);
});
