import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { expect, resetBreakerInConsole, seedFailedRuns, signIn, test } from '../fixtures';
import { RunsPage } from '../pages/runs-page';

/** Holds crm-sync's breaker open for an hour (as an operator would): retries wait behind it. Returns its key. */
async function holdCrmBreakerOpen(): Promise<string> {
  const [{ key }] = await db()<{ key: string }[]>`select breaker_key as key from integrations where name = 'crm-sync'`;
  await db()`
    insert into breakers (key, state, consecutive_failures, opened_at, open_until, forced_open)
    values (${key}, 'open', 3, now(), now() + interval '1 hour', true)
    on conflict (key) do update set state = 'open', consecutive_failures = 3, opened_at = now(),
      open_until = now() + interval '1 hour', forced_open = true, trial_started_at = null`;
  return key;
}

test('operator selects three failed runs and retries them together', async ({ page }) => {
  const failed = await seedFailedRuns('crm-sync', 3, 'bulk-retry seed: CRM answered 502');
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  for (const id of failed) await runs.select(id);
  await page.screenshot({ path: 'test-results/screenshots/runs-bulk-selection.png', fullPage: true });
  await runs.retrySelected(3);
  await expect(page.getByText('3 retries queued as one bulk operation.')).toBeVisible();
  await expect(page.getByTestId('bulk-operation').first()).toContainText('3 retries of crm-sync');
  await expect
    .poll(
      async () =>
        (await db()<{ n: number }[]>`select count(*)::int as n from runs where retry_of = any(${failed}) and status = 'succeeded'`)[0].n,
      { timeout: 90_000 },
    )
    .toBe(3);
  for (const id of failed) {
    await expect(runs.row(id).getByRole('link', { name: 'retried →' })).toBeVisible({ timeout: 15_000 });
  }
});

test('the first bulk retry on the unfiltered list is one card that follows it to the end', async ({ page }) => {
  // As on a new install: no bulk retry yet (the finished ones of earlier tests are removed).
  await expect
    .poll(
      async () =>
        (
          await db()<{ n: number }[]>`
            select count(*)::int as n from runs
            where bulk_operation_id is not null and status in ('queued', 'running', 'retrying', 'deferred')`
        )[0].n,
      { timeout: 90_000 },
    )
    .toBe(0);
  await db()`delete from bulk_operations`;
  // The newest runs, so the unfiltered list's first page shows them.
  const failed = [randomUUID(), randomUUID()];
  for (const id of failed) {
    await db()`
      insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, error_message, error_class, created_at, started_at, finished_at)
      values (${id}, 'crm-sync', 'schedule', 'failed', 'schedule', ${randomUUID()}, 4, 4, 'first bulk seed: CRM answered 502', 'HttpError', now(), now(), now())`;
  }
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto();
  for (const id of failed) await runs.select(id);
  // The page's refresh arrives after the cards' own refetch, as on a busy server.
  await page.route('**/runs**', async (route) => {
    if (route.request().headers().rsc === '1') await new Promise((resolve) => setTimeout(resolve, 2_000));
    await route.fallback();
  });
  await runs.retrySelected(2);
  await expect(page.getByText('2 retries queued as one bulk operation.')).toBeVisible();
  // With no bulk retry and no filter, the card list and the table had the same key (''): React
  // kept a second "Bulk retries" section frozen at "active · queued 2" beside the live one.
  const cards = page.getByTestId('bulk-operation');
  await expect(cards.filter({ hasText: 'done' })).toHaveCount(1, { timeout: 90_000 });
  await expect(page.getByRole('region', { name: 'Bulk retries' })).toHaveCount(1);
  await expect(cards).toHaveCount(1);
});

test('a bulk retry refused because a selected run was retried meanwhile shows that run retried and keeps the others selected', async ({
  page,
}) => {
  const failed = await seedFailedRuns('crm-sync', 3, 'bulk-retry seed: retried meanwhile');
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  for (const id of failed) await runs.select(id);
  // Another operator retries the second one while this page is open (finished: a queued run with
  // no job would hold every later crm-sync run behind it, as runs of one integration take turns).
  const theirs = randomUUID();
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, retry_of, attempt_count, max_attempts, created_at)
    values (${theirs}, 'crm-sync', 'retry', 'succeeded', 'grace.admin@junction.local', ${randomUUID()}, ${failed[1]}, 1, 4, now())`;
  await runs.retrySelected(3);
  await expect(page.locator('[data-sonner-toast]').filter({ hasText: 'already retried' })).toBeVisible();
  // The list now says what is true: that run is retried (no checkbox), the other two stay ticked.
  await expect(runs.row(failed[1]).getByRole('link', { name: 'retried →' })).toBeVisible();
  await expect(page.getByRole('checkbox', { name: `Select run ${failed[1].slice(0, 8)}` })).toHaveCount(0);
  await runs.retrySelected(2);
  await expect(page.getByText('2 retries queued as one bulk operation.')).toBeVisible();
  const retried = await db()<{ retry_of: string }[]>`select retry_of from runs where retry_of = any(${failed}) and id <> ${theirs}`;
  expect(retried.map((r) => r.retry_of).sort()).toEqual([failed[0], failed[2]].sort());
});

test('the failed retries of a bulk retry are one click from its card: the Runs list filtered to them', async ({ page }) => {
  // A finished bulk retry of three runs: two of the retries failed again, one succeeded.
  const originals = await seedFailedRuns('crm-sync', 3, 'bulk-retry seed: partly failed again');
  const bulk = randomUUID();
  const retries = originals.map(() => randomUUID());
  const reason = `partial failure ${bulk.slice(0, 8)}`;
  await db()`
    insert into bulk_operations (id, created_by, run_ids, retried_run_ids, total, pace_runs, pace_period_ms, reason)
    values (${bulk}, 'oscar.operator@junction.local', ${db().json(retries)}, ${db().json(originals)}, 3, 5, 60000, ${reason})`;
  for (const [i, id] of retries.entries()) {
    const status = i === 1 ? 'succeeded' : 'failed';
    await db()`
      insert into runs (id, integration, trigger, status, triggered_by, correlation_id, retry_of, attempt_count, max_attempts, bulk_operation_id, error_message, created_at, started_at, finished_at)
      values (${id}, 'crm-sync', 'retry', ${status}, 'oscar.operator@junction.local', ${randomUUID()}, ${originals[i]}, 1, 4, ${bulk},
              ${status === 'failed' ? 'CRM answered 502 again' : null}, now(), now(), now())`;
    await db()`update runs set retried_at = now() where id = ${originals[i]}`;
  }
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto();
  const card = page.getByTestId('bulk-operation').filter({ hasText: reason });
  await expect(card).toContainText('failed 2');
  await card.getByRole('link', { name: 'failed 2' }).click();
  await expect(page).toHaveURL(new RegExp(`bulk=${bulk}`));
  await expect(page).toHaveURL(/status=failed/);
  await expect(page.getByTestId(/^run-row-/)).toHaveCount(2);
  await expect(runs.row(retries[0])).toBeVisible();
  await expect(runs.row(retries[2])).toBeVisible();
  // The filter names the bulk retry, and keeps it when another filter is applied.
  await expect(page.getByText(`Retries of bulk retry ${bulk.slice(0, 8)}`)).toBeVisible();
  await page.getByLabel('Status').selectOption('');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(new RegExp(`bulk=${bulk}`));
  await expect(page.getByTestId(/^run-row-/)).toHaveCount(3);
  // Not a bulk retry id: the filter is ignored, and the page says so.
  await runs.goto('bulk=nope');
  await expect(page.getByText(/bulk: /)).toBeVisible();
});

test('cancelling the retries not started asks first, and the cancelled runs are retried from the list', async ({ page }) => {
  test.setTimeout(120_000);
  // The breaker held open: the retries wait behind it, not started.
  const key = await holdCrmBreakerOpen();
  const failed = await seedFailedRuns('crm-sync', 2, 'bulk-retry seed: cancelled, then retried');
  const chain = (of: string[]) =>
    db()<{ id: string; status: string }[]>`select id, status from runs where retry_of = any(${of}) order by id`;
  try {
    await signIn(page, 'oscar');
    const runs = new RunsPage(page);
    await runs.goto('integration=crm-sync&status=failed');
    for (const id of failed) await runs.select(id);
    await runs.retrySelected(2);
    // Read once the retries are recorded: the click returns before the server action does.
    await expect(page.getByText('2 retries queued as one bulk operation.')).toBeVisible();
    // Its own card (a bulk retry of an earlier test may also wait behind the breaker).
    const cardOf = async (of: string[]) => {
      const [{ bulk }] = await db()<{ bulk: string }[]>`select bulk_operation_id as bulk from runs where retry_of = any(${of}) limit 1`;
      return page.getByTestId('bulk-operation').filter({ has: page.locator(`a[href="/runs?bulk=${bulk}"]`) });
    };
    const card = await cardOf(failed);
    await expect(card).toContainText('2 behind an open breaker', { timeout: 15_000 });

    // Asked first; keeping them changes nothing.
    await card.getByRole('button', { name: 'Cancel the 2 not started' }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText('The failed runs they retry stay retried: to retry them later, retry the cancelled runs');
    await dialog.getByRole('button', { name: 'Keep them queued' }).click();
    expect((await chain(failed)).map((r) => r.status)).toEqual(['queued', 'queued']);

    await card.getByRole('button', { name: 'Cancel the 2 not started' }).click();
    await dialog.getByRole('button', { name: 'Cancel 2 retries' }).click();
    await expect(page.getByText('Cancelled the retries that had not started')).toBeVisible();
    const cancelled = await chain(failed);
    expect(cancelled.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    // Their failed runs stay retried (nothing else points at them): the card's count leads to them.
    await card.getByRole('link', { name: 'cancelled 2' }).click();
    await expect(page).toHaveURL(/[?&]status=cancelled/);
    for (const r of cancelled) await expect(page.locator(`a[href="/runs/${r.id}"]`).first()).toBeVisible();

    // Not only with the API: a cancelled run's page offers Retry, and the list retries them together.
    await page.goto(`/runs/${cancelled[0].id}`);
    await expect(page.getByRole('button', { name: 'Retry', exact: true })).toBeVisible();

    await runs.goto('integration=crm-sync&status=cancelled');
    for (const r of cancelled) await runs.select(r.id);
    await page.getByRole('button', { name: 'Retry selected (2)' }).click();
    await expect(page.getByRole('dialog')).toContainText('Retry 2 runs (2 of them cancelled)?');
    await page.getByRole('button', { name: 'Retry 2 runs', exact: true }).click();
    await expect(page.getByText('2 retries queued as one bulk operation.')).toBeVisible();
    const again = cancelled.map((r) => r.id);
    expect(await chain(again)).toHaveLength(2);

    // Left as found: the second bulk cancelled through the console as well.
    await runs.goto('integration=crm-sync&status=active');
    const second = await cardOf(again);
    await expect(second).toContainText('2 behind an open breaker', { timeout: 15_000 });
    await second.getByRole('button', { name: 'Cancel the 2 not started' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel 2 retries' }).click();
    await expect.poll(async () => (await chain(again)).map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
  } finally {
    await resetBreakerInConsole(page, 'crm-sync');
    await db()`update breakers set state = 'closed', consecutive_failures = 0, opened_at = null, open_until = null, forced_open = false where key = ${key}`;
  }
});

test('an operator speeds up the retries held by a running bulk retry; the card shows the new pace and the audit says from what to what', async ({
  page,
  browser,
  baseURL,
}) => {
  test.setTimeout(120_000);
  // The breaker held open: the retries stay held while the pace changes.
  const key = await holdCrmBreakerOpen();
  const failed = await seedFailedRuns('crm-sync', 2, 'bulk-retry seed: pace changed');
  try {
    await signIn(page, 'oscar');
    const runs = new RunsPage(page);
    await runs.goto('integration=crm-sync&status=failed');
    for (const id of failed) await runs.select(id);
    await runs.retrySelected(2);
    await expect(page.getByText('2 retries queued as one bulk operation.')).toBeVisible();
    const [{ bulk }] = await db()<{ bulk: string }[]>`select bulk_operation_id as bulk from runs where retry_of = any(${failed}) limit 1`;
    const card = page.getByTestId('bulk-operation').filter({ has: page.locator(`a[href="/runs?bulk=${bulk}"]`) });
    await expect(card).toContainText('2 behind an open breaker', { timeout: 15_000 });
    await expect(card).toContainText('pace 5 per minute per integration');

    // A viewer sees the card, not the control.
    const viewerContext = await browser.newContext({ baseURL });
    const viewerPage = await viewerContext.newPage();
    await signIn(viewerPage, 'vera', '/runs?integration=crm-sync&status=active');
    const viewerCard = viewerPage.getByTestId('bulk-operation').filter({ has: viewerPage.locator(`a[href="/runs?bulk=${bulk}"]`) });
    await expect(viewerCard).toContainText('pace 5 per minute per integration');
    await expect(viewerCard.getByRole('button', { name: 'Change pace' })).toHaveCount(0);
    await viewerContext.close();

    const pace = card.getByRole('combobox', { name: `New pace of bulk retry ${bulk.slice(0, 8)}` });
    await expect(pace).toHaveValue('5');
    await expect(card.getByRole('button', { name: 'Change pace' })).toBeDisabled();
    await pace.selectOption({ label: '20 per minute' });
    await card.getByRole('button', { name: 'Change pace' }).click();
    await expect(page.getByText('Pace changed to 20 per minute per integration for the retries not released yet.')).toBeVisible();
    await expect(card).toContainText('pace 20 per minute per integration');
    await expect(pace).toHaveValue('20');
    const [operation] = await db()<{ pace_runs: number; pace_period_ms: number }[]>`
      select pace_runs, pace_period_ms from bulk_operations where id = ${bulk}`;
    expect(operation).toEqual({ pace_runs: 20, pace_period_ms: 60_000 });
    const audit = await db()<{ changed_by: string; integration: string; new_value: unknown }[]>`
      select changed_by, integration, new_value from audit_log where field_name = 'bulk_pace' and new_value->>'bulkOperationId' = ${bulk}`;
    expect(audit).toEqual([
      {
        changed_by: 'oscar.operator@junction.local',
        integration: 'crm-sync',
        new_value: { bulkOperationId: bulk, previous: { runs: 5, per: '1m' }, pace: { runs: 20, per: '1m' }, held: 2 },
      },
    ]);
    await page.goto('/audit?integration=crm-sync');
    await expect(
      page.getByText(
        `Changed the pace of bulk retry ${bulk.slice(0, 8)} from at most 5 per minute to at most 20 per minute for the 2 retries still held`,
      ),
    ).toBeVisible();

    // Left as found: the bulk cancelled.
    await runs.goto('integration=crm-sync&status=active');
    await card.getByRole('button', { name: 'Cancel the 2 not started' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel 2 retries' }).click();
    await expect(page.getByText('Cancelled the retries that had not started')).toBeVisible();
    await expect(card.getByRole('button', { name: 'Change pace' })).toHaveCount(0);
  } finally {
    await resetBreakerInConsole(page, 'crm-sync');
    await db()`update breakers set state = 'closed', consecutive_failures = 0, opened_at = null, open_until = null, forced_open = false where key = ${key}`;
  }
});

test('an operator picks the pace of a bulk retry when starting it; the card and the audit row show it', async ({ page }) => {
  // The two retries run for real against the CRM stand-in, one after the other: more than the default minute on a busy machine.
  test.setTimeout(150_000);
  const failed = await seedFailedRuns('crm-sync', 2, 'bulk-retry seed: faster pace');
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  for (const id of failed) await runs.select(id);
  await page.getByRole('button', { name: 'Retry selected (2)' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByLabel('Pace')).toHaveValue('5');
  await dialog.getByLabel('Pace').selectOption({ label: '20 per minute per integration' });
  await expect(dialog).toContainText('They start at most 20 per minute per integration');
  await dialog.getByRole('button', { name: 'Retry 2 runs', exact: true }).click();
  await expect(page.getByText('2 retries queued as one bulk operation.')).toBeVisible();
  const [{ bulk }] = await db()<{ bulk: string }[]>`select bulk_operation_id as bulk from runs where retry_of = any(${failed}) limit 1`;
  const card = page.getByTestId('bulk-operation').filter({ has: page.locator(`a[href="/runs?bulk=${bulk}"]`) });
  await expect(card).toContainText('pace 20 per minute per integration');
  const [audit] = await db()<{ pace: unknown }[]>`
    select new_value->'pace' as pace from audit_log where field_name = 'bulk_retry' and new_value->>'bulkOperationId' = ${bulk}`;
  expect(audit.pace).toEqual({ runs: 20, per: '1m' });
  await expect
    .poll(
      async () =>
        (await db()<{ n: number }[]>`select count(*)::int as n from runs where retry_of = any(${failed}) and status = 'succeeded'`)[0].n,
      { timeout: 90_000 },
    )
    .toBe(2);
});

test('an operator retries all 55 failed runs a filter matches, past the first page; a viewer is not offered it', async ({
  page,
  browser,
  baseURL,
}) => {
  test.setTimeout(120_000);
  // The breaker held open: the retries wait behind it, none starts.
  const key = await holdCrmBreakerOpen();
  // From just before the seeded runs (created 55 to 1 minutes ago): not the demo's older failures.
  const from = new Date(Date.now() - 56 * 60_000).toISOString();
  const failed = await seedFailedRuns('crm-sync', 55, 'bulk-retry seed: outage, retry all matching');
  const query = `integration=crm-sync&status=failed&from=${encodeURIComponent(from)}`;
  // What the filter matches that nobody retried yet: the seeded runs, and any an earlier test left.
  const [{ n }] = await db()<{ n: number }[]>`
    select count(*)::int as n from runs
     where integration = 'crm-sync' and status = 'failed' and retried_at is null and created_at >= ${from}::timestamptz`;
  expect(n).toBeGreaterThanOrEqual(55);
  let bulk: string | undefined;
  try {
    // A viewer sees the list, not the button.
    const viewerContext = await browser.newContext({ baseURL });
    const viewerPage = await viewerContext.newPage();
    await signIn(viewerPage, 'vera', `/runs?${query}`);
    await expect(viewerPage.getByRole('link', { name: 'Older runs →' })).toBeVisible();
    await expect(viewerPage.getByRole('button', { name: /^Retry all/ })).toHaveCount(0);
    await viewerContext.close();

    await signIn(page, 'oscar');
    const runs = new RunsPage(page);
    await runs.goto(query);
    await page.getByRole('button', { name: `Retry all ${n} matching` }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText(`Retry all ${n} matching runs?`);
    await expect(dialog).toContainText(`failed runs of crm-sync, created at or after ${from}`);
    await expect(dialog).toContainText('oldest first, at most 500');
    await expect(dialog).toContainText('runs retried meanwhile are skipped');
    await expect(dialog).toContainText("not at all while an integration's breaker is open");
    await expect(dialog.getByLabel('Pace')).toHaveValue('5');
    await dialog.getByRole('button', { name: `Retry ${n} runs`, exact: true }).click();
    await expect(page.getByText(`${n} retries queued as one bulk operation.`)).toBeVisible();
    await expect(page.getByRole('link', { name: 'Follow its progress' })).toHaveAttribute('href', '/runs#bulk-operations');

    const ops = await db()<{ id: string; total: number; retried: string[] }[]>`
      select distinct b.id, b.total, b.retried_run_ids as retried
        from bulk_operations b join runs r on r.bulk_operation_id = b.id where r.retry_of = any(${failed})`;
    expect(ops).toHaveLength(1);
    bulk = ops[0].id;
    expect(ops[0].total).toBe(n);
    expect(ops[0].retried).toEqual(expect.arrayContaining(failed));
    // Oldest first: the seeded runs in the order they were created.
    expect(ops[0].retried.filter((id) => failed.includes(id))).toEqual(failed);
    const [{ notRetried }] = await db()<{ notRetried: number }[]>`
      select count(*)::int as "notRetried" from runs where id = any(${failed}) and retried_at is null`;
    expect(notRetried).toBe(0);
    // Refreshed: nothing the filter matches is left to retry.
    await expect(page.getByRole('button', { name: /^Retry all/ })).toHaveCount(0);

    // Left as found: the retries cancelled through the console before any starts.
    const card = page.getByTestId('bulk-operation').filter({ has: page.locator(`a[href="/runs?bulk=${bulk}"]`) });
    await expect(card).toContainText(`${n} behind an open breaker`, { timeout: 15_000 });
    await card.getByRole('button', { name: `Cancel the ${n} not started` }).click();
    await dialog.getByRole('button', { name: `Cancel ${n} retries` }).click();
    await expect(page.getByText('Cancelled the retries that had not started')).toBeVisible();
  } finally {
    // Whatever failed above, nothing of this bulk retry is left to start.
    bulk ??= (await db()<{ bulk: string }[]>`select bulk_operation_id as bulk from runs where retry_of = any(${failed}) limit 1`)[0]?.bulk;
    if (bulk) {
      await db()`
        update runs set status = 'cancelled', hold = null, finished_at = now(), error_message = 'e2e cleanup', error_class = 'Cancelled'
         where bulk_operation_id = ${bulk} and status = 'queued' and started_at is null`;
    }
    await resetBreakerInConsole(page, 'crm-sync');
    await db()`update breakers set state = 'closed', consecutive_failures = 0, opened_at = null, open_until = null, forced_open = false where key = ${key}`;
  }
});
