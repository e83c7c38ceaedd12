import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('admin reverts the configuration to an earlier version, as a new audited change', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page, 'ada', '/integrations/crm-sync/config');
  const original = (await db()<{ breaker_cooldown: string }[]>`select breaker_cooldown from integrations where name = 'crm-sync'`)[0]
    .breaker_cooldown;
  await page.getByLabel('Breaker cooldown').fill('7m');
  await page.getByRole('button', { name: 'Review changes' }).click();
  await page.getByRole('button', { name: 'Save 1 change' }).click();
  await expect(page.getByText('Saved 1 change; see History')).toBeVisible();
  await page.getByRole('link', { name: 'History' }).click();
  // The version before the 7m change: open the config as of the configuration change just
  // before it (operator actions in between, e.g. from other specs, offer no version).
  const rows = page.getByTestId('history-row');
  const target = rows.filter({ hasText: 'breakerCooldown' }).first();
  await expect(target).toContainText('7m');
  const previous = rows.filter({ has: page.getByRole('link', { name: 'View config as of this change' }) }).nth(1);
  await previous.getByRole('link', { name: 'View config as of this change' }).click();
  await expect(page.getByTestId('config-as-of')).toContainText(`"breakerCooldown": "${original}"`);
  await page.getByRole('button', { name: 'Revert to this version' }).click();
  await page.getByRole('button', { name: /^Revert \d+ fields?$/ }).click();
  await expect(page.getByText(/Reverted \d+ field/)).toBeVisible();
  const [after] = await db()<{ breaker_cooldown: string }[]>`select breaker_cooldown from integrations where name = 'crm-sync'`;
  expect(after.breaker_cooldown).toBe(original);
  const [audit] = await db()<{ changed_by: string; new_value: string }[]>`
    select changed_by, new_value from audit_log where integration = 'crm-sync' and field_name = 'breakerCooldown' order by id desc limit 1`;
  expect(audit).toEqual({ changed_by: 'ada.admin@junction.local', new_value: original });
});

test('every History row that offers a revert reverts, and so does the original configuration (demo history)', async ({ page }) => {
  test.setTimeout(240_000);
  const current = () =>
    db()<{ schedule: string; retry_delays: string[]; batch_size: number }[]>`
      select schedule, retry_delays, (settings->>'batchSize')::int as batch_size from integrations where name = 'accounting-export'`.then(
      (r) => r[0],
    );
  const start = await current();
  // The seeded trail: changes from 12, 9 and 6 days ago and the credentials set 15 days ago.
  const offered = await db()<{ id: number }[]>`
    select id from audit_log where integration = 'accounting-export' and kind = 'config' order by changed_at, id`;
  expect(offered.length).toBeGreaterThanOrEqual(3);
  await signIn(page, 'ada', '/integrations/accounting-export/history');
  const revertTo = async (asOf: string) => {
    await page.goto(`/integrations/accounting-export/history?asOf=${asOf}`);
    await expect(page.getByTestId('config-as-of')).toBeVisible();
    await page.getByRole('button', { name: 'Revert to this version' }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog.getByRole('button', { name: /^Revert \d+ fields?$/ }).or(dialog.getByTestId('revert-nothing'))).toBeVisible();
    await expect(dialog.getByText(/Not reverted/)).toHaveCount(0);
    if (await dialog.getByTestId('revert-nothing').isVisible()) {
      await dialog.getByRole('button', { name: 'Close' }).click();
      return;
    }
    await dialog.getByRole('button', { name: /^Revert \d+ fields?$/ }).click();
    await expect(page.getByText(/Reverted \d+ field/)).toBeVisible();
    await expect(page.getByText(/Not reverted/)).toHaveCount(0);
  };
  // Oldest first, so the last one brings back the configuration the test started with.
  for (const { id } of offered) await revertTo(String(id));
  expect(await current()).toEqual(start);

  await page.goto('/integrations/accounting-export/history');
  await page.getByTestId('history-original').getByRole('link', { name: 'View original configuration' }).click();
  await expect(page.getByTestId('config-as-of')).toContainText('"schedule": "0 1 * * *"');
  await page.getByRole('button', { name: 'Revert to this version' }).click();
  await expect(page.getByRole('dialog')).toContainText('Revert accounting-export to the original configuration?');
  await page.getByRole('button', { name: /^Revert \d+ fields?$/ }).click();
  await expect(page.getByText(/Reverted \d+ field/)).toBeVisible();
  expect(await current()).toEqual({ schedule: '0 1 * * *', retry_delays: ['1m', '5m'], batch_size: 50 });

  await revertTo(String(offered.at(-1)!.id));
  expect(await current()).toEqual(start);
});

test('the revert dialog lists each field with its value now and the one it goes back to, names replaced secrets without their values, and says when nothing changes', async ({
  page,
}) => {
  test.setTimeout(120_000);
  const current = async () =>
    (
      await db()<{ breaker_failures: number; breaker_cooldown: string }[]>`
      select breaker_failures, breaker_cooldown from integrations where name = 'crm-sync'`
    )[0];
  const start = await current();
  const failures = start.breaker_failures === 7 ? 8 : 7;
  const cooldown = start.breaker_cooldown === '7m' ? '8m' : '7m';
  const saveConfig = async (label: string, value: string) => {
    await page.goto('/integrations/crm-sync/config');
    await page.getByLabel(label).fill(value);
    await page.getByRole('button', { name: 'Review changes' }).click();
    await page.getByRole('button', { name: 'Save 1 change' }).click();
    await expect(page.getByText('Saved 1 change; see History')).toBeVisible();
  };
  await signIn(page, 'ada', '/integrations/crm-sync/config');
  // Version A: the breaker threshold changed. Then the cooldown and the API key (to the sandbox's own value).
  await saveConfig('Breaker opens after (consecutive failures)', String(failures));
  await saveConfig('Breaker cooldown', cooldown);
  await page.goto('/integrations/crm-sync/credentials');
  await page.getByTestId('secret-apiKey').getByRole('button', { name: 'Replace' }).click();
  await page.getByLabel('New value').fill('dev-crm-key');
  await page.getByRole('button', { name: 'Save secret' }).click();
  await expect(page.getByText('apiKey replaced')).toBeVisible();

  await page.goto('/integrations/crm-sync/history?field=breakerFailures');
  await page.getByTestId('history-row').first().getByRole('link', { name: 'View config as of this change' }).click();
  await page.getByRole('button', { name: 'Revert to this version' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText('This field goes back to the value it had then');
  const rows = dialog.getByTestId('revert-change');
  await expect(rows).toHaveCount(1);
  await expect(rows.first().getByRole('cell').nth(0)).toHaveText('breakerCooldown');
  await expect(rows.first().getByRole('cell').nth(1)).toHaveText(cooldown);
  await expect(rows.first().getByRole('cell').nth(2)).toHaveText(start.breaker_cooldown);
  await expect(dialog.getByTestId('revert-secrets')).toHaveText(
    'Secrets are never reverted: apiKey changed since then and keeps its current value (values are never shown).',
  );
  expect(await page.content()).not.toContain('dev-crm-key');
  await page.screenshot({ path: 'test-results/screenshots/revert-dialog.png' });
  await dialog.getByRole('button', { name: 'Revert 1 field' }).click();
  await expect(page.getByText('Reverted 1 field')).toBeVisible();
  expect(await current()).toEqual({ breaker_failures: failures, breaker_cooldown: start.breaker_cooldown });

  // The same version again: nothing left to change, and nothing to confirm.
  await page.getByRole('button', { name: 'Revert to this version' }).click();
  await expect(dialog.getByTestId('revert-nothing')).toHaveText(
    'Nothing to change: the configuration is already as it was then, but for its secrets.',
  );
  await expect(dialog.getByRole('button', { name: /^Revert/ })).toHaveCount(0);
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toHaveCount(0);

  // Leave crm-sync's threshold as the other specs found it.
  await saveConfig('Breaker opens after (consecutive failures)', String(start.breaker_failures));
});
