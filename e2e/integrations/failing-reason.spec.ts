import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';

/**
 * An integration reads Failing with its reason and where to act on it (the user's review: payment-events
 * was red with its last run succeeded, 100 % in 24 h and its breaker closed, because of an open
 * failed-events incident nothing named), and the Overview's Failing card lists every integration it counts.
 */

const NAME = 'payment-events';

/**
 * Opens a failed-events incident for payment-events two hours ago, as alerting would on a refused
 * event, unless one is open already (one per kind: the demo seed opens one for its refused event,
 * which a spec replaying or dismissing the failed events closes). Returns the reason the console gives for it
 * (its events failed now: the demo's refused event and any an earlier spec left) and a cleanup that
 * closes only the incident this test opened.
 */
async function openEventsIncident(): Promise<{ reason: string; close: () => Promise<unknown> }> {
  const inserted = await db()<{ id: string }[]>`
    insert into incidents (integration, kind, opened_at, last_event_at, event_count, failed_runs, failed_events, last_error)
    -- Last counted now: a recovery an earlier spec recorded (a dismissal) is older, so the incident
    -- is not read as recovered and held.
    values (${NAME}, 'events_failed', now() - interval '2 hours', now(), 3, 0, 3,
            '3 events (evt_1, evt_2, evt_3): invoice INV-404 does not exist')
    on conflict (integration, kind) where closed_at is null do nothing
    returning id`;
  const [{ n }] = await db()<{ n: number }[]>`
    select count(*)::int as n from webhook_events where integration = ${NAME} and status = 'failed'`;
  return {
    reason: n > 0 ? `${n} failed webhook event${n === 1 ? '' : 's'} (open incident since` : 'failed webhook events being replayed',
    close: () => (inserted[0] ? db()`update incidents set closed_at = now() where id = ${inserted[0].id}` : Promise.resolve()),
  };
}

test('a Failing integration says why on the inventory and on its page, and links to its failed events', async ({ page }) => {
  const incident = await openEventsIncident();
  const { reason } = incident;
  try {
    await signIn(page, 'vera', '/integrations');
    const state = page.getByRole('row').filter({ hasText: NAME }).locator('td[data-label="State"]');
    await expect(state.getByText('Failing', { exact: true })).toBeVisible();
    const why = state.getByRole('list', { name: 'Why it is failing' });
    await expect(why).toContainText(reason);
    // Relative, with the exact time on hover, as everywhere else.
    await expect(why.getByRole('listitem').filter({ hasText: 'failed webhook event' }).locator('time')).toHaveAttribute('title', / UTC$/);
    const link = why.getByRole('link', { name: 'Review failed events' });
    await expect(link).toHaveAttribute('href', `/integrations/${NAME}/events?status=failed`);

    await link.click();
    await expect(page).toHaveURL(new RegExp(`/integrations/${NAME}/events\\?status=failed$`));
    await expect(page.getByRole('form', { name: 'Filter events' }).locator('[name="status"]')).toHaveValue('failed');
    // The integration's own header says it too, on every tab.
    const header = page.getByTestId('failing-reasons');
    await expect(header).toContainText(`Failing: ${reason}`);
    await expect(header.getByRole('link', { name: 'Review failed events' })).toHaveAttribute(
      'href',
      `/integrations/${NAME}/events?status=failed`,
    );
    await page.goto(`/integrations/${NAME}`);
    await expect(page.getByTestId('failing-reasons')).toContainText(`Failing: ${reason}`);
  } finally {
    await incident.close();
  }
});

test('the Overview’s Failing card links to a list of every integration it counts, credentials failing included', async ({ page }) => {
  const incident = await openEventsIncident();
  await db()`update integrations set credentials_error = 'token endpoint answered 401: invalid_client.', credentials_failing_since = now() - interval '5 minutes' where name = 'accounting-export'`;
  try {
    await signIn(page, 'vera');
    // The card is the link to the filtered list; its number is the first line of its text.
    const card = page.locator('a[href="/integrations?state=any_failing"]');
    await expect(card).toContainText('Failing');
    const counted = Number((await card.textContent())?.replace('Failing', '').trim());
    expect(counted).toBeGreaterThanOrEqual(2);
    await card.click();
    await expect(page).toHaveURL(/\/integrations\?state=any_failing$/);
    await expect(page.getByRole('search').locator('[name="state"]')).toHaveValue('any_failing');
    await expect(page.locator('tbody tr')).toHaveCount(counted);
    const row = (name: string) => page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) });
    await expect(row('accounting-export').getByText('Credentials failing', { exact: true })).toBeVisible();
    await expect(row(NAME).getByText('Failing', { exact: true })).toBeVisible();
  } finally {
    await db()`update integrations set credentials_error = null, credentials_failing_since = null where name = 'accounting-export'`;
    await incident.close();
  }
});

test('a paused integration with an open breaker still counts and reads as Breaker open', async ({ page }) => {
  // accounting-export runs at 02:00 only: no scheduled run of its own comes in between.
  const name = 'accounting-export';
  const [{ key }] = await db()<{ key: string }[]>`select breaker_key as key from integrations where name = ${name}`;
  await db()`update integrations set paused = true where name = ${name}`;
  await db()`
    insert into breakers (key, state, consecutive_failures, opened_at, open_until, last_error, last_failure_at)
    values (${key}, 'open', 3, now(), now() + interval '10 minutes', 'ERP answered 503', now())
    on conflict (key) do update set state = 'open', consecutive_failures = 3, opened_at = now(),
      open_until = now() + interval '10 minutes', forced_open = false, trial_started_at = null`;
  try {
    await signIn(page, 'vera');
    // Pausing stops the schedule, not the breaker: the integration is counted in both cards.
    for (const state of ['breaker_open', 'paused']) {
      const card = page.locator(`a[href="/integrations?state=${state}"]`);
      const counted = Number((await card.locator('div').first().textContent())?.trim());
      expect(counted).toBeGreaterThanOrEqual(1);
      await card.click();
      await expect(page).toHaveURL(new RegExp(`/integrations\\?state=${state}$`));
      await expect(page.locator('tbody tr')).toHaveCount(counted);
      const row = page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) });
      await expect(row.locator('td[data-label="State"]').getByText('Paused', { exact: true })).toBeVisible();
      await expect(row.locator('td[data-label="State"]').getByText('Breaker open', { exact: true })).toBeVisible();
      await page.goto('/');
    }
    // Its own page's header says both too.
    await page.goto(`/integrations/${name}`);
    const title = page.getByRole('heading', { level: 1 });
    await expect(title.getByText('Paused', { exact: true })).toBeVisible();
    await expect(title.getByText('Breaker open', { exact: true })).toBeVisible();
  } finally {
    await db()`update integrations set paused = false where name = ${name}`;
    await db()`update breakers set state = 'closed', consecutive_failures = 0, opened_at = null, open_until = null where key = ${key}`;
  }
});

test('a failed-runs incident says how many of its runs nobody retried, and links to exactly those', async ({ page }) => {
  const name = 'crm-sync';
  const seeded = await seedFailedRuns(name, 2);
  const inserted = await db()<{ id: string }[]>`
    insert into incidents (integration, kind, opened_at, last_event_at, event_count, failed_runs, failed_events, last_error)
    values (${name}, 'run_failed', now() - interval '1 hour', now(), 2, 2, 0, 'GET http://crm.example/v1/contacts answered 503')
    on conflict (integration, kind) where closed_at is null do nothing
    returning id`;
  try {
    await signIn(page, 'vera', `/integrations/${name}`);
    const reason = page.getByTestId('failing-reasons').getByRole('listitem').filter({ hasText: 'await' });
    const [, failed, awaiting] = (await reason.textContent())!
      .match(/(\d+) failed runs? in this incident; (\d+) of the last 7 days awaits? a retry/)!
      .map(Number);
    expect(awaiting).toBeGreaterThanOrEqual(seeded.length);
    expect(failed).toBeGreaterThanOrEqual(1);
    await reason.getByRole('link', { name: 'Retry them' }).click();
    await expect(page).toHaveURL(/\/runs\?integration=crm-sync&status=failed&dryRun=exclude&retried=exclude&from=/);
    // The rows the reason counts, every one failed and not retried (a page holds 50).
    const rows = page.locator('tbody tr');
    await expect(rows).toHaveCount(Math.min(awaiting, 50));
    for (const id of seeded) await expect(page.locator(`a[href="/runs/${id}"]`).first()).toBeVisible();
    // The Overview's "awaiting action" counts them with every other integration's.
    await page.goto('/');
    const card = page.locator('a[href^="/runs?status=failed&dryRun=exclude&retried=exclude"]');
    expect(Number((await card.locator('div').first().textContent())?.trim())).toBeGreaterThanOrEqual(awaiting);
  } finally {
    if (inserted[0]) await db()`update incidents set closed_at = now() where id = ${inserted[0].id}`;
    await db()`delete from attempts where run_id in ${db()(seeded)}`;
    await db()`delete from runs where id in ${db()(seeded)}`;
  }
});
