import AxeBuilder from '@axe-core/playwright';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';
import type { Page } from '@playwright/test';

/** WCAG 2.1 A and AA rules; the build fails on any serious or critical violation. */
async function seriousViolations(page: Page, label: string): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${label}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
}

test('every console page, and the sign-in page, has no serious or critical axe-core violation', async ({ page }) => {
  test.setTimeout(180_000);
  const problems: string[] = [];
  await page.goto('/signin');
  await expect(page.getByRole('button', { name: 'Continue with SSO' })).toBeVisible();
  problems.push(...(await seriousViolations(page, '/signin')));

  await signIn(page, 'ada');
  const [failed] = await db()<{ id: string }[]>`select id from runs where status = 'failed' order by created_at desc limit 1`;
  const [succeeded] = await db()<{ id: string }[]>`select id from runs where status = 'succeeded' order by created_at desc limit 1`;
  const [change] = await db()<{ id: number }[]>`select id from audit_log where integration = 'accounting-export' and kind = 'config' order by id limit 1`;
  const paths = [
    '/',
    '/integrations',
    '/integrations/accounting-export',
    '/integrations/accounting-export/config',
    '/integrations/accounting-export/history',
    `/integrations/accounting-export/history?asOf=${change.id}`,
    '/integrations/accounting-export/credentials',
    '/integrations/accounting-export/mapping',
    '/integrations/crm-sync',
    '/integrations/crm-sync/mapping',
    '/runs',
    '/runs?status=failed&from=2020-01-01T00:00',
    `/runs/${failed.id}`,
    `/runs/${succeeded.id}`,
    '/alerts',
    '/audit',
    '/audit?window=30d',
    '/users',
    '/no-such-page',
  ];
  for (const path of paths) {
    await page.goto(path);
    await expect(page.getByRole('heading', { level: 1 }).first()).toBeVisible();
    problems.push(...(await seriousViolations(page, path)));
  }
  // A dialog too: the run page's retry confirmation.
  await page.goto(`/runs/${failed.id}`);
  const retry = page.getByRole('button', { name: 'Retry' });
  if (await retry.count()) {
    await retry.click();
    await expect(page.getByRole('dialog')).toBeVisible();
    problems.push(...(await seriousViolations(page, `/runs/${failed.id} retry dialog`)));
  }
  expect(problems).toEqual([]);
});
