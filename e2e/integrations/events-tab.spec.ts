import { randomBytes, randomUUID } from 'node:crypto';
import type { Browser, Page } from '@playwright/test';
import type postgres from 'postgres';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';
import { addSigningSecretThroughConsole, PAYMENT_EVENTS, paymentBody, signDelivery } from '../webhooks';

/**
 * The Events tab of an integration that receives webhooks (issue 17), end to end: an admin adds a
 * signing secret (its value shown once), a signed payment event is POSTed to the real endpoint and
 * the real worker applies it to the host's invoice, a duplicate is counted and applies nothing, a
 * bad signature is listed among the refused deliveries with its reason, an operator replays the
 * event (audited, still applied once), and a viewer sees neither replay nor secret controls.
 */

const TAB = `/integrations/${PAYMENT_EVENTS}/events`;

async function card(page: Page, label: 'received' | 'duplicates-answered' | 'refused'): Promise<number> {
  return Number((await page.getByTestId(`events-${label}`).textContent())?.trim());
}

async function asUser(browser: Browser, username: 'oscar' | 'vera'): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, username, TAB);
  return page;
}

/** Reloads the tab until the event's row shows the state (the worker applies events in the background). */
async function expectState(page: Page, eventId: string, state: RegExp) {
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId(`event-${eventId}`).getByText(state, { exact: true }).first()).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 45_000, intervals: [500, 1_000] });
}

test('admin adds a secret; a signed event is received, processed, deduplicated, replayed by an operator; viewers only look', async ({
  page,
  request,
  browser,
}) => {
  test.setTimeout(150_000);
  await signIn(page, 'ada', TAB);
  const receivedBefore = await card(page, 'received');
  const duplicatesBefore = await card(page, 'duplicates-answered');
  const refusedBefore = await card(page, 'refused');

  // 1. The admin adds a signing secret: generated on the server, shown once, then only its label.
  const label = `provider-${Date.now().toString(36)}`;
  const secret = await addSigningSecretThroughConsole(page, label);
  await page.reload();
  await expect(page.getByTestId(`webhook-secret-${label}`)).toContainText('ada');
  expect(await page.content(), 'the secret is never shown again').not.toContain(secret.slice(6));
  const [added] = await db()<{ changed_by: string; new_value: { label: string } }[]>`
    select changed_by, new_value from audit_log where field_name = 'webhook_secret.added' order by id desc limit 1`;
  expect(added.new_value.label).toBe(label);
  expect(JSON.stringify(added.new_value)).not.toContain(secret.slice(6));

  // 2. A signed payment event for an invoice nobody has paid yet.
  const [invoice] = await db()<{ number: string }[]>`
    select number from invoices where payment_status is null order by number desc limit 1`;
  const eventId = `evt_tab_${randomUUID()}`;
  const paymentId = `pay_${randomUUID()}`;
  const delivery = signDelivery(
    secret,
    eventId,
    paymentBody(eventId, 'payment.succeeded', { payment_id: paymentId, invoice_number: invoice.number, amount: '321.50' }),
  );
  const res = await request.post(`/hooks/${PAYMENT_EVENTS}`, { headers: delivery.headers, data: delivery.body });
  expect(res.status(), await res.text()).toBe(200);
  expect(await res.json()).toMatchObject({ received: true, id: eventId, duplicate: false });

  // The tab shows it received (counted, listed with its type and ordering key), then processed.
  await page.reload();
  const row = page.getByTestId(`event-${eventId}`);
  await expect(row).toContainText('payment.succeeded');
  await expect(row).toContainText(`${paymentId} v1`);
  await expect(row.getByText(/^(pending|processed)$/)).toBeVisible();
  expect(await card(page, 'received')).toBe(receivedBefore + 1);
  await expectState(page, eventId, /^processed$/);
  await expect(page.getByTestId(`event-${eventId}`).getByRole('link', { name: 'run' })).toBeVisible();
  const [paid] = await db()<{ payment_status: string; payment_id: string }[]>`
    select payment_status, payment_id from invoices where number = ${invoice.number}`;
  expect(paid).toEqual({ payment_status: 'paid', payment_id: paymentId });

  // The payload is shown on demand.
  await page.getByTestId(`event-${eventId}`).getByText('show').click();
  await expect(page.getByTestId(`event-${eventId}`).locator('pre')).toContainText('"amount": "321.50"');

  // 3. The sender delivers the same event again: 200, duplicate, counted, nothing applied twice.
  const again = await request.post(`/hooks/${PAYMENT_EVENTS}`, { headers: delivery.headers, data: delivery.body });
  expect(await again.json()).toMatchObject({ received: true, id: eventId, duplicate: true });
  await page.reload();
  await expect(page.getByTestId(`event-${eventId}`)).toContainText('+1 duplicate');
  expect(await card(page, 'duplicates-answered')).toBe(duplicatesBefore + 1);
  expect(await card(page, 'received')).toBe(receivedBefore + 1);

  // 4. A delivery signed with a secret Junction does not hold: refused, listed with its reason.
  const forgedId = `evt_forged_${randomUUID()}`;
  const forged = signDelivery(
    `whsec_${randomBytes(24).toString('base64')}`,
    forgedId,
    paymentBody(forgedId, 'payment.refunded', { payment_id: paymentId, invoice_number: invoice.number, sequence: 2 }),
  );
  const refused = await request.post(`/hooks/${PAYMENT_EVENTS}`, { headers: forged.headers, data: forged.body, failOnStatusCode: false });
  expect(refused.status()).toBe(401);
  expect(await refused.json()).toEqual({ error: 'bad signature' });
  await page.reload();
  expect(await card(page, 'refused')).toBe(refusedBefore + 1);
  const refusedRow = page.getByRole('row').filter({ hasText: forgedId });
  await expect(refusedRow).toContainText('401');
  await expect(refusedRow).toContainText('bad signature');
  await expect(page.getByText(/\d+ × 401 bad signature/)).toBeVisible();
  await expect(page.getByTestId(`event-${forgedId}`)).toHaveCount(0);
  expect(
    (await db()<{ payment_status: string }[]>`select payment_status from invoices where number = ${invoice.number}`)[0].payment_status,
  ).toBe('paid');

  // 5. An operator replays the event: audited, taken by an event run, not applied again (already applied).
  const operator = await asUser(browser, 'oscar');
  await expect(operator.getByRole('button', { name: 'Add signing secret' })).toHaveCount(0);
  await expect(operator.getByRole('button', { name: 'Revoke' })).toHaveCount(0);
  await operator.getByTestId(`event-${eventId}`).getByRole('button', { name: 'Replay' }).click();
  await expect(operator.getByRole('alertdialog').or(operator.getByRole('dialog'))).toContainText(`Replay event ${eventId}?`);
  await operator.getByRole('alertdialog').or(operator.getByRole('dialog')).getByRole('button', { name: 'Replay' }).click();
  await expect(operator.getByText('Replay queued.')).toBeVisible();
  const [audit] = await db()<{ changed_by: string; new_value: { count: number; eventIds: string[]; runId: string } }[]>`
    select changed_by, new_value from audit_log where field_name = 'events.replay' order by id desc limit 1`;
  expect(audit.changed_by).toBe('oscar.operator@junction.local');
  expect(audit.new_value).toMatchObject({ count: 1, eventIds: [eventId] });
  await expectState(operator, eventId, /^processed$/);
  await expect(operator.getByTestId(`event-${eventId}`)).toContainText('replayed 1×');
  const [replayed] = await db()<{ run_id: string; replays: number }[]>`
    select run_id, replays from webhook_events where integration = ${PAYMENT_EVENTS} and event_id = ${eventId}`;
  expect(replayed).toEqual({ run_id: audit.new_value.runId, replays: 1 });
  const history = await db()`select 1 from invoice_payment_history where event_id = ${eventId}`;
  expect(history.length, 'applied once on the host despite the duplicate and the replay').toBe(1);

  // 6. A viewer sees the events and refusals, but no replay and no secret controls.
  const viewer = await asUser(browser, 'vera');
  await expect(viewer.getByTestId(`event-${eventId}`)).toBeVisible();
  await expect(viewer.getByRole('row').filter({ hasText: forgedId })).toContainText('bad signature');
  await expect(viewer.getByText('Signing secrets are managed by admins; their values are never shown.')).toBeVisible();
  await expect(viewer.getByRole('button', { name: /Replay/ })).toHaveCount(0);
  await expect(viewer.getByRole('button', { name: 'Add signing secret' })).toHaveCount(0);
  await expect(viewer.getByRole('button', { name: 'Revoke' })).toHaveCount(0);
  await expect(viewer.getByText(label)).toHaveCount(0);
  // Filtered, a viewer still gets no bulk replay.
  await viewer.goto(`${TAB}?type=payment.succeeded`);
  await expect(viewer.getByTestId(`event-${eventId}`)).toBeVisible();
  await expect(viewer.getByRole('button', { name: /Replay/ })).toHaveCount(0);

  await operator.context().close();
  await viewer.context().close();
});

test('an operator dismisses a failed event that can never be applied, with a reason; it is never replayed; viewers cannot', async ({
  page,
  request,
  browser,
}) => {
  test.setTimeout(120_000);
  await signIn(page, 'ada', TAB);
  const secret = await addSigningSecretThroughConsole(page, `dismiss-${Date.now().toString(36)}`);

  // A payment for an invoice the host does not have: the handler refuses it for good.
  const eventId = `evt_gone_${randomUUID()}`;
  const delivery = signDelivery(
    secret,
    eventId,
    paymentBody(eventId, 'payment.succeeded', { payment_id: `pay_${randomUUID()}`, invoice_number: `GONE-${randomUUID().slice(0, 8)}` }),
  );
  const res = await request.post(`/hooks/${PAYMENT_EVENTS}`, { headers: delivery.headers, data: delivery.body });
  expect(res.status(), await res.text()).toBe(200);

  const operator = await asUser(browser, 'oscar');
  await expectState(operator, eventId, /^failed$/);
  const row = operator.getByTestId(`event-${eventId}`);
  await expect(row).toContainText('does not exist on the host');

  // The dialog says what happens and will not go without a reason.
  await row.getByRole('button', { name: 'Dismiss' }).click();
  const dialog = operator.getByRole('dialog');
  await expect(dialog).toContainText(`Dismiss event ${eventId}?`);
  await expect(dialog).toContainText('It will not be applied, now or by any later replay');
  await expect(dialog).toContainText('the failed-events incident closes');
  const confirm = dialog.getByRole('button', { name: 'Dismiss event' });
  await expect(confirm).toBeDisabled();
  await dialog.getByLabel(/^Reason/).fill('   ');
  await expect(confirm).toBeDisabled();
  // Cancel changes nothing.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(row.getByText(/^failed$/)).toBeVisible();

  await row.getByRole('button', { name: 'Dismiss' }).click();
  await dialog.getByLabel(/^Reason/).fill('The invoice was deleted in the shop; nothing to apply.');
  await dialog.getByRole('button', { name: 'Dismiss event' }).click();
  await expect(operator.getByText(new RegExp(`^Event ${eventId} dismissed\\.`))).toBeVisible();
  // The row's Dismiss, which opened the dialog, is gone after the refresh: focus is on the page.
  await expect(row.getByRole('button', { name: 'Dismiss' })).toHaveCount(0);
  await expect(operator.locator('#main')).toBeFocused();

  // Listed as dismissed, with who and why; no Replay and no Dismiss on it any more.
  await expect(row.getByText(/^dismissed$/)).toBeVisible();
  await expect(operator.getByTestId(`event-${eventId}-dismissal`)).toContainText('Dismissed by oscar.operator@junction.local');
  await expect(operator.getByTestId(`event-${eventId}-dismissal`)).toContainText('The invoice was deleted in the shop; nothing to apply.');
  await expect(row.getByRole('button', { name: 'Replay' })).toHaveCount(0);
  await expect(row.getByRole('button', { name: 'Dismiss' })).toHaveCount(0);
  // The status filter finds it.
  await operator.goto(`${TAB}?status=dismissed`);
  await expect(operator.getByTestId(`event-${eventId}`)).toBeVisible();
  await expect(operator.getByRole('button', { name: 'Replay all matching' })).toHaveCount(0);

  const [audit] = await db()<{ changed_by: string; correlation_id: string; new_value: Record<string, unknown> }[]>`
    select changed_by, correlation_id, new_value from audit_log where field_name = 'events.dismiss' order by id desc limit 1`;
  expect(audit.changed_by).toBe('oscar.operator@junction.local');
  expect(audit.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
  expect(audit.new_value).toMatchObject({ eventId, reason: 'The invoice was deleted in the shop; nothing to apply.' });
  const [stored] = await db()<{ status: string; dismissed_by: string; replays: number }[]>`
    select status, dismissed_by, replays from webhook_events where integration = ${PAYMENT_EVENTS} and event_id = ${eventId}`;
  expect(stored).toEqual({ status: 'dismissed', dismissed_by: 'oscar.operator@junction.local', replays: 0 });

  // A viewer sees the dismissal but gets no Dismiss button on failed events.
  const viewer = await asUser(browser, 'vera');
  await viewer.goto(`${TAB}?status=failed`);
  await expect(viewer.getByRole('button', { name: 'Dismiss' })).toHaveCount(0);
  await viewer.goto(`${TAB}?status=dismissed`);
  await expect(viewer.getByTestId(`event-${eventId}-dismissal`)).toContainText('The invoice was deleted in the shop');

  await operator.context().close();
  await viewer.context().close();
});

test('pending events whose event run was cancelled are shown waiting with no run, and an operator replays them', async ({ browser }) => {
  test.setTimeout(120_000);
  // Other tests' deliveries settle first: with a run active, the events are not waiting for nothing.
  await expect(async () => {
    const active = await db()`
      select 1 from runs where integration = ${PAYMENT_EVENTS} and status in ('queued', 'running', 'retrying', 'deferred') and not dry_run`;
    expect(active).toHaveLength(0);
  }).toPass({ timeout: 45_000, intervals: [500, 1_000] });

  // What a cancelled event run leaves (lib/platform/intake/stranded.test.ts drives the cancel itself):
  // a received event, pending, with no run left to apply it.
  const [invoice] = await db()<{ number: string }[]>`
    select number from invoices where payment_status is null order by number desc limit 1`;
  const eventId = `evt_waiting_${randomUUID()}`;
  const paymentId = `pay_${randomUUID()}`;
  const body = JSON.parse(paymentBody(eventId, 'payment.succeeded', { payment_id: paymentId, invoice_number: invoice.number })) as object;
  await db()`
    insert into webhook_events (integration, event_id, event_type, ordering_key, version, payload)
    values (${PAYMENT_EVENTS}, ${eventId}, 'payment.succeeded', ${paymentId}, 1, ${db().json(body as postgres.JSONValue)})`;

  // A viewer is told, but gets no button.
  const viewer = await asUser(browser, 'vera');
  await expect(viewer.getByTestId('events-waiting-without-run')).toContainText(/pending events? waits? with no run queued to apply/);
  await expect(viewer.getByRole('button', { name: /Replay/ })).toHaveCount(0);

  const operator = await asUser(browser, 'oscar');
  const banner = operator.getByTestId('events-waiting-without-run');
  await expect(banner).toContainText('their event run was cancelled');
  await expect(operator.getByTestId(`event-${eventId}`).getByRole('button', { name: 'Replay' })).toBeVisible();
  await banner.getByRole('button', { name: 'Replay waiting events' }).click();
  await operator.getByRole('alertdialog').or(operator.getByRole('dialog')).getByRole('button', { name: 'Replay' }).click();
  await expect(operator.getByText('Replay queued.')).toBeVisible();

  await expectState(operator, eventId, /^processed$/);
  await expect(operator.getByTestId('events-waiting-without-run')).toHaveCount(0);
  const [paid] = await db()<{ payment_status: string }[]>`select payment_status from invoices where number = ${invoice.number}`;
  expect(paid.payment_status).toBe('paid');
  const [audit] = await db()<{ changed_by: string; new_value: { filter: { status: string } } }[]>`
    select changed_by, new_value from audit_log where field_name = 'events.replay' order by id desc limit 1`;
  expect(audit).toMatchObject({ changed_by: 'oscar.operator@junction.local', new_value: { filter: { status: 'pending' } } });

  await operator.context().close();
  await viewer.context().close();
});

test('the signing-secret dialog says what a label lacks under the label, and Cancel closes it without a secret', async ({ page }) => {
  await signIn(page, 'ada', `/integrations/${PAYMENT_EVENTS}/events`);
  const before = await db()<{ n: number }[]>`select count(*)::int as n from webhook_secrets where integration = ${PAYMENT_EVENTS}`;
  await page.getByRole('button', { name: 'Add signing secret' }).click();
  const dialog = page.getByRole('dialog');
  // Before: the button was disabled without a word for an empty label, and a refusal was shown under Value.
  await dialog.getByRole('button', { name: 'Add secret' }).click();
  await expect(dialog.locator('#secret-label-error')).toHaveText(/^is required: name the secret/);
  await expect(dialog.getByLabel('Label')).toHaveAttribute('aria-invalid', 'true');
  await expect(dialog.getByLabel('Value (leave empty to generate one)')).not.toHaveAttribute('aria-invalid', 'true');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  const after = await db()<{ n: number }[]>`select count(*)::int as n from webhook_secrets where integration = ${PAYMENT_EVENTS}`;
  expect(after[0].n).toBe(before[0].n);
});
