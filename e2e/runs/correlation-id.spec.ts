import { db, e2eState } from '../db';
import { expect, signIn, test } from '../fixtures';

/**
 * One correlation id from a click to the external system (issue 19): the Run now click's server
 * action gives its id to the run, the audit row, the attempt's first log line and the
 * X-Correlation-Id header the CRM stand-in records, with a W3C traceparent beside it.
 */
test('the correlation id of a Run now click reaches the audit row, the run, its attempt logs and the external request', async ({
  page,
  request,
}) => {
  const sandbox = e2eState().sandboxUrl;
  await signIn(page, 'oscar', '/integrations/crm-sync');
  await page.getByRole('button', { name: 'Run now' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Run now' }).click();
  await page.getByRole('link', { name: 'Follow it' }).click();
  await expect(page).toHaveURL(/\/runs\/[0-9a-f-]{36}$/);
  const runId = page.url().split('/').pop()!;
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Succeeded', { timeout: 60_000 });

  const [run] = await db()<{ correlation_id: string }[]>`select correlation_id from runs where id = ${runId}`;
  const id = run.correlation_id;
  const audit = await db()<{ correlation_id: string; field_name: string }[]>`
    select correlation_id, field_name from audit_log where new_value->>'runId' = ${runId}`;
  expect(audit).toEqual([{ correlation_id: id, field_name: 'run_now' }]);
  const logs = await db()<{ n: number }[]>`
    select count(*)::int as n from attempt_logs l join attempts a on a.id = l.attempt_id
     where a.run_id = ${runId} and l.data->>'correlationId' = ${id}`;
  expect(logs[0].n).toBe(1);
  await expect(page.getByText(id).first()).toBeVisible();

  const recorded = (await (await request.get(`${sandbox}/_admin/requests/recent?correlationId=${id}`)).json()) as {
    items: { system: string; path: string; traceparent: string | null }[];
  };
  expect(recorded.items.length).toBeGreaterThan(0);
  expect(recorded.items.every((r) => r.system === 'crm' && r.path.startsWith('/crm/v1/contacts'))).toBe(true);
  expect(recorded.items[0].traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
});
