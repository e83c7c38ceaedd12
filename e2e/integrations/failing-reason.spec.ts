import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

/**
 * An integration reads Failing with its reason and where to act on it (the user's review: payment-events
 * was red with its last run succeeded, 100 % in 24 h and its breaker closed, because of an open
 * failed-events incident nothing named), and the Overview's Failing card lists every integration it counts.
 */

const NAME = 'payment-events';

/**
 * Opens a failed-events incident for payment-events two hours ago, as alerting would on a refused
 * event, unless one is open already (one per kind): then that one is read. Returns its failed events
 * and a cleanup that closes only the incident this test opened.
 */
async function openEventsIncident(): Promise<{ failedEvents: number; close: () => Promise<unknown> }> {
  const inserted = await db()<{ id: string }[]>`
    insert into incidents (integration, kind, opened_at, last_event_at, event_count, failed_runs, failed_events, last_error)
    values (${NAME}, 'events_failed', now() - interval '2 hours', now() - interval '2 hours', 3, 0, 3,
            '3 events (evt_1, evt_2, evt_3): invoice INV-404 does not exist')
    on conflict (integration, kind) where closed_at is null do nothing
    returning id`;
  const [open] = await db()<{ failed_events: number | null; event_count: number }[]>`
    select failed_events, event_count from incidents where integration = ${NAME} and kind = 'events_failed' and closed_at is null`;
  return {
    failedEvents: open.failed_events ?? open.event_count,
    close: () => (inserted[0] ? db()`update incidents set closed_at = now() where id = ${inserted[0].id}` : Promise.resolve()),
  };
}

test('a Failing integration says why on the inventory and on its page, and links to its failed events', async ({ page }) => {
  const incident = await openEventsIncident();
  const reason = `${incident.failedEvents} failed webhook event${incident.failedEvents === 1 ? '' : 's'} (open incident since`;
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
