import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

const PAGES: { path: string; heading: string | RegExp; name: string }[] = [
  { path: '/', heading: 'Overview', name: 'overview' },
  { path: '/integrations', heading: 'Integrations', name: 'integrations' },
  { path: '/integrations/accounting-export', heading: /accounting-export/, name: 'integration-accounting-export' },
  { path: '/integrations/accounting-export/config', heading: /accounting-export/, name: 'config-editor' },
  { path: '/integrations/accounting-export/history', heading: /accounting-export/, name: 'integration-history' },
  { path: '/integrations/accounting-export/credentials', heading: /accounting-export/, name: 'credentials' },
  { path: '/integrations/accounting-export/mapping', heading: /accounting-export/, name: 'mapping' },
  { path: '/runs', heading: 'Runs', name: 'runs' },
  { path: '/alerts', heading: 'Alerts', name: 'alerts' },
  { path: '/audit', heading: 'Audit trail', name: 'audit' },
  { path: '/users', heading: 'Users and roles', name: 'users' },
  { path: '/users/tokens', heading: 'API tokens', name: 'api-tokens' },
];

for (const width of [1280, 390]) {
  test(`every console page renders with demo data at ${width} px`, async ({ page }) => {
    await page.setViewportSize({ width, height: 900 });
    await signIn(page, 'ada');
    // Nothing a page loads may fail: a missing asset is an error in every operator's browser console.
    const failed: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    for (const p of PAGES) {
      const res = await page.goto(p.path);
      expect(res?.status(), p.path).toBe(200);
      await expect(page.getByRole('heading', { level: 1, name: p.heading }).first()).toBeVisible();
      await expect(page.getByText('Something went wrong')).toHaveCount(0);
      await page.screenshot({ path: `test-results/screenshots/${width}/${p.name}.png`, fullPage: true });
    }
    expect(failed).toEqual([]);
    // Headless Chromium does not ask for the favicon by itself; a browser does, on every page.
    const icon = await page.request.get('/favicon.ico');
    expect(icon.status()).toBe(200);
    expect(icon.headers()['content-type']).toMatch(/^image\//);
  });
}

test('the overview shows the demo state: a failing integration and failed runs awaiting action', async ({ page }) => {
  await signIn(page, 'oscar');
  await expect(page.getByRole('link', { name: /Failed runs awaiting action/ })).toBeVisible();
  await page.goto('/integrations');
  const crm = page.getByRole('row').filter({ hasText: 'crm-sync' });
  await expect(crm).toBeVisible();
  await page.goto('/alerts');
  // The demo's failed-run alert is listed (other specs may add newer alerts above it, e.g. a recovery).
  await expect(page.getByTestId('alert-item').filter({ hasText: 'crm-sync: run failed' }).first()).toBeVisible();
});

test("the Overview's awaiting-action link keeps its time bound through the Runs filter form", async ({ page }) => {
  await signIn(page, 'oscar');
  await page.getByRole('link', { name: /Failed runs awaiting action/ }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Runs' })).toBeVisible();
  const instant = (url: string) => {
    const from = new URL(url).searchParams.get('from');
    return from ? new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(from) ? from : `${from}Z`).getTime() : null;
  };
  const since = instant(page.url());
  expect(since, 'the link carries the start of the count').not.toBeNull();
  // The form shows the bound it filters by (it once said "Time range (set)" over an empty box)...
  await expect(page.locator('summary')).toContainText(new Date(since!).toISOString().slice(0, 16).replace('T', ' '));
  await expect(page.getByLabel('From (UTC)')).not.toHaveValue('');
  // ...and filtering again keeps it, to the millisecond (once sent from= and dropped the 7 days).
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/[?&]status=failed/);
  expect(instant(page.url())).toBe(since);
  await expect(page.getByRole('alert').filter({ hasText: 'ignored' })).toHaveCount(0);
  // A time typed into the box is UTC, as every exact time in the console.
  await page.getByLabel('From (UTC)').fill('2020-01-02T03:04');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.locator('summary')).toContainText('2020-01-02 03:04:00 UTC');
  expect(instant(page.url())).toBe(Date.UTC(2020, 0, 2, 3, 4));
});

test('a filter the page cannot use, or that matches nothing, says so instead of looking like an empty product', async ({ page }) => {
  await signIn(page, 'oscar');
  await page.goto('/integrations?state=bogus');
  await expect(page.getByRole('alert').filter({ hasText: 'were ignored' })).toContainText('state: must be one of healthy, new, failing');
  await expect(page.getByRole('row').filter({ hasText: 'crm-sync' })).toBeVisible();
  // The same notice on every list: a day that does not exist is not read as another one.
  await page.goto('/runs?from=2026-02-30');
  await expect(page.getByRole('alert').filter({ hasText: 'were ignored' })).toContainText('from: ');
  await expect(page.getByRole('alert').filter({ hasText: 'were ignored' })).toContainText('2026-02 has no day 30');
  // A misspelt filter is said, with the name it meant, not read as an unfiltered list that looks filtered.
  await page.goto('/runs?statuz=failed&integration=crm-sync');
  await expect(page.getByRole('alert').filter({ hasText: 'were ignored' })).toContainText(
    'statuz: not a parameter of this page; did you mean status?',
  );
  await expect(page.getByRole('form', { name: 'Filter runs' }).getByLabel('Status')).toHaveValue('');
  // An integration that does not exist is said as such, not answered "No alert matches" (the
  // form then says the list is of every integration, which it is).
  await page.goto('/alerts?integration=no-such-integration&event=test');
  await expect(page.getByRole('alert').filter({ hasText: 'were ignored' })).toContainText(
    "integration: no integration is named 'no-such-integration'",
  );
  await expect(page.getByLabel('Integration')).toHaveValue('');
  // A filter that is applied and matches nothing still says so. A test alert is of a channel, never
  // of an integration: whatever other specs left (a crm-sync recovery still pending on a channel
  // that never answers, as in a full run), nothing matches.
  await page.goto('/alerts?integration=crm-sync&event=test');
  await expect(page.getByText('No alert matches these filters')).toBeVisible();
  await expect(page.getByLabel('Integration')).toHaveValue('crm-sync');
  await expect(page.getByText('No alerts yet')).toHaveCount(0);
  await page.goto(`/alerts?before=${encodeURIComponent('2000-01-01T00:00:00Z|00000000-0000-4000-8000-000000000000')}`);
  await expect(page.getByText('No older alerts')).toBeVisible();
  await page.getByRole('link', { name: 'Go to the newest' }).click();
  await expect(page.getByTestId('alert-item').first()).toBeVisible();
});

test('a page for something that does not exist answers 404 with the not-found page', async ({ page }) => {
  // Link checkers, monitors and scripts read the status, not the words: "Not found" must not be a 200.
  await signIn(page, 'oscar');
  for (const path of [
    '/integrations/no-such-integration',
    '/integrations/no-such-integration/history',
    '/integrations/no-such-integration/config',
    '/integrations/accounting-export/events',
    '/runs/00000000-0000-4000-8000-000000000000',
    '/runs/not-a-run-id',
  ]) {
    const res = await page.goto(path);
    expect(res?.status(), path).toBe(404);
    await expect(page.getByRole('heading', { level: 1, name: 'Not found' }), path).toBeVisible();
    await expect(page.getByTestId('current-user'), path).toContainText('operator');
  }
  // An address no route serves: its own page, with the way back.
  const res = await page.goto('/no-such-page');
  expect(res?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1, name: 'Not found' })).toBeVisible();
  await page.getByRole('link', { name: 'Go to the Overview' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Overview' })).toBeVisible();
});

test("the Overview's Active runs card opens the runs list filtered to active runs", async ({ page }) => {
  const waiting = randomUUID();
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, next_attempt_at, created_at, started_at)
    values (${waiting}, 'accounting-export', 'manual', 'retrying', 'e2e', ${randomUUID()}, 1, 4, now() + interval '1 hour', now(), now())`;
  try {
    await signIn(page, 'oscar');
    await page.getByRole('link', { name: /Active runs/ }).click();
    await expect(page).toHaveURL(/\/runs\?status=active$/);
    await expect(page.getByLabel('Status')).toHaveValue('active');
    await expect(page.getByTestId(`run-row-${waiting}`)).toBeVisible();
    // Nothing finished is listed.
    await expect(page.locator('[data-testid^="run-row-"]').filter({ hasText: /succeeded|failed|cancelled/ })).toHaveCount(0);
  } finally {
    await db()`update runs set status = 'cancelled', finished_at = now() where id = ${waiting}`;
  }
});

test("an integration's tabs are the sections it uses: Mapping only with a field mapping, Events only with events", async ({ page }) => {
  await signIn(page, 'oscar', '/integrations/accounting-export');
  const tabs = page.getByRole('navigation', { name: 'Integration sections' });
  await expect(tabs.getByRole('link')).toHaveText(['Runs & actions', 'Configuration (read-only)', 'History', 'Mapping']);
  await page.goto('/integrations/crm-sync');
  await expect(tabs.getByRole('link')).toHaveText(['Runs & actions', 'Configuration (read-only)', 'History']);
  await page.goto('/integrations/payment-events');
  await expect(tabs.getByRole('link')).toHaveText(['Runs & actions', 'Configuration (read-only)', 'Events', 'History']);
  // The address still answers, and says why there is nothing to edit.
  await page.goto('/integrations/crm-sync/mapping');
  await expect(page.getByText('This integration does not use a configurable field mapping.')).toBeVisible();
});
