import { expect, type Page } from '@playwright/test';
import { Webhook } from 'standardwebhooks';
import { db } from './db';

/** Signed deliveries to `POST /hooks/<integration>`, as a Standard Webhooks sender makes them. */

export const PAYMENT_EVENTS = 'payment-events';

/**
 * Adds a signing secret the way an admin does: the Events tab's dialog, value left empty so the
 * server generates it and shows it once. Returns the value (the page must be signed in as admin).
 */
export async function addSigningSecretThroughConsole(page: Page, label: string, integration = PAYMENT_EVENTS): Promise<string> {
  await page.goto(`/integrations/${integration}/events`);
  await page.getByRole('button', { name: 'Add signing secret' }).click();
  await page.getByLabel('Label').fill(label);
  await page.getByRole('button', { name: 'Add secret' }).click();
  const shown = page.getByTestId('generated-secret');
  await expect(shown).toHaveText(/^whsec_[A-Za-z0-9+/]+=*$/);
  const secret = (await shown.textContent())!.trim();
  // Read from the page, not the clipboard.
  await page.getByRole('button', { name: 'Close without copying' }).click();
  await expect(page.getByTestId(`webhook-secret-${label}`)).toBeVisible();
  return secret;
}

export interface SignedDelivery {
  headers: Record<string, string>;
  body: string;
}

/** A Standard Webhooks delivery of `body` (raw text, sent byte for byte) signed with `secret`. */
export function signDelivery(secret: string, id: string, body: string, at = new Date()): SignedDelivery {
  const signature = new Webhook(secret).sign(id, at, body);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signature,
    },
  };
}

/** A payment event body as the provider sends it. */
export function paymentBody(
  id: string,
  type: 'payment.succeeded' | 'payment.refunded',
  data: { payment_id: string; invoice_number: string; amount?: string; sequence?: number },
): string {
  return JSON.stringify({
    id,
    type,
    created: Math.floor(Date.now() / 1000),
    data: { amount: '120.00', currency: 'eur', sequence: 1, ...data },
  });
}

export interface IntakeCounts {
  events: number;
  duplicates: number;
  rejections: number;
  eventRuns: number;
  secrets: number;
}

/** What the intake can write: events (and their duplicate counters), refusals, event runs, secrets. */
export async function intakeCounts(): Promise<IntakeCounts> {
  const [row] = await db()<{ events: string; duplicates: string; rejections: string; event_runs: string; secrets: string }[]>`
    select (select count(*) from webhook_events) as events,
           (select coalesce(sum(duplicates), 0) from webhook_events) as duplicates,
           (select count(*) from webhook_rejections) as rejections,
           (select count(*) from runs where trigger = 'event') as event_runs,
           (select count(*) from webhook_secrets) as secrets`;
  return {
    events: Number(row.events),
    duplicates: Number(row.duplicates),
    rejections: Number(row.rejections),
    eventRuns: Number(row.event_runs),
    secrets: Number(row.secrets),
  };
}
