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
