import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';
import type { DemoUsername } from '../pages/sign-in-page';

test('a webhook URL carrying a token reaches a viewer and an operator masked, and only the admin’s edit form has it whole', async ({
  browser,
  page,
  baseURL,
}) => {
  const suffix = randomUUID().slice(0, 8);
  const pathToken = `Xq9ZpL2mN4vR8sT1${suffix}`;
  const queryToken = `sig${suffix}Zm9vYmFy`;
  const name = `token-hook-${suffix}`;
  const url = `https://hooks.example.com/services/T0001/B0002/${pathToken}?sig=${queryToken}`;
  // Disabled: no alert is ever sent to this made-up receiver.
  await db()`insert into alert_channels (name, type, config, enabled) values (${name}, 'webhook', ${db().json({ url })}, false)`;
  // Its creation in the trail, as createChannel writes it: /audit is read by every role too.
  await db()`insert into audit_log (changed_by, kind, integration, field_name, old_value, new_value, correlation_id)
             values ('ada.admin@junction.local', 'config', null, ${`channel.${name}.url`}, null, ${db().json(url)}, ${randomUUID()})`;
  try {
    for (const who of ['vera', 'oscar'] as DemoUsername[]) {
      const context = await browser.newContext({ baseURL, storageState: { cookies: [], origins: [] } });
      const other = await context.newPage();
      try {
        await signIn(other, who, '/alerts');
        await expect(other.getByRole('row').filter({ hasText: name })).toContainText('https://hooks.example.com/services/…?sig=***');
        // Neither in the rendered page nor in its HTML with the inline RSC payload.
        const html = await (await other.request.get('/alerts')).text();
        for (const body of [await other.content(), html]) {
          expect(body.includes(pathToken), `${who}: the path token`).toBe(false);
          expect(body.includes(queryToken), `${who}: the query token`).toBe(false);
        }
        await other.goto(`/audit?kind=config&actor=ada.admin`);
        await expect(
          other
            .getByRole('row')
            .filter({ hasText: `alert channel ${name}: url` })
            .first(),
        ).toContainText('https://hooks.example.com/services/…?sig=***');
        const audit = await (await other.request.get('/audit?kind=config&actor=ada.admin')).text();
        for (const body of [await other.content(), audit]) {
          expect(body.includes(pathToken), `${who}: the path token on /audit`).toBe(false);
          expect(body.includes(queryToken), `${who}: the query token on /audit`).toBe(false);
        }
      } finally {
        await context.close();
      }
    }
    // The admin reads the trail whole: it is theirs to compare with what they entered.
    await signIn(page, 'ada', '/audit?kind=config&actor=ada.admin');
    await expect(
      page
        .getByRole('row')
        .filter({ hasText: `alert channel ${name}: url` })
        .first(),
    ).toContainText(pathToken);
    await page.goto('/alerts');
    const row = page.getByRole('row').filter({ hasText: name });
    await expect(row).toContainText('https://hooks.example.com/services/…?sig=***');
    await row.getByRole('button', { name: 'Edit' }).click();
    await expect(page.getByRole('dialog').getByLabel('URL', { exact: true })).toHaveValue(url);
  } finally {
    await db()`delete from alert_channels where name = ${name}`;
  }
});
