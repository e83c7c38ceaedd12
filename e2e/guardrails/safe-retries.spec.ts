import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';

test('a failed run is retried once, with the reason kept; a second retry is refused naming the first', async ({ page, baseURL }) => {
  const [failed] = await seedFailedRuns('crm-sync', 1, 'guardrail seed: CRM answered 503');
  await signIn(page, 'oscar', `/runs/${failed}`);
  await page.getByRole('button', { name: 'Retry' }).click();
  await page.getByLabel('Reason (optional, kept with the run and in the audit trail)').fill('CRM maintenance is over');
  await page.getByRole('button', { name: 'Retry run' }).click();
  await page.waitForURL((url) => /\/runs\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(failed));
  await expect(page.getByText('CRM maintenance is over')).toBeVisible();
  const [retry] = await db()<{ id: string; reason: string }[]>`select id, reason from runs where retry_of = ${failed}`;
  expect(retry.reason).toBe('CRM maintenance is over');
  const again = await page.request.post(`/api/runs/${failed}/retry`, { data: {}, headers: { Origin: baseURL! } });
  expect(again.status()).toBe(409);
  expect((await again.json()).error).toContain(retry.id);
  await page.goto(`/runs/${failed}`);
  await expect(page.getByRole('button', { name: 'Retry' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: new RegExp(`run ${retry.id.slice(0, 8)}`) })).toBeVisible();
  const [{ n }] = await db()<{ n: number }[]>`select count(*)::int as n from runs where retry_of = ${failed}`;
  expect(n).toBe(1);
});

test('a paused integration says how many scheduled runs were missed and what resume will do', async ({ page }) => {
  await db()`update integrations set schedule = '*/15 * * * *', paused = true, paused_at = now() - interval '2 hours', resume_policy = 'skip' where name = 'crm-sync'`;
  await signIn(page, 'oscar', '/integrations/crm-sync');
  await expect(page.getByTestId('resume-outlook')).toContainText('scheduled runs were missed while paused. Resume will skip them');
  const [before] = await db()<{ n: number }[]>`select count(*)::int as n from runs where integration = 'crm-sync'`;
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(page.getByRole('dialog')).toContainText('Resume will skip them');
  // An operator reads configuration but cannot change it.
  await expect(page.getByRole('dialog')).toContainText('an admin can change it in Configuration');
  await page.getByRole('button', { name: 'Resume' }).last().click();
  await expect(page.getByText('Resumed')).toBeVisible();
  const [after] = await db()<
    { n: number; paused: boolean }[]
  >`select (select count(*)::int from runs where integration = 'crm-sync') as n, (select paused from integrations where name = 'crm-sync') as paused`;
  expect(after).toEqual({ n: before.n, paused: false });
});
