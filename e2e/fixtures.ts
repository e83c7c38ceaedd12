import { randomUUID } from 'node:crypto';
import { test as base, expect, type Page } from '@playwright/test';
import { db } from './db';
import { SignInPage, type DemoUsername } from './pages/sign-in-page';

export const ROLE_OF: Record<DemoUsername, string> = { ada: 'admin', oscar: 'operator', vera: 'viewer' };

/** Signs in through the real SSO flow and waits for the console. */
export async function signIn(page: Page, username: DemoUsername, path = '/') {
  const signInPage = new SignInPage(page);
  await signInPage.goto(path === '/' ? '/signin' : `/signin?callbackUrl=${encodeURIComponent(path)}`);
  await signInPage.signInAs(username);
  await expect(page.getByTestId('current-user')).toContainText(ROLE_OF[username]);
  if (path !== '/') await expect(page).toHaveURL(new RegExp(path.replace(/[?]/g, '\\?')));
}

/** Inserts failed runs straight into the database, as a worker would have left them. */
export async function seedFailedRuns(
  integration: string,
  count: number,
  error = 'GET http://crm.example/v1/contacts answered 503',
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    const created = new Date(Date.now() - (count - i) * 60_000);
    await db()`
      insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, error_message, error_class, created_at, started_at, finished_at)
      values (${id}, ${integration}, 'schedule', 'failed', 'schedule', ${randomUUID()}, 4, 4, ${error}, 'HttpError', ${created}, ${created}, ${created})`;
    await db()`
      insert into attempts (run_id, run_created_at, number, outcome, error_message, error_class, started_at, finished_at)
      values (${id}, ${created}, 1, 'failed', ${error}, 'HttpError', ${created}, ${created})`;
    ids.push(id);
  }
  return ids;
}

export const test = base;
export { expect };

/**
 * Closes an integration's breaker the way an operator does (its card's Reset), after a test held
 * it open: a reset also wakes the runs it deferred. Closing it in SQL alone leaves a scheduled run
 * that arrived meanwhile deferred until the breaker's old open_until, and every later run of the
 * integration waits its turn behind that one.
 */
export async function resetBreakerInConsole(page: Page, integration: string) {
  await page.goto(`/integrations/${encodeURIComponent(integration)}`);
  const card = page.getByTestId('breaker-card');
  const reset = card.getByRole('button', { name: 'Reset breaker' });
  // Nothing to reset: already closed with no failures counted (the button is not offered).
  if ((await reset.count()) === 0) return;
  await reset.click();
  await page.getByRole('dialog').getByRole('button', { name: 'Reset breaker' }).click();
  await expect(card.getByText('Closed', { exact: true })).toBeVisible();
}
