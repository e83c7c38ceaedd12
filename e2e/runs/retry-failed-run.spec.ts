import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';
import { RunsPage } from '../pages/runs-page';

test('operator retries a failed run from the Runs table through the confirmation dialog, with a reason, and sees the new run succeed', async ({ page }) => {
  const [failed] = await seedFailedRuns('crm-sync', 1);
  page.on('dialog', (d) => {
    throw new Error(`a native ${d.type()} dialog opened: ${d.message()}`);
  });
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  await expect(runs.row(failed).getByRole('cell', { name: 'schedule', exact: true })).toBeVisible();
  await runs.row(failed).getByRole('button', { name: 'Retry' }).click();
  const dialog = page.getByRole('dialog', { name: `Retry run ${failed.slice(0, 8)}?` });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Reason (optional, kept with the run and in the audit trail)').fill('CRM is back');
  await dialog.getByRole('button', { name: 'Retry run' }).click();
  const toast = page.locator('[data-sonner-toast]').filter({ hasText: 'Retry started' });
  await expect(toast).toBeVisible();
  const [retry] = await db()<{ id: string; trigger: string; triggered_by: string; reason: string }[]>`select id, trigger, triggered_by, reason from runs where retry_of = ${failed}`;
  expect(retry).toMatchObject({ trigger: 'retry', triggered_by: 'oscar.operator@junction.local', reason: 'CRM is back' });
  // The toast names the new run by its short id, linked, and leaves the Sign out button uncovered.
  await expect(toast.getByRole('link', { name: retry.id.slice(0, 8), exact: true })).toHaveAttribute('href', `/runs/${retry.id}`);
  await expect(toast).not.toContainText(retry.id);
  const signOut = (await page.getByRole('button', { name: 'Sign out' }).boundingBox())!;
  const toastBox = (await toast.boundingBox())!;
  const overlaps = toastBox.x < signOut.x + signOut.width && signOut.x < toastBox.x + toastBox.width && toastBox.y < signOut.y + signOut.height && signOut.y < toastBox.y + toastBox.height;
  expect(overlaps).toBe(false);
  await toast.getByRole('link', { name: 'Open the new run' }).click();
  await expect(page).toHaveURL(/\/runs\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { name: /^Run / })).toBeVisible();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Succeeded', { timeout: 45_000 });
  await expect(page.getByRole('link', { name: `run ${failed.slice(0, 8)}` })).toBeVisible();
  await page.screenshot({ path: 'test-results/screenshots/run-detail.png', fullPage: true });
});

test('an old failed run warns in the same dialog, never a browser confirm; a refused retry names runs by short linked ids', async ({ page }) => {
  const [old] = await seedFailedRuns('crm-sync', 1);
  await db()`update runs set created_at = now() - interval '10 days' where id = ${old}`;
  page.on('dialog', (d) => {
    throw new Error(`a native ${d.type()} dialog opened: ${d.message()}`);
  });
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  await runs.row(old).getByRole('button', { name: 'Retry' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText('This run is 10 days old');
  // Someone else retried it meanwhile: the refusal says so with short ids that link to both runs.
  const other = randomUUID();
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, retry_of, created_at)
    values (${other}, 'crm-sync', 'retry', 'succeeded', 'grace.admin@junction.local', ${randomUUID()}, ${old}, now())`;
  await dialog.getByRole('button', { name: 'Retry the old run' }).click();
  const toast = page.locator('[data-sonner-toast]').filter({ hasText: 'already retried' });
  await expect(toast).toBeVisible();
  await expect(toast).not.toContainText(old);
  await expect(toast).not.toContainText(other);
  await expect(toast.getByRole('link', { name: other.slice(0, 8), exact: true })).toHaveAttribute('href', `/runs/${other}`);
  await expect(toast.getByRole('link', { name: old.slice(0, 8), exact: true })).toHaveAttribute('href', `/runs/${old}`);
});
