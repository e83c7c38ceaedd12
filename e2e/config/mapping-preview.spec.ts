import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('admin fixes a mapping expression with the live preview and saves it', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/accounting-export/mapping');
  const description = page.getByLabel('Expression for description');
  await description.fill('"Invoice " & number &');
  await expect(page.getByRole('alert').filter({ hasText: 'position' }).first()).toBeVisible();
  await expect(page.getByRole('button', { name: 'Save mapping' })).toBeDisabled();
  await description.fill('"Invoice " & number & " / " & customer.country');
  await expect(page.getByTestId('preview-record').first()).toContainText('Invoice INV-0000001 / DE');
  await expect(page.getByTestId('preview-record').filter({ hasText: 'INV-0000003' })).toContainText('rejected');
  await page.screenshot({ path: 'test-results/screenshots/mapping-editor.png', fullPage: true });
  await page.getByRole('button', { name: 'Save mapping' }).click();
  await expect(page.getByText('Mapping saved; the next run uses it')).toBeVisible();
  const [row] = await db()<
    { mapping: { fields: { target: string; expression: string }[] } }[]
  >`select mapping from integrations where name = 'accounting-export'`;
  expect(row.mapping.fields.find((f) => f.target === 'description')?.expression).toBe('"Invoice " & number & " / " & customer.country');
});
