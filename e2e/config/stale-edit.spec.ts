import { defaultJournalMapping } from '../../lib/integrations/accounting-export/mapping';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('a stale config edit is refused; Reload keeps the draft, shows their change beside it, and saves both', async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page, 'ada', '/integrations/accounting-export/config');
  const [before] = await db()<
    { breaker_failures: number; breaker_cooldown: string; version: number }[]
  >`select breaker_failures, breaker_cooldown, version from integrations where name = 'accounting-export'`;
  const versionLine = page.getByTestId('config-version');
  await expect(versionLine).toContainText(`Version ${before.version},`);
  const mine = before.breaker_cooldown === '2m' ? '3m' : '2m';
  await page.getByLabel('Breaker cooldown').fill(mine);
  // Meanwhile another admin saves a change.
  await db()`update integrations set breaker_failures = breaker_failures + 1, version = version + 1, updated_by = 'grace.admin@junction.local', updated_at = now() where name = 'accounting-export'`;
  await page.getByRole('button', { name: 'Review changes' }).click();
  // Told at Review, before a dialog offers to save what the save would refuse.
  const alert = page.getByRole('alert').filter({ hasText: 'Changed by grace.admin@junction.local' });
  await expect(alert).toBeVisible();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  // When, in words, with the exact time on hover (not an ISO timestamp).
  const [theirs] = await db()<{ updated_at: Date }[]>`select updated_at from integrations where name = 'accounting-export'`;
  const exact = `${theirs.updated_at.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
  await expect(alert.locator('time')).toHaveAttribute('title', exact);
  await expect(alert.locator('time')).toHaveText(/just now|seconds? ago/);
  await expect(alert).not.toContainText(theirs.updated_at.toISOString());
  const [refused] = await db()<{ breaker_cooldown: string }[]>`select breaker_cooldown from integrations where name = 'accounting-export'`;
  expect(refused.breaker_cooldown).toBe(before.breaker_cooldown);

  await alert.getByRole('button', { name: 'Reload, keeping my changes' }).click();
  const merge = page.getByTestId('stale-merge');
  await expect(merge).toContainText('grace.admin@junction.local');
  // The form now sits on their version: the line above it says so.
  await expect(versionLine).toContainText(`Version ${before.version + 1},`);
  await expect(versionLine).toContainText('by grace.admin@junction.local');
  await expect(merge.getByTestId('their-change')).toContainText(
    `breakerFailures: ${before.breaker_failures} → ${before.breaker_failures + 1}`,
  );
  await expect(merge.getByTestId('my-change')).toContainText(`breakerCooldown: ${before.breaker_cooldown} → ${mine}`);
  await expect(page.getByLabel('Breaker cooldown')).toHaveValue(mine);
  await expect(page.getByLabel('Breaker opens after (consecutive failures)')).toHaveValue(String(before.breaker_failures + 1));

  await merge.getByRole('button', { name: 'Review and save my changes' }).click();
  await page.getByRole('button', { name: 'Save 1 change' }).click();
  await expect(page.getByText('Saved 1 change; see History')).toBeVisible();
  const [saved] = await db()<
    { breaker_failures: number; breaker_cooldown: string }[]
  >`select breaker_failures, breaker_cooldown from integrations where name = 'accounting-export'`;
  expect(saved).toEqual({ breaker_failures: before.breaker_failures + 1, breaker_cooldown: mine });
  await expect(versionLine).toContainText(`Version ${before.version + 2},`);
});

test('a stale mapping save keeps the draft and re-applies it on top of the mapping saved meanwhile', async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page, 'ada', '/integrations/accounting-export/mapping');
  const description = page.getByLabel('Expression for description');
  await expect(description).toBeVisible();
  const mine = '"Draft " & number';
  await description.fill(mine);
  await expect(page.getByTestId('preview-record').first()).toContainText('Draft INV-');
  // Meanwhile another admin adds a filter to the mapping and saves.
  const [row] = await db()<
    { mapping: Record<string, unknown> | null }[]
  >`select mapping from integrations where name = 'accounting-export'`;
  const theirs = { ...(row.mapping ?? defaultJournalMapping), filter: '$number(grossTotal) > 0' };
  await db()`update integrations set mapping = ${db().json(theirs as never)}, version = version + 1, updated_by = 'grace.admin@junction.local', updated_at = now() where name = 'accounting-export'`;
  await page.getByRole('button', { name: 'Save mapping' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'Changed by grace.admin@junction.local' });
  await alert.getByRole('button', { name: 'Reload, keeping my draft' }).click();
  const merge = page.getByTestId('stale-merge');
  await expect(merge.getByTestId('their-change')).toContainText('filter set to $number(grossTotal) > 0');
  await expect(merge.getByTestId('my-change')).toContainText(`field description: expression`);
  await expect(description).toHaveValue(mine);
  await expect(page.getByLabel('Filter expression')).toHaveValue('$number(grossTotal) > 0');
  await page.getByRole('button', { name: 'Save mapping' }).click();
  await expect(page.getByText('Mapping saved; the next run uses it')).toBeVisible();
  const [saved] = await db()<
    { mapping: { filter: string; fields: { target: string; expression: string }[] } }[]
  >`select mapping from integrations where name = 'accounting-export'`;
  expect(saved.mapping.filter).toBe('$number(grossTotal) > 0');
  expect(saved.mapping.fields.find((f) => f.target === 'description')?.expression).toBe(mine);
});
