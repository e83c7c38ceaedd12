import { db, e2eState } from '../db';
import { expect, signIn, test } from '../fixtures';

test('operator dry-runs the accounting export and reads the plan; nothing is booked', async ({ page, request }) => {
  const sandbox = e2eState().sandboxUrl;
  const before = await (await request.get(`${sandbox}/_admin/accounting/bookings`)).json();
  // Something to export whatever ran before: the nightly schedule (02:00 UTC) fires when the suite
  // runs across it and exports every seeded invoice, leaving a dry-run nothing to plan.
  await db()`update invoices set updated_at = now() where id in (select id from invoices where status = 'posted' order by number limit 3)`;
  const cursorBefore = await db()<{ value: unknown }[]>`select value from cursors where integration = 'accounting-export'`;
  await signIn(page, 'oscar', '/integrations/accounting-export');
  await page.screenshot({ path: 'test-results/screenshots/integration-detail.png', fullPage: true });
  await page.getByRole('button', { name: 'Dry-run' }).click();
  await page.getByRole('button', { name: 'Start dry-run' }).click();
  await page.getByRole('link', { name: 'Read its plan' }).click();
  await expect(page).toHaveURL(/\/runs\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Succeeded', { timeout: 60_000 });
  await expect(page.getByTestId('plan-summary')).toContainText(
    /Would POST \d+ requests? to http:\/\/localhost:\d+\/accounting\/v1\/journal-entries/,
  );
  await page
    .getByText(/^POST http/)
    .first()
    .click();
  await expect(page.getByText('"reference": "INV-').first()).toBeVisible();
  const after = await (await request.get(`${sandbox}/_admin/accounting/bookings`)).json();
  expect(after).toEqual(before);
  // The dry-run moved no cursor.
  expect(await db()<{ value: unknown }[]>`select value from cursors where integration = 'accounting-export'`).toEqual(cursorBefore);
  await page.screenshot({ path: 'test-results/screenshots/dry-run-plan.png', fullPage: true });
});
