import { randomUUID } from 'node:crypto';
import type { Locator } from '@playwright/test';
import { db } from '../db';
import { expect, resetBreakerInConsole, seedFailedRuns, signIn, test } from '../fixtures';
import { RunsPage } from '../pages/runs-page';

/** A toast's text, links and place, read at once (it goes away by itself). */
function readToast(toast: Locator) {
  return toast.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return {
      text: el.textContent ?? '',
      links: [...el.querySelectorAll('a')].map((a) => [a.textContent, a.getAttribute('href')]),
      box: { x: r.x, y: r.y, width: r.width, height: r.height },
    };
  });
}

test('operator retries a failed run from the Runs table through the confirmation dialog, with a reason, and sees the new run succeed', async ({
  page,
}) => {
  test.setTimeout(180_000);
  const [failed] = await seedFailedRuns('crm-sync', 1);
  page.on('dialog', (d) => {
    throw new Error(`a native ${d.type()} dialog opened: ${d.message()}`);
  });
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  await expect(runs.row(failed).getByRole('cell', { name: 'schedule', exact: true })).toBeVisible();
  await runs.row(failed).getByRole('button', { name: 'Retry' }).click();
  const dialog = page.getByRole('dialog', { name: `Retry run ${failed.slice(0, 8)}?` });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Reason (optional, kept with the run and in the audit trail)').fill('CRM is back');
  await dialog.getByRole('button', { name: 'Retry run' }).click();
  const toast = page.locator('[data-sonner-toast]').filter({ hasText: 'Retry started' });
  await expect(toast).toBeVisible();
  const shown = await readToast(toast);
  const [retry] = await db()<
    { id: string; trigger: string; triggered_by: string; reason: string }[]
  >`select id, trigger, triggered_by, reason from runs where retry_of = ${failed}`;
  expect(retry).toMatchObject({ trigger: 'retry', triggered_by: 'oscar.operator@junction.local', reason: 'CRM is back' });
  // The toast names the new run by its short id, linked, and leaves the Sign out button uncovered.
  expect(shown.links).toContainEqual([retry.id.slice(0, 8), `/runs/${retry.id}`]);
  expect(shown.text).not.toContain(retry.id);
  const signOut = (await page.getByRole('button', { name: 'Sign out', exact: true }).boundingBox())!;
  const t = shown.box;
  const overlaps =
    t.x < signOut.x + signOut.width && signOut.x < t.x + t.width && t.y < signOut.y + signOut.height && signOut.y < t.y + t.height;
  expect(overlaps).toBe(false);
  await page.goto(`/runs/${retry.id}`);
  await expect(page.getByRole('heading', { name: /^Run / })).toBeVisible();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Succeeded', { timeout: 45_000 });
  await expect(page.getByRole('link', { name: `run ${failed.slice(0, 8)}` })).toBeVisible();
  // The retry names the run it retries as such ("Retries: run …" read as a list of its own retries).
  await expect(page.getByText('Retry of', { exact: true })).toBeVisible();
  await page.screenshot({ path: 'test-results/screenshots/run-detail.png', fullPage: true });
});

test('an old failed run warns in the same dialog, never a browser confirm; a refused retry names runs by short linked ids', async ({
  page,
}) => {
  test.setTimeout(180_000);
  const [old] = await seedFailedRuns('crm-sync', 1);
  // created_at is the partition key its attempts carry too: they move with it.
  await db()`delete from attempts where run_id = ${old}`;
  await db()`update runs set created_at = now() - interval '10 days' where id = ${old}`;
  page.on('dialog', (d) => {
    throw new Error(`a native ${d.type()} dialog opened: ${d.message()}`);
  });
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  // Up to 9 days ago: the failed crm-sync runs of the specs before this one fill the newest pages.
  const to = new Date(Date.now() - 9 * 86_400_000).toISOString();
  await runs.goto(`integration=crm-sync&status=failed&to=${encodeURIComponent(to)}`);
  await runs.row(old).getByRole('button', { name: 'Retry' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText('This run is 10 days old');
  // Someone else retried it meanwhile: the refusal says so with short ids that link to both runs.
  const other = randomUUID();
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, retry_of, attempt_count, max_attempts, created_at)
    values (${other}, 'crm-sync', 'retry', 'succeeded', 'grace.admin@junction.local', ${randomUUID()}, ${old}, 1, 4, now())`;
  await dialog.getByRole('button', { name: 'Retry the old run' }).click();
  const toast = page.locator('[data-sonner-toast]').filter({ hasText: 'already retried' });
  await expect(toast).toBeVisible();
  const shown = await readToast(toast);
  expect(shown.text).not.toContain(old);
  expect(shown.text).not.toContain(other);
  expect(shown.links).toContainEqual([other.slice(0, 8), `/runs/${other}`]);
  expect(shown.links).toContainEqual([old.slice(0, 8), `/runs/${old}`]);
  // And who did, so the second operator knows whom to ask.
  expect(shown.text).toContain('by grace.admin@junction.local at ');
  // The row no longer offers a retry that can only be refused again: it links to theirs.
  await expect(runs.row(old).getByRole('link', { name: 'retried →' })).toHaveAttribute('href', `/runs/${other}`);
  await expect(runs.row(old).getByRole('button', { name: 'Retry' })).toHaveCount(0);
});

test('the retry dialogs say what is still wrong with the integration: its breaker, a later failure, a pause, on every page that retries', async ({
  page,
}) => {
  const [{ key }] = await db()<{ key: string }[]>`select breaker_key as key from integrations where name = 'crm-sync'`;
  await db()`update integrations set paused = true where name = 'crm-sync'`;
  await db()`
    insert into breakers (key, state, consecutive_failures, opened_at, open_until, forced_open)
    values (${key}, 'open', 3, now(), null, true)
    on conflict (key) do update set state = 'open', consecutive_failures = 3, opened_at = now(),
      open_until = null, forced_open = true, trial_started_at = null`;
  // Two older failures, then the integration's last run, failed a moment ago.
  const [older, other] = await seedFailedRuns('crm-sync', 2, 'retry cautions seed: CRM answered 503');
  const last = randomUUID();
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, error_message, error_class, created_at, started_at, finished_at)
    values (${last}, 'crm-sync', 'schedule', 'failed', 'schedule', ${randomUUID()}, 4, 4, 'CRM answered 503', 'HttpError', now(), now(), now())`;
  const seeded = [older, other, last];
  try {
    await signIn(page, 'oscar', `/runs/${older}`);
    await page.getByRole('button', { name: 'Retry', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: `Retry run ${older.slice(0, 8)}?` });
    const cautions = dialog.getByRole('list', { name: 'Before you retry' }).getByRole('listitem');
    await expect(cautions).toHaveText([
      "crm-sync's breaker is held open by an operator: the retry waits until the breaker closes.",
      /^crm-sync's last run failed too \((just now|\d+ seconds? ago|\d+ minutes? ago)\): unless what made it fail is fixed, the retry fails again\.$/,
      'crm-sync is paused: the retry runs anyway (a pause stops only its schedule).',
    ]);
    await expect(cautions.nth(1).locator('time')).toHaveAttribute('title', / UTC$/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // Retrying the last run itself with another: its failure is not "too", the rest still holds.
    const runs = new RunsPage(page);
    await runs.goto('integration=crm-sync&status=failed');
    await runs.select(last);
    await runs.select(other);
    await page.getByRole('button', { name: 'Retry selected (2)' }).click();
    const bulk = page.getByRole('dialog', { name: 'Retry 2 runs?' });
    await expect(bulk.getByRole('list', { name: 'Before you retry' }).getByRole('listitem')).toHaveText([
      "crm-sync's breaker is held open by an operator: the retry waits until the breaker closes.",
      'crm-sync is paused: the retry runs anyway (a pause stops only its schedule).',
    ]);
    await bulk.getByRole('button', { name: 'Cancel' }).click();

    // The integration's own page retries from its Recent runs with the same words (it said none).
    // Its newest run, `last`: earlier specs leave more than a page (20) of crm-sync runs newer than `older`.
    await page.goto('/integrations/crm-sync');
    await expect(async () => {
      await page.getByTestId(`run-row-${last}`).getByRole('button', { name: 'Retry' }).click({ timeout: 2_000 });
      await expect(page.getByRole('dialog', { name: `Retry run ${last.slice(0, 8)}?` })).toBeVisible({ timeout: 2_000 });
    }).toPass();
    const here = page.getByRole('dialog', { name: `Retry run ${last.slice(0, 8)}?` });
    await expect(here.getByRole('list', { name: 'Before you retry' }).getByRole('listitem')).toHaveText([
      "crm-sync's breaker is held open by an operator: the retry waits until the breaker closes.",
      'crm-sync is paused: the retry runs anyway (a pause stops only its schedule).',
    ]);
    await here.getByRole('button', { name: 'Cancel' }).click();
    // Every row there is crm-sync's: no column saying so.
    await expect(page.getByRole('columnheader', { name: 'Integration' })).toHaveCount(0);
    expect((await db()`select id from runs where retry_of in ${db()(seeded)}`).length).toBe(0);
  } finally {
    await db()`update integrations set paused = false where name = 'crm-sync'`;
    await resetBreakerInConsole(page, 'crm-sync');
    await db()`update breakers set state = 'closed', consecutive_failures = 0, opened_at = null, open_until = null, forced_open = false where key = ${key}`;
    await db()`delete from attempts where run_id in ${db()(seeded)}`;
    await db()`delete from runs where id in ${db()(seeded)}`;
  }
});
