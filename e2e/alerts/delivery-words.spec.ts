import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

/**
 * The alert history says where each alert stands per channel: a failed attempt that will be
 * retried apart from the one it gave up on, a channel still waiting for its first attempt, and an
 * alert that went to no channel at all (not "no attempt yet": none will ever come). The alerts are
 * recorded straight in the database as the alerting worker leaves them (no delivery job: nothing
 * sends them).
 */

const INTEGRATION = 'e2e-alert-words';

function message(title: string) {
  return {
    event: 'incident.opened',
    kind: 'run_failed',
    incidentId: null,
    integration: INTEGRATION,
    title,
    text: `${title}: upstream answered 503`,
    runId: null,
    runUrl: null,
    consoleUrl: null,
    correlationId: null,
    since: null,
    attempts: 3,
    lastError: 'upstream answered 503',
    eventCount: 1,
    at: new Date().toISOString(),
  };
}

test('the alert history says which attempts will be retried, which gave up, what still waits and what went nowhere', async ({ page }) => {
  const suffix = randomUUID().slice(0, 8);
  const [ops, pager] = [`ops-hook-${suffix}`, `pager-hook-${suffix}`];
  const ids = await db()<{ id: string; name: string }[]>`
    insert into alert_channels (name, type, config, enabled)
    values (${ops}, 'webhook', ${db().json({ url: 'http://127.0.0.1:9/ops' })}, true),
           (${pager}, 'webhook', ${db().json({ url: 'http://127.0.0.1:9/pager' })}, true)
    returning id, name`;
  const opsId = ids.find((c) => c.name === ops)!.id;
  const pagerId = ids.find((c) => c.name === pager)!.id;
  const alert = async (title: string, status: string, channelIds: string[], minutesAgo: number) => {
    const [row] = await db()<{ id: string }[]>`
      insert into alerts (event, integration, title, body, status, channel_ids, created_at)
      values ('opened', ${INTEGRATION}, ${title}, ${db().json(message(title))}, ${status}, ${db().json(channelIds)},
              now() - make_interval(mins => ${minutesAgo}))
      returning id`;
    return row.id;
  };
  await alert(`Routed nowhere ${suffix}`, 'undelivered', [], 3);
  const retrying = await alert(`Retrying ${suffix}`, 'pending', [opsId, pagerId], 2);
  const gaveUp = await alert(`Gave up ${suffix}`, 'undelivered', [opsId], 1);
  await db()`
    insert into alert_deliveries (alert_id, channel_id, attempt, status, response_code, error, final) values
      (${retrying}, ${opsId}, 1, 'failed', 503, 'receiver answered HTTP 503 Service Unavailable', false),
      (${gaveUp}, ${opsId}, 1, 'failed', null, 'request timed out', false),
      (${gaveUp}, ${opsId}, 2, 'failed', null, 'request timed out', true)`;

  await signIn(page, 'vera', `/alerts?integration=${INTEGRATION}`);
  const item = (title: string) => page.getByTestId('alert-item').filter({ hasText: title });

  const routedNowhere = item(`Routed nowhere ${suffix}`);
  await expect(routedNowhere).toContainText('Sent to no channel: no enabled channel was selected for it.');
  await expect(routedNowhere).toContainText(`check ${INTEGRATION}'s alert routing`);
  await expect(routedNowhere).not.toContainText('No delivery attempt yet');

  const attempts = item(`Retrying ${suffix}`).getByRole('list', { name: 'Delivery attempts' }).getByRole('listitem');
  await expect(attempts).toHaveCount(2);
  await expect(attempts.nth(0)).toContainText(
    `${ops} · attempt 1 · failed (503) — receiver answered HTTP 503 Service Unavailable · will retry`,
  );
  await expect(attempts.nth(1)).toHaveText(`${pager} · waiting for its first attempt`);

  const given = item(`Gave up ${suffix}`).getByRole('listitem');
  await expect(given).toHaveCount(2);
  await expect(given.nth(0)).toContainText('attempt 1 · failed — request timed out · will retry');
  await expect(given.nth(1)).toContainText('attempt 2 · failed — request timed out · gave up');
});

test('the alert history filters by integration, delivery and kind, and the Overview opens the undelivered ones', async ({ page }) => {
  const suffix = randomUUID().slice(0, 8);
  const integration = `e2e-alert-filters-${suffix}`;
  const alert = async (title: string, event: string, status: string, minutesAgo: number) => {
    await db()`
      insert into alerts (event, integration, title, body, status, channel_ids, created_at)
      values (${event}, ${integration}, ${title}, ${db().json(message(title))}, ${status}, '[]'::jsonb,
              now() - make_interval(mins => ${minutesAgo}))`;
  };
  await alert(`Delivered ${suffix}`, 'opened', 'delivered', 4);
  await alert(`Nowhere ${suffix}`, 'opened', 'undelivered', 3);
  await alert(`Half ${suffix}`, 'recovered', 'partial', 2);
  await alert(`Sending ${suffix}`, 'test', 'pending', 1);
  const shown = async () => {
    const items = page.getByTestId('alert-item');
    await expect(items.first()).toBeVisible();
    const texts = await items.allTextContents();
    return ['Delivered', 'Nowhere', 'Half', 'Sending'].filter((t) => texts.some((x) => x.includes(`${t} ${suffix}`)));
  };

  await signIn(page, 'vera', `/alerts?integration=${integration}`);
  await expect(page.getByLabel('Integration')).toHaveValue(integration);
  expect(await shown()).toEqual(['Delivered', 'Nowhere', 'Half', 'Sending']);

  // Delivery: what some channel did not get (undelivered and partial), submitted by the form.
  await page.getByLabel('Delivery', { exact: true }).selectOption('failed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/delivery=failed/);
  await expect(page.getByTestId('alert-item')).toHaveCount(2);
  expect(await shown()).toEqual(['Nowhere', 'Half']);

  await page.getByLabel('Kind').selectOption('recovered');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByTestId('alert-item')).toHaveCount(1);
  expect(await shown()).toEqual(['Half']);

  await page.goto(`/alerts?integration=${integration}&delivery=pending&event=opened`);
  await expect(page.getByText('No alert matches these filters')).toBeVisible();
  await expect(page.getByLabel('Delivery', { exact: true })).toHaveValue('pending');
  await expect(page.getByLabel('Kind')).toHaveValue('opened');

  // A value the page cannot use is named, not silently read as "any".
  await page.goto(`/alerts?integration=${integration}&delivery=lost`);
  await expect(page.getByRole('alert').filter({ hasText: 'were ignored' })).toContainText(
    'delivery: must be one of failed, pending, delivered',
  );
  await expect(page.getByTestId('alert-item')).toHaveCount(4);

  await page.getByRole('link', { name: 'Clear' }).click();
  await expect(page).toHaveURL(/\/alerts$/);

  // The Overview's Undelivered alerts card opens exactly the alerts some channel did not get.
  await page.goto('/');
  await page.getByRole('link', { name: /Undelivered alerts/ }).click();
  await expect(page).toHaveURL(/\/alerts\?delivery=failed$/);
  await expect(page.getByLabel('Delivery', { exact: true })).toHaveValue('failed');
  await expect(page.getByTestId('alert-item').filter({ hasText: `Nowhere ${suffix}` })).toBeVisible();
  await expect(page.getByTestId('alert-item').filter({ hasText: `Half ${suffix}` })).toBeVisible();
  await expect(page.getByTestId('alert-item').filter({ hasText: `Delivered ${suffix}` })).toHaveCount(0);
  await expect(page.getByTestId('alert-item').filter({ hasText: `Sending ${suffix}` })).toHaveCount(0);
});

test("an alert's text keeps its lines, and links into the console are links while outside addresses stay text", async ({
  page,
  baseURL,
}) => {
  const title = `Lines ${randomUUID().slice(0, 8)}`;
  const run = `${baseURL}/runs/00000000-0000-4000-8000-000000000001`;
  const text = `${title}: run failed\nLast error: GET https://evil.example/phish answered 503\nOpen the run: ${run}`;
  await db()`
    insert into alerts (event, integration, title, body, status, channel_ids)
    values ('opened', ${INTEGRATION}, ${title}, ${db().json({ ...message(title), text })}, 'undelivered', '[]'::jsonb)`;
  await signIn(page, 'vera', `/alerts?integration=${INTEGRATION}`);
  const item = page.getByTestId('alert-item').filter({ hasText: title });
  // Before: one run-on paragraph ("…run failed Last error: …") and no link.
  const body = item.locator('p').filter({ hasText: 'Last error' });
  expect(await body.innerText()).toBe(text);
  await expect(item.getByRole('link', { name: run })).toHaveAttribute('href', run);
  await expect(item.getByRole('link', { name: /evil\.example/ })).toHaveCount(0);
});
