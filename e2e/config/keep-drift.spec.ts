import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

/** Asks the worker for the full audit check and waits until one that started after the request has run. */
async function checkNow() {
  const [{ at }] = await db()<{ at: Date }[]>`
    update audit_chain_state set check_requested_at = clock_timestamp(), check_requested_by = 'e2e' where id = 1 returning check_requested_at as at`;
  await expect
    .poll(
      async () => (await db()<{ done: boolean }[]>`select full_checked_at >= ${at} as done from audit_chain_state where id = 1`)[0].done,
      {
        timeout: 30_000,
      },
    )
    .toBe(true);
}

test('an admin keeps a value written in the database in one step, and the drift notice clears', async ({ page }) => {
  test.setTimeout(180_000);
  const [{ failures }] = await db()<
    { failures: number }[]
  >`select breaker_failures as failures from integrations where name = 'payment-events'`;
  const hotfix = failures === 42 ? 43 : 42;
  // An emergency fix made in SQL, found by the full check.
  await db()`update integrations set breaker_failures = ${hotfix} where name = 'payment-events'`;
  try {
    await checkNow();
    await signIn(page, 'ada', '/integrations/payment-events');
    const notice = page.getByTestId('integration-drift');
    await expect(notice).toContainText(`breakerFailures is ${hotfix}`);
    // A click before the page has hydrated opens nothing: click again until the dialog is there.
    await expect(async () => {
      await notice.getByRole('button', { name: 'Keep the stored values' }).click({ timeout: 2_000 });
      await expect(page.getByRole('dialog')).toBeVisible({ timeout: 2_000 });
    }).toPass();
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText(`breakerFailures: ${hotfix} (the trail says ${failures})`);
    await dialog.getByRole('button', { name: 'Keep these values' }).click();
    await expect(page.getByText('Kept as your change in the audit trail')).toBeVisible();
    // The check the keep requested runs on the worker; the page, left open, loses the notice.
    await expect(notice).toHaveCount(0, { timeout: 30_000 });
    const [row] = await db()<{ changed_by: string; old_value: number; new_value: number }[]>`
      select changed_by, old_value, new_value from audit_log
       where integration = 'payment-events' and field_name = 'breakerFailures' order by id desc limit 1`;
    expect(row).toEqual({ changed_by: 'ada.admin@junction.local', old_value: failures, new_value: hotfix });
    await page.goto('/integrations/payment-events/history');
    await expect(page.getByTestId('history-row').first()).toContainText('Kept the value of breakerFailures written outside the console');
  } finally {
    // Back to what it was, through the same path, so the trail and the table agree for the specs after this one.
    const [{ now }] = await db()<{ now: number }[]>`select breaker_failures as now from integrations where name = 'payment-events'`;
    if (now !== failures) {
      await db()`update integrations set breaker_failures = ${failures} where name = 'payment-events'`;
      const [{ kept }] = await db()<{ kept: boolean }[]>`
        select exists (select 1 from audit_log where integration = 'payment-events' and field_name = 'breakerFailures' and new_value = ${hotfix}::text::jsonb) as kept`;
      if (kept) {
        await page.goto('/integrations/payment-events');
        await checkNow();
        await page.reload();
        await page.getByTestId('integration-drift').getByRole('button', { name: 'Keep the stored values' }).click();
        await page.getByRole('dialog').getByRole('button', { name: 'Keep these values' }).click();
        await expect(page.getByText('Kept as your change in the audit trail')).toBeVisible();
      }
      await checkNow();
    }
  }
});
