import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

/**
 * The full audit check runs hourly by default: an admin who has just put drifted configuration
 * back runs it now from the Audit page, sees it pending, and sees its result without reloading.
 */
test('an admin runs the full audit check now and sees its result on the Audit page', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page, 'ada', '/audit');
  const before = await lastCheck();
  // A click before the page has hydrated does nothing: click again until the request is recorded.
  await expect(async () => {
    await page.getByRole('button', { name: 'Check now' }).click({ timeout: 2_000 });
    await expect(page.getByText('Full check requested: its result shows here within a few seconds')).toBeVisible({ timeout: 2_000 });
  }).toPass();
  const [{ requested }] = await db()<{ requested: Date }[]>`select check_requested_at as requested from audit_chain_state where id = 1`;
  expect(requested.getTime()).toBeGreaterThan(before ?? 0);

  // The worker runs it within seconds, and the page (left open) shows the new result.
  await expect.poll(async () => ((await lastCheck()) ?? 0) > requested.getTime(), { timeout: 30_000 }).toBe(true);
  await expect(page.getByTestId('check-requested')).toHaveCount(0, { timeout: 15_000 });
  await expect(page.getByTestId('chain-anchors')).toContainText(
    /Full check against the signed anchors (passed|FAILED) (just now|\d+ seconds? ago)/,
  );
  await expect(page.getByRole('button', { name: 'Check now' })).toBeEnabled();
  // The request is an audited action, in the trail the page lists.
  await expect(page.getByRole('row').filter({ hasText: 'Asked for the full audit check' }).first()).toContainText(
    'ada.admin@junction.local',
  );
});

test('only admins are offered Check now', async ({ browser }) => {
  // A context of its own per person: signed in from scratch, as each would be.
  for (const who of ['oscar', 'vera'] as const) {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await signIn(page, who, '/audit');
      await expect(page.getByTestId('chain-anchors')).toBeVisible();
      await expect(page.getByRole('button', { name: 'Check now' })).toHaveCount(0);
    } finally {
      await context.close();
    }
  }
});

async function lastCheck(): Promise<number | null> {
  const [row] = await db()<{ at: Date | null }[]>`select full_checked_at as at from audit_chain_state where id = 1`;
  return row?.at ? row.at.getTime() : null;
}

test('a check already running on a worker is said, and the requested one follows it', async ({ page }) => {
  test.setTimeout(120_000);
  // A long verification on a worker, as its transaction holding the verification lock.
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked = false;
  const holding = db().begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(727277)`;
    locked = true;
    await held;
  });
  try {
    await expect.poll(() => locked).toBe(true);
    await signIn(page, 'ada', '/audit');
    await expect(page.getByTestId('check-requested')).toContainText(/A full check is running now \(started (just now|\d+ seconds? ago)\)/);
    await expect(page.getByRole('button', { name: 'Checking…' })).toBeVisible();
    // A check asked for while it runs: not served by the one that began before it.
    const [{ at }] = await db()<{ at: Date }[]>`
      update audit_chain_state set check_requested_at = clock_timestamp(), check_requested_by = 'ada.admin@junction.local'
       where id = 1 returning check_requested_at as at`;
    await expect(page.getByTestId('check-requested')).toContainText('A check that started before it is running now', { timeout: 15_000 });
    await expect(page.getByTestId('check-requested')).toContainText('the requested one follows as soon as it ends');
    release();
    await holding;
    // The worker runs the requested check once the lock is free, and the page shows its result.
    await expect.poll(async () => ((await lastCheck()) ?? 0) > at.getTime(), { timeout: 30_000 }).toBe(true);
    await expect(page.getByTestId('check-requested')).toHaveCount(0, { timeout: 15_000 });
  } finally {
    release();
    await holding.catch(() => {});
  }
});
