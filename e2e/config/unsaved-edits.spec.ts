import type { Page } from '@playwright/test';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';
import { PAYMENT_EVENTS } from '../webhooks';

/** The next browser prompt, which must be the "Leave site?" of beforeunload; dismissed (stay), and what it was. */
function nextUnloadPrompt(page: Page): Promise<string> {
  const prompt = new Promise<string>((resolve) => {
    page.once('dialog', (dialog) => {
      resolve(dialog.type());
      void dialog.dismiss();
    });
  });
  return Promise.race([prompt, new Promise<string>((resolve) => setTimeout(() => resolve('no prompt'), 5_000))]);
}

const leaveDialog = (page: Page) => page.getByRole('dialog', { name: 'Leave without saving?' });

test('the mapping editor asks before a tab switch, Back or a reload would lose unsaved edits, and not after a save', async ({ page }) => {
  test.setTimeout(120_000);
  const mapping = '/integrations/accounting-export/mapping';
  await signIn(page, 'ada', '/integrations/accounting-export');
  await page.getByRole('navigation', { name: 'Integration sections' }).getByRole('link', { name: 'Mapping' }).click();
  await expect(page).toHaveURL(mapping);
  const description = page.getByLabel('Expression for description');
  const saved = await description.inputValue();
  // Nothing edited: switching tabs asks nothing.
  await page.getByRole('link', { name: 'History' }).click();
  await expect(page).toHaveURL(/\/history$/);
  await page.getByRole('link', { name: 'Mapping' }).click();
  await expect(description).toHaveValue(saved);

  await description.fill('"Unsaved draft " & number');
  await expect(page.getByRole('button', { name: 'Discard changes', exact: true })).toBeEnabled();
  // Another tab of the integration: asked, and staying keeps the draft.
  await page.getByRole('link', { name: 'History' }).click();
  await expect(leaveDialog(page)).toContainText('You have unsaved changes to the mapping of accounting-export');
  await page.screenshot({ path: 'test-results/screenshots/unsaved-mapping.png' });
  await expect(leaveDialog(page).getByRole('button', { name: 'Stay on this page' })).toBeFocused();
  await leaveDialog(page).getByRole('button', { name: 'Stay on this page' }).click();
  await expect(leaveDialog(page)).toHaveCount(0);
  await expect(page).toHaveURL(mapping);
  await expect(description).toHaveValue('"Unsaved draft " & number');

  // The console's main navigation too.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs' }).click();
  await expect(leaveDialog(page)).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page).toHaveURL(mapping);

  // The browser's Back button: asked, and staying keeps the page and the draft.
  await page.goBack({ timeout: 3_000 }).catch(() => null);
  await expect(leaveDialog(page)).toBeVisible();
  await leaveDialog(page).getByRole('button', { name: 'Stay on this page' }).click();
  await expect(page).toHaveURL(mapping);
  await expect(description).toHaveValue('"Unsaved draft " & number');

  // A reload: the browser's own "Leave site?" prompt; dismissed, the draft stays.
  const prompt = nextUnloadPrompt(page);
  await page.reload({ timeout: 3_000 }).catch(() => null);
  expect(await prompt).toBe('beforeunload');
  await expect(description).toHaveValue('"Unsaved draft " & number');

  // Leaving on purpose discards the draft and goes where the link pointed.
  await page.getByRole('link', { name: 'History' }).click();
  await leaveDialog(page).getByRole('button', { name: 'Discard changes and leave' }).click();
  await expect(page).toHaveURL(/\/history$/);
  await page.getByRole('link', { name: 'Mapping' }).click();
  await expect(description).toHaveValue(saved);
  // ... and so does confirming Back: the page it leads to, without the draft.
  await description.fill('"Unsaved draft " & number');
  await page.goBack({ timeout: 3_000 }).catch(() => null);
  await leaveDialog(page).getByRole('button', { name: 'Discard changes and leave' }).click();
  await expect(page).toHaveURL(/\/history$/);
  await page.getByRole('link', { name: 'Mapping' }).click();
  await expect(description).toHaveValue(saved);
  const [row] = await db()<{ mapping: unknown }[]>`select mapping from integrations where name = 'accounting-export'`;
  expect(JSON.stringify(row.mapping ?? '')).not.toContain('Unsaved draft');

  // Saved edits are not unsaved: the tab switch right after a save asks nothing.
  await description.fill(`${saved} & ""`);
  await expect(page.getByRole('button', { name: 'Save mapping' })).toBeEnabled();
  await page.getByRole('button', { name: 'Save mapping' }).click();
  await expect(page.getByText('Mapping saved; the next run uses it')).toBeVisible();
  await page.getByRole('link', { name: 'History' }).click();
  await expect(page).toHaveURL(/\/history$/);
  await expect(leaveDialog(page)).toHaveCount(0);
  // Put the shared demo mapping back for the other specs.
  await page.getByRole('link', { name: 'Mapping' }).click();
  await description.fill(saved);
  await page.getByRole('button', { name: 'Save mapping' }).click();
  await expect
    .poll(async () => {
      const [{ mapping }] = await db()<{ mapping: { fields: { target: string; expression: string }[] } }[]>`
        select mapping from integrations where name = 'accounting-export'`;
      return mapping.fields.find((f) => f.target === 'description')?.expression;
    })
    .toBe(saved);
});

test('the configuration form asks the same way before unsaved settings or schedule edits are lost', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/crm-sync/config');
  const [before] = await db()<{ version: number }[]>`select version from integrations where name = 'crm-sync'`;
  await page.getByLabel('Breaker cooldown').fill('9m');
  await expect(page.getByText('1 unsaved change')).toBeVisible();
  await page.getByRole('link', { name: 'Credentials' }).click();
  await expect(leaveDialog(page)).toContainText('You have unsaved changes to the configuration of crm-sync');
  await leaveDialog(page).getByRole('button', { name: 'Stay on this page' }).click();
  await expect(page.getByLabel('Breaker cooldown')).toHaveValue('9m');

  const prompt = nextUnloadPrompt(page);
  await page.reload({ timeout: 3_000 }).catch(() => null);
  expect(await prompt).toBe('beforeunload');
  await expect(page.getByLabel('Breaker cooldown')).toHaveValue('9m');

  // Discard in the form: nothing unsaved, nothing asked.
  await page.getByRole('button', { name: 'Discard', exact: true }).click();
  await expect(page.getByText('No changes')).toBeVisible();
  await page.getByRole('link', { name: 'History' }).click();
  await expect(page).toHaveURL(/\/history$/);
  await expect(leaveDialog(page)).toHaveCount(0);
  const [after] = await db()<{ version: number }[]>`select version from integrations where name = 'crm-sync'`;
  expect(after.version).toBe(before.version);
});

test('a secret being typed is not lost to a reload without a prompt', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/crm-sync/credentials');
  await page.getByTestId('secret-apiKey').getByRole('button', { name: 'Replace' }).click();
  await page.getByLabel('New value').fill('half-typed');
  const prompt = nextUnloadPrompt(page);
  await page.reload({ timeout: 3_000 }).catch(() => null);
  expect(await prompt).toBe('beforeunload');
  await expect(page.getByLabel('New value')).toHaveValue('half-typed');
  await page.getByRole('button', { name: 'Cancel' }).click();
});

test('a generated signing secret, shown only once, is not lost to a reload or Back without a prompt', async ({ page }) => {
  await signIn(page, 'ada', `/integrations/${PAYMENT_EVENTS}`);
  await page.getByRole('navigation', { name: 'Integration sections' }).getByRole('link', { name: 'Events' }).click();
  await page.getByRole('button', { name: 'Add signing secret' }).click();
  const label = `unsaved-${Date.now().toString(36)}`;
  await page.getByLabel('Label').fill(label);
  const [{ others }] = await db()<{ others: number }[]>`
    select count(*)::int as others from webhook_secrets where integration = ${PAYMENT_EVENTS} and revoked_at is null`;
  await page.getByRole('button', { name: 'Add secret' }).click();
  const shown = page.getByTestId('generated-secret');
  await expect(shown).toHaveText(/^whsec_/);
  // What the toast says depends on whether another secret is still accepted.
  await expect(page.locator('[data-sonner-toast]').filter({ hasText: `Signing secret "${label}" added` })).toContainText(
    others === 0
      ? 'deliveries signed with it are accepted from now on'
      : `the other ${others === 1 ? 'active secret is' : `${others} active secrets are`} accepted too`,
  );
  const secret = await shown.textContent();
  const prompt = nextUnloadPrompt(page);
  await page.reload({ timeout: 3_000 }).catch(() => null);
  expect(await prompt).toBe('beforeunload');
  await expect(shown).toHaveText(secret!);
  await page.goBack({ timeout: 3_000 }).catch(() => null);
  const leave = page.getByRole('dialog', { name: 'Leave without copying the secret?' });
  await expect(leave).toContainText('The generated secret is shown only this once');
  await leave.getByRole('button', { name: 'Stay on this page' }).click();
  await expect(shown).toHaveText(secret!);
  // Until it is copied, closing says what it costs; Copy puts the value on the clipboard.
  const close = page.getByRole('dialog').getByRole('button', { name: 'Close without copying' });
  await expect(close).toBeVisible();
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.getByRole('dialog').getByRole('button', { name: 'Copy', exact: true }).click();
  await expect(page.getByRole('dialog').getByRole('button', { name: 'Copied' })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await page.getByRole('button', { name: 'Done' }).click();
  // Copied and closed: nothing left to lose, nothing asked.
  await page.goBack();
  await expect(page).toHaveURL(`/integrations/${PAYMENT_EVENTS}`);
});

test.describe('in a browser without the Navigation API', () => {
  // Firefox and Safari (at the time of writing) have no window.navigation: Back and Forward are
  // only seen through popstate, after the browser moved. Chromium with the API deleted stands in.
  test.beforeEach(async ({ page }) => {
    await page.addInitScript(() => {
      delete (Window.prototype as unknown as { navigation?: unknown }).navigation;
      delete (window as unknown as { navigation?: unknown }).navigation;
      if ('navigation' in window) Object.defineProperty(window, 'navigation', { value: undefined, configurable: true });
    });
  });

  test('the mapping editor still asks before Back or Forward loses unsaved edits, and leaving goes where the person pressed', async ({
    page,
  }) => {
    test.setTimeout(120_000);
    const mapping = '/integrations/accounting-export/mapping';
    await signIn(page, 'ada', '/integrations/accounting-export');
    expect(await page.evaluate(() => (window as unknown as { navigation?: unknown }).navigation)).toBeUndefined();
    const tabs = page.getByRole('navigation', { name: 'Integration sections' });
    await tabs.getByRole('link', { name: 'Mapping' }).click();
    await expect(page).toHaveURL(mapping);
    const description = page.getByLabel('Expression for description');
    const saved = await description.inputValue();
    // Mapping → History → Back to Mapping: History is now the Forward entry.
    await tabs.getByRole('link', { name: 'History' }).click();
    await expect(page).toHaveURL(/\/history$/);
    await page.goBack();
    await expect(page).toHaveURL(mapping);
    await expect(description).toHaveValue(saved);

    await description.fill('"Unsaved draft " & number');
    await expect(page.getByRole('button', { name: 'Discard changes', exact: true })).toBeEnabled();
    // Forward: asked; the address is this page's again while asking, and staying keeps the draft.
    await page.goForward({ timeout: 3_000 }).catch(() => null);
    await expect(leaveDialog(page)).toContainText('You have unsaved changes to the mapping of accounting-export');
    await expect(page).toHaveURL(mapping);
    await leaveDialog(page).getByRole('button', { name: 'Stay on this page' }).click();
    await expect(leaveDialog(page)).toHaveCount(0);
    await expect(page).toHaveURL(mapping);
    await expect(description).toHaveValue('"Unsaved draft " & number');

    // Back: asked the same way; staying keeps it all.
    await page.goBack({ timeout: 3_000 }).catch(() => null);
    await expect(leaveDialog(page)).toBeVisible();
    await expect(page).toHaveURL(mapping);
    await leaveDialog(page).getByRole('button', { name: 'Stay on this page' }).click();
    await expect(page).toHaveURL(mapping);
    await expect(description).toHaveValue('"Unsaved draft " & number');

    // Back again, and leave: the page before (History, where Forward had gone), without the draft.
    await page.goBack({ timeout: 3_000 }).catch(() => null);
    await leaveDialog(page).getByRole('button', { name: 'Discard changes and leave' }).click();
    await expect(page).toHaveURL(/\/history$/);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await expect(description).toHaveCount(0);
    await tabs.getByRole('link', { name: 'Mapping' }).click();
    await expect(description).toHaveValue(saved);
    const [row] = await db()<{ mapping: unknown }[]>`select mapping from integrations where name = 'accounting-export'`;
    expect(JSON.stringify(row.mapping ?? '')).not.toContain('Unsaved draft');
  });

  test('the configuration form asks before Back loses unsaved settings', async ({ page }) => {
    await signIn(page, 'ada', '/integrations/crm-sync');
    await page.getByRole('navigation', { name: 'Integration sections' }).getByRole('link', { name: 'Configuration' }).click();
    await expect(page).toHaveURL(/\/config$/);
    await page.getByLabel('Breaker cooldown').fill('9m');
    await expect(page.getByText('1 unsaved change')).toBeVisible();
    await page.goBack({ timeout: 3_000 }).catch(() => null);
    await expect(leaveDialog(page)).toContainText('You have unsaved changes to the configuration of crm-sync');
    await leaveDialog(page).getByRole('button', { name: 'Stay on this page' }).click();
    await expect(page).toHaveURL(/\/config$/);
    await expect(page.getByLabel('Breaker cooldown')).toHaveValue('9m');
    await page.goBack({ timeout: 3_000 }).catch(() => null);
    await leaveDialog(page).getByRole('button', { name: 'Discard changes and leave' }).click();
    await expect(page).toHaveURL(/\/integrations\/crm-sync$/);
    await expect(page.getByLabel('Breaker cooldown')).toHaveCount(0);
  });
});
