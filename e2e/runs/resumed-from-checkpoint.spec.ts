import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('the run page shows which attempt resumed from a checkpoint, and from where', async ({ page }) => {
  const id = randomUUID();
  const created = new Date(Date.now() - 120_000);
  const checkpoint = { updatedAt: '2026-11-30T09:00:00.123456Z', id: '3df1f5ec-8f43-4be7-94de-9738f6d47376' };
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, checkpoint, checkpoint_at, created_at, started_at, finished_at)
    values (${id}, 'accounting-export', 'manual', 'succeeded', 'ada@example.com', ${randomUUID()}, 2, 4, ${db().json(checkpoint)}, ${created}, ${created}, ${created}, ${created})`;
  await db()`
    insert into attempts (run_id, run_created_at, number, outcome, error_message, error_class, started_at, finished_at)
    values (${id}, ${created}, 1, 'failed', 'worker lost: the worker executing this attempt stopped', 'WorkerLost', ${created}, ${created})`;
  await db()`
    insert into attempts (run_id, run_created_at, number, outcome, resumed_from, started_at, finished_at)
    values (${id}, ${created}, 2, 'succeeded', ${db().json(checkpoint)}, ${created}, ${created})`;
  await signIn(page, 'vera', `/runs/${id}`);
  const second = page.getByRole('listitem').filter({ hasText: 'Attempt 2' });
  await expect(second.getByText('resumed from checkpoint')).toBeVisible();
  await expect(second).toContainText(checkpoint.id);
  await expect(page.getByRole('listitem').filter({ hasText: 'Attempt 1' }).getByText('resumed from checkpoint')).toHaveCount(0);
});
