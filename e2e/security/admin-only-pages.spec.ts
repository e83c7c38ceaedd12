import { db } from '../db';
import { expect, signIn, test } from '../fixtures';
import { callServerAction, serverActions } from '../server-actions';

const ADMIN_ONLY = ['/integrations/crm-sync/credentials', '/users', '/users/tokens'];

// People appear as users at their first sign-in: Ada signs in once so there is an admin to name.
test.beforeAll(async ({ browser }) => {
  const context = await browser.newContext();
  await signIn(await context.newPage(), 'ada');
  await context.close();
});

for (const who of [
  { username: 'oscar', name: 'Oscar Operator', role: 'operator' },
  { username: 'vera', name: 'Vera Viewer', role: 'viewer' },
] as const) {
  test(`a deep link to an admin-only page tells the ${who.role} it needs the admin role and who grants it (403, no redirect)`, async ({
    page,
  }) => {
    await signIn(page, who.username);
    for (const path of ADMIN_ONLY) {
      const response = await page.goto(path);
      expect(response?.status(), path).toBe(403);
      await expect(page.getByRole('heading', { name: 'This page needs the admin role' })).toBeVisible();
      const message = page.getByTestId('needs-role');
      await expect(message).toContainText(`You are signed in as ${who.name}`);
      await expect(message).toContainText(`with the ${who.role} role`);
      await expect(message).toContainText('An admin grants roles on the Users page');
      await expect(message.getByRole('list', { name: 'Admins' })).toContainText('Ada Admin (ada.admin@junction.local)');
      // Still where the link pointed, also once the page has hydrated: no redirect of any kind.
      await expect(page.locator('html[data-hydrated]')).toHaveCount(1);
      await page.waitForTimeout(300);
      expect(new URL(page.url()).pathname, path).toBe(path);
    }
  });
}

test('an operator who posts the credentials page’s server action directly is still refused, and no secret changes', async ({
  page,
  baseURL,
}) => {
  const secrets = () =>
    db()<{ name: string; sealed: string; updated_at: Date }[]>`
      select name, sealed, updated_at from integration_secrets where integration = 'crm-sync' order by name`;
  const before = await secrets();
  const [{ version }] = await db()<{ version: number }[]>`select version from integrations where name = 'crm-sync'`;
  await signIn(page, 'oscar');
  const action = serverActions({ name: 'crm-sync', id: '00000000-0000-4000-8000-000000000000' }).find(
    (a) => a.name === 'replaceSecretAction',
  );
  expect(action).toBeDefined();
  const call = await callServerAction(page.request, baseURL!, action!, [
    { integration: 'crm-sync', expectedVersion: version, name: 'apiKey', value: 'operator-was-here' },
  ]);
  expect(call.result).toMatchObject({ ok: false, status: 403, error: expect.stringContaining('needs the admin role') as unknown });
  expect(await secrets()).toEqual(before);
  const [{ version: after }] = await db()<{ version: number }[]>`select version from integrations where name = 'crm-sync'`;
  expect(after).toBe(version);
});

test('an admin opens the same pages as before', async ({ page }) => {
  await signIn(page, 'ada');
  for (const path of ADMIN_ONLY) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBe(200);
    await expect(page.getByTestId('needs-role')).toHaveCount(0);
  }
  await expect(page.getByRole('heading', { name: 'API tokens' })).toBeVisible();
});
