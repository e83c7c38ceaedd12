import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('a breaker whose cooldown has passed reads half-open, and Reset names the configured threshold', async ({ page }) => {
  const [{ key, failures }] = await db()<{ key: string; failures: number }[]>`
    select breaker_key as key, breaker_failures as failures from integrations where name = 'accounting-export'`;
  // Opened by two failures; the cooldown ended 47 s ago and no trial request has run since.
  await db()`
    insert into breakers (key, state, consecutive_failures, opened_at, open_until, last_error, last_failure_at)
    values (${key}, 'open', 2, now() - interval '107 seconds', now() - interval '47 seconds', 'ERP answered 503', now() - interval '107 seconds')
    on conflict (key) do update set state = 'open', consecutive_failures = 2, opened_at = excluded.opened_at,
      open_until = excluded.open_until, forced_open = false, trial_started_at = null`;
  try {
    await signIn(page, 'oscar', '/integrations/accounting-export');
    const card = page.getByTestId('breaker-card');
    await expect(card.getByText('Half-open', { exact: true })).toBeVisible();
    await expect(card).toContainText('A trial request is allowed on the next run');
    await expect(card.getByText('Open', { exact: true })).toHaveCount(0);

    await card.getByRole('button', { name: 'Reset breaker' }).click();
    await expect(page.getByRole('dialog')).toContainText(
      `the breaker opens again after ${failures} consecutive failure${failures === 1 ? '' : 's'}.`,
    );
    await page.getByRole('dialog').getByRole('button', { name: 'Reset breaker' }).click();
    await expect(card.getByText('Closed', { exact: true })).toBeVisible();
  } finally {
    await db()`update breakers set state = 'closed', consecutive_failures = 0, opened_at = null, open_until = null where key = ${key}`;
  }
});

test('opening the breaker by hand keeps the last real error on the card, before and after Reset', async ({ page }) => {
  const [{ key }] = await db()<{ key: string }[]>`select breaker_key as key from integrations where name = 'accounting-export'`;
  // A closed breaker that saw a real failure: the card names it with its time.
  await db()`
    insert into breakers (key, state, consecutive_failures, last_error, last_failure_at)
    values (${key}, 'closed', 1, 'ERP answered 503', now() - interval '2 hours')
    on conflict (key) do update set state = 'closed', consecutive_failures = 1, opened_at = null, open_until = null,
      forced_open = false, trial_started_at = null, last_error = excluded.last_error, last_failure_at = excluded.last_failure_at`;
  try {
    await signIn(page, 'oscar', '/integrations/accounting-export');
    const card = page.getByTestId('breaker-card');
    await expect(card).toContainText('Last error 2 hours ago: ERP answered 503');

    await card.getByRole('button', { name: 'Open breaker' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Open breaker' }).click();
    await expect(card).toContainText('Held open by an operator until reset');
    // The operator's own action is not an error of the external system (it read "Last error 2 hours
    // ago: opened by oscar…", and "Last error —: opened by …" once reset): the real one stays.
    await expect(card).toContainText('Last error 2 hours ago: ERP answered 503');
    await expect(card).not.toContainText('opened by');

    await card.getByRole('button', { name: 'Reset breaker' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Reset breaker' }).click();
    await expect(card.getByText('Closed', { exact: true })).toBeVisible();
    await expect(card).toContainText('Last error 2 hours ago: ERP answered 503');
    await expect(card).not.toContainText('opened by');

    // The audit trail names the integrations behind the breaker (the row records its key), not "—".
    const users = await db()<{ name: string }[]>`select name from integrations where breaker_key = ${key} order by name`;
    await page.goto(`/audit?actor=${encodeURIComponent('oscar.operator@junction.local')}`);
    const reset = page
      .getByRole('row')
      .filter({ hasText: `Reset the breaker ${key}` })
      .first();
    for (const { name } of users) {
      await expect(reset.locator('td[data-label="Integration"]').getByRole('link', { name, exact: true })).toHaveAttribute(
        'href',
        `/integrations/${name}`,
      );
    }
  } finally {
    await db()`update breakers set state = 'closed', consecutive_failures = 0, opened_at = null, open_until = null, forced_open = false where key = ${key}`;
  }
});

test('the inventory shows each integration’s breaker: open until when, held open, failures so far', async ({ page }) => {
  const [{ key }] = await db()<{ key: string }[]>`select breaker_key as key from integrations where name = 'accounting-export'`;
  const setBreaker = (state: 'open' | 'closed', failures: number, openUntil: string | null, forced: boolean) => db()`
    insert into breakers (key, state, consecutive_failures, opened_at, open_until, forced_open)
    values (${key}, ${state}, ${failures}, ${state === 'open' ? new Date() : null}, ${openUntil}::timestamptz, ${forced})
    on conflict (key) do update set state = excluded.state, consecutive_failures = excluded.consecutive_failures,
      opened_at = excluded.opened_at, open_until = excluded.open_until, forced_open = excluded.forced_open, trial_started_at = null`;
  const breakerCell = () => page.getByRole('row').filter({ hasText: 'accounting-export' }).locator('td[data-label="Breaker"]');
  try {
    await setBreaker('open', 3, new Date(Date.now() + 10 * 60_000).toISOString(), false);
    await signIn(page, 'vera', '/integrations');
    await expect(page.getByRole('columnheader', { name: 'Breaker' })).toBeVisible();
    await expect(breakerCell().getByText('Open', { exact: true })).toBeVisible();
    await expect(breakerCell()).toContainText(/until in (9|10) minutes/);
    // The exact time is on hover, as everywhere else.
    await expect(breakerCell().locator('time')).toHaveAttribute('title', /UTC/);

    await setBreaker('open', 0, null, true);
    await page.reload();
    await expect(breakerCell()).toContainText('Open');
    await expect(breakerCell()).toContainText('until reset');

    await setBreaker('closed', 2, null, false);
    await page.reload();
    await expect(breakerCell().getByText('Closed', { exact: true })).toBeVisible();
    await expect(breakerCell()).toContainText('2 consecutive failures');
  } finally {
    await db()`update breakers set state = 'closed', consecutive_failures = 0, opened_at = null, open_until = null, forced_open = false where key = ${key}`;
  }
});
