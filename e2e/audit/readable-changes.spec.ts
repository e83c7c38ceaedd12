import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';

test('a mapping change reads as one sentence per field in History and in Audit', async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page, 'ada', '/integrations/accounting-export/mapping');
  const description = page.getByLabel('Expression for description');
  const before = await description.inputValue();
  const after = '"Journal " & number';
  await description.fill(after);
  await expect(page.getByTestId('preview-record').first()).toContainText('Journal INV-');
  await page.getByRole('button', { name: 'Save mapping' }).click();
  await expect(page.getByText('Mapping saved; the next run uses it')).toBeVisible();

  const sentence = `field description: expression ${before} → ${after}`;
  await page.goto('/integrations/accounting-export/history?field=mapping');
  const row = page.getByTestId('history-row').first();
  await expect(row).toContainText(sentence);
  await expect(row).not.toContainText('"fields"');

  await page.goto('/audit?integration=accounting-export&kind=config');
  const auditRow = page.getByRole('row').filter({ hasText: 'mapping' }).first();
  await expect(auditRow).toContainText(sentence);
  await expect(auditRow).not.toContainText('"fields"');
});

test('Audit writes operator actions as sentences with links to the runs, not "action action" and raw JSON', async ({ page }) => {
  test.setTimeout(180_000);
  const [failed] = await seedFailedRuns('crm-sync', 1, 'audit words seed: CRM answered 503');
  await signIn(page, 'oscar', `/runs/${failed}`);
  // A click before the page has hydrated opens nothing: click again until the dialog is there.
  await expect(async () => {
    await page.getByRole('button', { name: 'Retry', exact: true }).click({ timeout: 2_000 });
    await expect(page.getByRole('button', { name: 'Retry run' })).toBeVisible({ timeout: 2_000 });
  }).toPass();
  await page.getByRole('button', { name: 'Retry run' }).click();
  await page.waitForURL((url) => /\/runs\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(failed));
  const [retry] = await db()<{ id: string }[]>`select id from runs where retry_of = ${failed}`;

  await page.goto('/audit?kind=action');
  const row = page.getByRole('row').filter({ hasText: `Retried run ${failed.slice(0, 8)} as run ${retry.id.slice(0, 8)}` });
  await expect(row).toBeVisible();
  await expect(row.getByRole('link', { name: `run ${failed.slice(0, 8)}` })).toHaveAttribute('href', `/runs/${failed}`);
  await expect(row.getByRole('link', { name: `run ${retry.id.slice(0, 8)}` })).toHaveAttribute('href', `/runs/${retry.id}`);
  await expect(row).toContainText('operator action');
  const table = page.getByRole('table');
  await expect(table).not.toContainText('action action');
  await expect(table).not.toContainText('{"');
});

test('an integration whose credentials fail says so in one sentence, linking to Credentials', async ({ page }) => {
  test.setTimeout(180_000);
  await db()`update integrations set credentials_error = 'token endpoint answered 401: invalid_client.', credentials_failing_since = now() - interval '5 minutes' where name = 'accounting-export'`;
  try {
    await signIn(page, 'oscar', '/integrations/accounting-export');
    const alert = page.getByRole('alert').filter({ hasText: 'Credentials failing' });
    await expect(alert).toContainText('invalid_client. Fix them under Credentials');
    await expect(alert).not.toContainText('..');
    await expect(alert.getByRole('link', { name: 'Credentials' })).toHaveAttribute('href', '/integrations/accounting-export/credentials');
  } finally {
    await db()`update integrations set credentials_error = null, credentials_failing_since = null where name = 'accounting-export'`;
  }
});

test('History puts its link column under its own header', async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page, 'ada', '/integrations/accounting-export/history');
  const header = page.getByRole('columnheader', { name: 'Configuration' });
  await expect(header).toBeVisible();
  await expect(page.getByRole('columnheader', { name: 'Version' })).toHaveCount(0);
  const link = page.getByRole('link', { name: 'View config as of this change' }).first();
  const h = (await header.boundingBox())!;
  const l = (await link.boundingBox())!;
  expect(l.x).toBeGreaterThanOrEqual(h.x - 1);
  expect(l.x + l.width).toBeLessThanOrEqual(h.x + h.width + 1);
});
