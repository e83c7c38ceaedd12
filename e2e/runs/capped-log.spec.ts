import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';

/**
 * An attempt that logged past its cap (RUN_LOG_MAX_LINES, lib/platform/log.ts) keeps its first
 * lines and its last ones; the run page shows where lines are missing and how many of each level.
 */
test('the run page says how many lines of a capped attempt were not kept, between the first and the last', async ({ page }) => {
  const [runId] = await seedFailedRuns('crm-sync', 1, 'capped log seed: CRM answered 503');
  const [attempt] = await db()<{ id: string; run_created_at: Date }[]>`select id, run_created_at from attempts where run_id = ${runId}`;
  await db()`
    insert into attempt_log_batches (attempt_id, run_created_at, at, offsets, levels, messages, data, dropped)
    values (${attempt.id}, ${attempt.run_created_at}, now(), '{0,5}', 'ii', '{"first kept line","second kept line"}', null, null),
           (${attempt.id}, ${attempt.run_created_at}, now(), '{0}', 'e', '{"attempt 1 failed: CRM answered 503"}', '[{"status": 503}]', '{0,12000,345,0}')`;
  await signIn(page, 'oscar', `/runs/${runId}`);
  const log = page.locator('pre').filter({ hasText: 'first kept line' });
  await expect(log.getByTestId('log-gap')).toHaveText('… 12,345 more lines not kept: 12,000 info, 345 warn …');
  const text = await log.innerText();
  expect(text.indexOf('second kept line')).toBeLessThan(text.indexOf('12,345 more lines'));
  expect(text.indexOf('12,345 more lines')).toBeLessThan(text.indexOf('ERROR attempt 1 failed: CRM answered 503 {"status":503}'));
});
