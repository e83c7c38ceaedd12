import { expect, signIn, test } from '../fixtures';

// The demo's configuration history is days old and the Audit page opens on the last 24 hours: a
// list that ends inside its window says when the change before it was and links to the window
// that holds it, instead of ending as if the trail did.
test('an Audit list that ends inside its window points to the change before it', async ({ page }) => {
  await signIn(page, 'vera', '/audit?window=1h&integration=accounting-export');
  const older = page.getByTestId('older-changes');
  await expect(older).toContainText(/The change before the last hour was .+ ago: show the last (24 hours|7 days|30 days)/);
  const rowsBefore = await page.getByRole('row').count();
  await older.getByRole('link').click();
  await expect(page).toHaveURL(/window=(24h|7d|30d)/);
  await expect(page).toHaveURL(/integration=accounting-export/);
  // The wider window holds that change: more rows than the hour had (its header row aside).
  await expect.poll(async () => page.getByRole('row').count()).toBeGreaterThan(Math.max(rowsBefore, 1));
});

test('with a person or kind filter the Audit page offers the wider windows without reading the whole trail', async ({ page }) => {
  await signIn(page, 'vera', '/audit?window=1h&kind=user&actor=nobody-matches-this');
  await expect(page.getByText('Nothing changed in this window')).toBeVisible();
  const older = page.getByTestId('older-changes');
  await expect(older).toContainText('Look further back: Last 24 hours · Last 7 days · Last 30 days · Last year');
  await older.getByRole('link', { name: 'Last year' }).click();
  await expect(page).toHaveURL(/window=365d/);
  await expect(page).toHaveURL(/actor=nobody-matches-this/);
  await expect(page.getByText('Nothing changed in this window')).toBeVisible();
  // The longest window has nothing wider to offer.
  await expect(page.getByTestId('older-changes')).toHaveCount(0);
});
