import { randomUUID } from 'node:crypto';
import type { Page } from '@playwright/test';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

/**
 * Pages left open follow what changes behind them (a run failing, a breaker opening, an alert
 * delivery giving up) without a reload: each polls a fingerprint of what it shows and re-renders
 * when it changes. Everything below is changed straight in the database, as a worker would, while
 * the browser only watches. accounting-export runs at 02:00 only, so no scheduled run of its own
 * comes in between.
 */

const INTEGRATION = 'accounting-export';

async function breakerKey(): Promise<string> {
  const [{ key }] = await db()<{ key: string }[]>`select breaker_key as key from integrations where name = ${INTEGRATION}`;
  return key;
}

function setBreaker(key: string, state: 'open' | 'closed') {
  return db()`
    insert into breakers (key, state, consecutive_failures, opened_at, open_until, last_error, last_failure_at)
    values (${key}, ${state}, ${state === 'open' ? 3 : 0}, ${state === 'open' ? new Date() : null},
            ${state === 'open' ? new Date(Date.now() + 10 * 60_000) : null}, ${state === 'open' ? 'ERP answered 503' : null},
            ${state === 'open' ? new Date() : null})
    on conflict (key) do update set state = excluded.state, consecutive_failures = excluded.consecutive_failures,
      opened_at = excluded.opened_at, open_until = excluded.open_until, forced_open = false, trial_started_at = null,
      last_error = coalesce(excluded.last_error, breakers.last_error), last_failure_at = coalesce(excluded.last_failure_at, breakers.last_failure_at)`;
}

/** A failed run created now, as a worker leaves it once its retries are spent. */
async function insertFailedRun(error: string): Promise<string> {
  const id = randomUUID();
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, error_message, error_class, created_at, started_at, finished_at)
    values (${id}, ${INTEGRATION}, 'schedule', 'failed', 'schedule', ${randomUUID()}, 4, 4, ${error}, 'HttpError', now(), now(), now())`;
  return id;
}

async function deleteRun(id: string) {
  await db()`delete from attempts where run_id = ${id}`;
  await db()`delete from runs where id = ${id}`;
}

/** Marks the document: the mark is gone after a reload or a full navigation, and kept by a re-render. */
async function markDocument(page: Page) {
  await page.evaluate(() => {
    (window as unknown as { liveMark?: string }).liveMark = 'kept';
  });
}
async function expectSameDocument(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { liveMark?: string }).liveMark)).toBe('kept');
}

test('the Overview shows a failed run and an opened breaker without a reload', async ({ page }) => {
  const key = await breakerKey();
  await setBreaker(key, 'closed');
  await db()`update integrations set paused = false where name = ${INTEGRATION}`;
  let runId: string | null = null;
  try {
    await signIn(page, 'vera', '/');
    const awaiting = page.getByRole('link', { name: /Failed runs awaiting action$/ });
    const before = Number(await awaiting.locator('div').first().textContent());
    const row = page.getByRole('listitem').filter({ has: page.getByRole('link', { name: INTEGRATION, exact: true }) });
    await expect(row.getByText('Breaker open', { exact: true })).toHaveCount(0);
    await markDocument(page);

    runId = await insertFailedRun('POST http://erp.example/journal answered 500');
    await expect(awaiting.locator('div').first()).toHaveText(String(before + 1));

    await setBreaker(key, 'open');
    await expect(row.getByText('Breaker open', { exact: true })).toBeVisible();
    await expectSameDocument(page);
    await expect(page.getByTestId('live-indicator')).toBeVisible();
  } finally {
    await setBreaker(key, 'closed');
    if (runId) await deleteRun(runId);
  }
});

test("an integration's page shows its breaker opening and a new failed run, with a dialog left open", async ({ page }) => {
  const key = await breakerKey();
  await setBreaker(key, 'closed');
  await db()`update integrations set paused = false where name = ${INTEGRATION}`;
  let runId: string | null = null;
  try {
    await signIn(page, 'oscar', `/integrations/${INTEGRATION}`);
    const card = page.getByTestId('breaker-card');
    await expect(card.getByText('Closed', { exact: true })).toBeVisible();
    await markDocument(page);
    // A dialog the operator is reading stays open while the page follows the change behind it.
    await page.getByRole('button', { name: 'Run now' }).click();
    await expect(page.getByRole('dialog')).toBeVisible();

    runId = await insertFailedRun('POST http://erp.example/journal answered 500');
    await expect(page.getByTestId(`run-row-${runId}`)).toBeVisible();
    await expect(page.getByTestId(`run-row-${runId}`)).toContainText('answered 500');

    await setBreaker(key, 'open');
    await expect(card.getByText('Open', { exact: true })).toBeVisible();
    await expect(card).toContainText('Consecutive failures: 3');
    // The header (the layout's) follows too; behind the modal dialog it is out of the accessibility tree.
    await expect(page.locator('h1')).toContainText('Breaker open');
    await expect(page.getByRole('dialog')).toBeVisible();
    await expect(page.getByRole('dialog')).toContainText(`Run ${INTEGRATION} now?`);
    await expectSameDocument(page);
  } finally {
    await setBreaker(key, 'closed');
    if (runId) await deleteRun(runId);
  }
});

test('the Integrations list follows a breaker opening and keeps a half-typed search with its focus', async ({ page }) => {
  const key = await breakerKey();
  await setBreaker(key, 'closed');
  try {
    await signIn(page, 'vera', '/integrations');
    const breakerCell = page.getByRole('row').filter({ hasText: INTEGRATION }).locator('td[data-label="Breaker"]');
    await expect(breakerCell.getByText('Closed', { exact: true })).toBeVisible();
    await markDocument(page);
    const search = page.getByRole('textbox', { name: 'Search integrations' });
    await search.fill('acc');

    await setBreaker(key, 'open');
    await expect(breakerCell.getByText('Open', { exact: true })).toBeVisible();
    await expect(breakerCell).toContainText(/until in (9|10) minutes/);
    await expect(search).toHaveValue('acc');
    await expect(search).toBeFocused();
    await expectSameDocument(page);
  } finally {
    await setBreaker(key, 'closed');
  }
});

test('the Alerts page follows a delivery from retrying to given up, and says when its updates pause', async ({ page }) => {
  const suffix = randomUUID().slice(0, 8);
  const [channel] = await db()<{ id: string }[]>`
    insert into alert_channels (name, type, config, enabled)
    values (${`live-hook-${suffix}`}, 'webhook', ${db().json({ url: 'http://127.0.0.1:9/live' })}, true)
    returning id`;
  const title = `Live alert ${suffix}`;
  const body = {
    event: 'incident.opened',
    kind: 'run_failed',
    incidentId: null,
    integration: 'e2e-live-alerts',
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
  await signIn(page, 'vera', '/alerts');
  await markDocument(page);

  const [alert] = await db()<{ id: string }[]>`
    insert into alerts (event, integration, title, body, status, channel_ids)
    values ('opened', 'e2e-live-alerts', ${title}, ${db().json(body)}, 'pending', ${db().json([channel.id])})
    returning id`;
  const item = page.getByTestId('alert-item').filter({ hasText: title });
  await expect(item).toContainText('waiting for its first attempt');

  await db()`
    insert into alert_deliveries (alert_id, channel_id, attempt, status, response_code, error, final)
    values (${alert.id}, ${channel.id}, 1, 'failed', 503, 'receiver answered HTTP 503', false)`;
  await expect(item.getByRole('list', { name: 'Delivery attempts' })).toContainText('attempt 1 · failed (503)');
  await expect(item).toContainText('will retry');

  // The check fails (the server away): said in place, the alerts stay as they were.
  await page.route('**/api/changes**', (route) =>
    route.fulfill({
      status: 503,
      contentType: 'application/json',
      body: JSON.stringify({ error: 'Junction’s database is not answering.' }),
    }),
  );
  await expect(page.getByTestId('live-paused')).toContainText('Live updates paused: Junction’s database is not answering.');
  await expect(item).toContainText('will retry');
  await page.unroute('**/api/changes**');
  await expect(page.getByTestId('live-paused')).toHaveCount(0);

  await db()`
    insert into alert_deliveries (alert_id, channel_id, attempt, status, response_code, error, final)
    values (${alert.id}, ${channel.id}, 2, 'failed', 503, 'receiver answered HTTP 503', true)`;
  await db()`update alerts set status = 'undelivered' where id = ${alert.id}`;
  await expect(item).toContainText('attempt 2 · failed (503)');
  await expect(item).toContainText('gave up');
  await expect(item.getByText('undelivered', { exact: true })).toBeVisible();
  await expectSameDocument(page);
});
