import { readFileSync } from 'node:fs';
import path from 'node:path';
import { db, e2eState } from '../db';
import { expect, signIn, test } from '../fixtures';

const PAGES = [
  '/',
  '/integrations',
  '/integrations/accounting-export',
  '/integrations/accounting-export/config',
  '/integrations/accounting-export/history',
  '/integrations/accounting-export/credentials',
  '/integrations/accounting-export/mapping',
  '/integrations/crm-sync',
  '/integrations/crm-sync/config',
  '/integrations/crm-sync/credentials',
  '/runs',
  '/alerts',
  '/audit',
  '/users',
  '/api/integrations',
  '/api/runs',
];

test('distinctive secret values appear in no page, JSON response, run, log line or audit row', async ({ page, browser }) => {
  test.setTimeout(240_000);
  const marker = `zz${Date.now().toString(36)}`;
  const secrets = {
    clientSecret: `cs-${marker}-Qx7`,
    apiKey: `ak-${marker}-Vb2`,
    hmac: `hm-${marker}-Lp9-0123456789`,
    // A Slack incoming-webhook URL is itself the credential: its path must never show either.
    slackToken: `sl-${marker}-Wq4`,
  };
  const sandbox = e2eState().sandboxUrl;
  await signIn(page, 'ada', '/integrations/accounting-export/credentials');
  // Replace the export's client secret with a wrong, distinctive one, and run it: the token server refuses it.
  await page.getByTestId('secret-clientSecret').getByRole('button', { name: 'Replace' }).click();
  await page.getByLabel('New value').fill(secrets.clientSecret);
  await page.getByRole('button', { name: 'Save secret' }).click();
  await expect(page.getByText('clientSecret replaced')).toBeVisible();
  await page.goto('/integrations/crm-sync/credentials');
  await page.getByTestId('secret-apiKey').getByRole('button', { name: 'Replace' }).click();
  await page.getByLabel('New value').fill(secrets.apiKey);
  await page.getByRole('button', { name: 'Save secret' }).click();
  await expect(page.getByText('apiKey replaced')).toBeVisible();
  await page.goto('/alerts');
  await page.getByRole('button', { name: 'Add channel' }).click();
  await page.getByLabel('Name').fill(`Signed hook ${marker}`);
  await page.getByLabel('URL').fill('http://localhost:9/never');
  await page.getByLabel('HMAC signing secret (optional)').fill(secrets.hmac);
  await page.getByRole('button', { name: 'Save channel' }).click();
  await expect(page.getByText(`Channel Signed hook ${marker} added`)).toBeVisible();
  await page.getByRole('button', { name: 'Add channel' }).click();
  await page.getByLabel('Name').fill(`Team slack ${marker}`);
  await page.getByLabel('Type').selectOption('slack');
  await page.getByLabel('Webhook URL').fill(`${sandbox}/catcher/slack/${secrets.slackToken}`);
  await page.getByRole('button', { name: 'Save channel' }).click();
  await expect(page.getByText(`Channel Team slack ${marker} added`)).toBeVisible();
  // Shown as its host only; the edit form starts empty (blank keeps the URL); delivery still reaches it.
  const slackRow = page.getByRole('row', { name: new RegExp(`Team slack ${marker}`) });
  await expect(slackRow.getByText(`${new URL(sandbox).host}/…`)).toBeVisible();
  await slackRow.getByRole('button', { name: 'Edit' }).click();
  await expect(page.getByLabel('Webhook URL')).toHaveValue('');
  await page.getByRole('button', { name: 'Cancel' }).click();
  // The Slack receiver refuses the test alert quoting the path (its token) it was called on.
  await fetch(`${sandbox}/_admin/catcher/${secrets.slackToken}/fail`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ count: 1, status: 404, echo: true }),
  });
  await slackRow.getByRole('button', { name: 'Send test alert' }).click();
  await page.getByRole('button', { name: 'Send test', exact: true }).click();
  await expect
    .poll(
      async () => {
        const caught = await fetch(`${sandbox}/catcher/messages?name=${secrets.slackToken}`);
        return ((await caught.json()) as { data: unknown[] }).data.length;
      },
      { timeout: 60_000 },
    )
    .toBe(1);

  // Give the export something to book, so it must ask for a token: earlier specs may have
  // exported every invoice already, and a run with nothing to send never meets the token server.
  await db()`update invoices set updated_at = now() where id = (select id from invoices where status = 'posted' order by number limit 1)`;
  // The stand-ins refuse quoting what they received: the token endpoint the client secret, the CRM its X-Api-Key.
  const echo = (system: string) =>
    fetch(`${sandbox}/_admin/faults/${system}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ echoCredentials: { status: system === 'oauth' ? 401 : 403 } }),
    });
  await echo('oauth');
  await echo('crm');
  const runIds: string[] = [];
  for (const integration of ['accounting-export', 'crm-sync']) {
    const run = await page.request.post(`/api/integrations/${integration}/runs`, {
      data: { dryRun: false },
      headers: { Origin: new URL(page.url()).origin },
    });
    runIds.push((await run.json()).runId);
  }
  const [runId, crmRunId] = runIds;
  for (const id of runIds) {
    await expect
      .poll(async () => (await db()<{ status: string }[]>`select status from runs where id = ${id}`)[0]?.status, { timeout: 60_000 })
      .toBe('failed');
  }
  await fetch(`${sandbox}/_admin/faults`, { method: 'DELETE' });
  await expect
    .poll(
      async () => (await db()<{ n: number }[]>`select count(*)::int as n from alert_deliveries where error like '%told to fail%'`)[0].n,
      {
        timeout: 60_000,
      },
    )
    .toBeGreaterThan(0);

  const bodies: string[] = [];
  for (const p of [...PAGES, `/runs/${runId}`, `/api/runs/${runId}`, `/runs/${crmRunId}`, `/api/runs/${crmRunId}`]) {
    const res = await page.request.get(p);
    expect(res.status(), p).toBe(200);
    bodies.push(`${p}\n${await res.text()}`);
  }
  // What a viewer gets: the rendered page and its HTML with the inline RSC payload.
  const viewer = await browser.newContext({ baseURL: new URL(page.url()).origin, storageState: { cookies: [], origins: [] } });
  const viewerPage = await viewer.newPage();
  await signIn(viewerPage, 'vera', '/alerts');
  bodies.push(`/alerts as vera\n${await viewerPage.content()}`);
  const asVera = await viewerPage.request.get('/alerts');
  bodies.push(`/alerts as vera (HTML)\n${await asVera.text()}`);
  await viewer.close();
  const rows = await db()<{ t: string }[]>`
    select concat_ws(' ', (select string_agg(coalesce(old_value::text, '') || new_value::text, ' ') from audit_log),
                          (select string_agg(coalesce(error_message, '') || coalesce(result::text, '') || coalesce(plan::text, ''), ' ') from runs),
                          (select string_agg(message || coalesce(data::text, ''), ' ') from attempt_logs),
                          (select string_agg(coalesce(error, ''), ' ') from alert_deliveries),
                          (select string_agg(config::text, ' ') from alert_channels)) as t`;
  const logs = readFileSync(path.join(import.meta.dirname, '..', '..', 'test-results', 'e2e-server.log'), 'utf8');
  for (const value of Object.values(secrets)) {
    for (const body of bodies) expect(body.includes(value), `${body.split('\n')[0]} leaks a secret`).toBe(false);
    expect(rows[0].t.includes(value), 'the database outside the sealed columns leaks a secret').toBe(false);
    expect(logs.includes(value), 'the server logs leak a secret').toBe(false);
  }
  const [failed] = await db()<{ error_message: string }[]>`select error_message from runs where id = ${runId}`;
  expect(failed.error_message).toMatch(/invalid_client|credentials/i);
  // What was echoed is shown with the secret replaced, the rest kept.
  expect(failed.error_message).toContain("with client_secret '[redacted]'");
  const [crmFailed] = await db()<{ error_message: string }[]>`select error_message from runs where id = ${crmRunId}`;
  expect(crmFailed.error_message).toContain('X-Api-Key: [redacted]');
  const runPage = bodies.find((b) => b.startsWith(`/runs/${runId}\n`))!;
  expect(runPage).toContain('[redacted]');
  console.log(
    `secrets checked: ${Object.keys(secrets).length}, pages and JSON responses: ${bodies.length}, log bytes: ${logs.length}, leaks: 0`,
  );

  // Restore the sandbox credentials so later tests can talk to the stand-ins.
  for (const [integration, name, value] of [
    ['accounting-export', 'clientSecret', 'dev-accounting-secret'],
    ['crm-sync', 'apiKey', 'dev-crm-key'],
  ]) {
    await page.goto(`/integrations/${integration}/credentials`);
    await page.getByTestId(`secret-${name}`).getByRole('button', { name: 'Replace' }).click();
    await page.getByLabel('New value').fill(value);
    await page.getByRole('button', { name: 'Save secret' }).click();
    await expect(page.getByText(`${name} replaced`)).toBeVisible();
  }
});
