import nodemailer from 'nodemailer';
import { SecretRedactor } from '../redaction';
import type { ChannelTarget } from './channel-input';
import { emailContent, shortError, slackPayload, webhookBody, webhookSignature, type AlertMessage } from './messages';
import { webhookUrlSecrets } from './webhook-url';

/**
 * Sends one alert message over one channel, once. Retries are the delivery job's business; this
 * only reports what happened: the HTTP or SMTP response code and an error that names no secret
 * (webhook URLs and SMTP passwords never appear in it).
 */

export interface SendOutcome {
  ok: boolean;
  /** HTTP status, or the SMTP reply code. */
  responseCode: number | null;
  error: string | null;
  /** A 429 or 503 with Retry-After: how long the receiver asked to wait, seconds (uncapped). */
  retryAfterSeconds?: number;
  /**
   * Why no retry can succeed, when none can: an HTTP 4xx other than 408 and 429 (the receiver
   * refuses this request: wrong URL, bad signature, gone), a permanent SMTP rejection (5xx).
   */
  permanent?: string;
}

/**
 * Retry-After (RFC 9110): delay-seconds, or an HTTP-date; seconds from `now`, never negative.
 * Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number.parseInt(text, 10);
  // An HTTP-date names its day and month ("Fri, 04 Dec 2026 12:00:00 GMT"); Date.parse reads "-5" too.
  const at = /[a-z]/i.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

export interface SendOptions {
  alertId: string;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

function networkError(error: unknown, what: string): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `${what} timed out`;
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `${what} failed: ${cause ?? e?.message ?? String(error)}`;
}

async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<SendOutcome> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Junction-Alerts/1', ...headers },
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return { ok: false, responseCode: null, error: networkError(error, 'request') };
  }
  const text = await response.text().catch(() => '');
  if (response.ok) return { ok: true, responseCode: response.status, error: null };
  const detail = shortError(text, 200);
  const status = response.status;
  const retryAfterSeconds = status === 429 || status === 503 ? parseRetryAfter(response.headers.get('retry-after')) : undefined;
  const refused = status >= 400 && status < 500 && status !== 408 && status !== 429;
  return {
    ok: false,
    responseCode: status,
    error: `receiver answered HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}${detail ? `: ${detail}` : ''}`,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    ...(refused ? { permanent: `HTTP ${status} is the receiver refusing this request, a retry would get the same answer` } : {}),
  };
}

async function sendEmail(
  target: Extract<ChannelTarget, { type: 'email' }>,
  message: AlertMessage,
  timeoutMs: number,
): Promise<SendOutcome> {
  const transport = nodemailer.createTransport({
    host: target.smtp.host,
    port: target.smtp.port,
    secure: target.smtp.secure,
    auth: target.smtp.user ? { user: target.smtp.user, pass: target.smtp.password ?? '' } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs * 2,
  });
  const content = emailContent(message);
  try {
    const info = await transport.sendMail({
      from: target.from,
      to: target.to,
      subject: content.subject,
      text: content.text,
      html: content.html,
    });
    const code = Number.parseInt(String(info.response ?? '').slice(0, 3), 10);
    return { ok: true, responseCode: Number.isFinite(code) ? code : null, error: null };
  } catch (error) {
    const e = error as { responseCode?: number; response?: string; code?: string; message?: string };
    const detail = shortError(e.response ?? e.message ?? String(error), 300);
    const code = typeof e.responseCode === 'number' ? e.responseCode : null;
    return {
      ok: false,
      responseCode: code,
      error: `SMTP delivery to ${target.smtp.host}:${target.smtp.port} failed${e.code ? ` (${e.code})` : ''}: ${detail}`,
      // 5xx is the server's permanent refusal (unknown recipient, relaying denied, bad login); 4xx
      // (mailbox busy, greylisting) and network failures are worth another try.
      ...(code !== null && code >= 500 && code < 600 ? { permanent: `SMTP ${code} is a permanent rejection` } : {}),
    };
  } finally {
    transport.close();
  }
}

/**
 * A channel's secrets, to scrub from what a receiver answered: a Slack webhook URL (whole, its
 * path, and its last segment, the token part of Slack's and most incoming-webhook URLs: receivers
 * quote the path they were called on), a webhook's HMAC key and the masked parts of its URL, the
 * SMTP password.
 */
export function channelRedactor(target: ChannelTarget): SecretRedactor {
  switch (target.type) {
    case 'slack': {
      const redactor = new SecretRedactor([target.url]);
      try {
        const url = new URL(target.url);
        const last = url.pathname.split('/').filter(Boolean).at(-1);
        redactor.add(`${url.pathname}${url.search}`, last, last && decodeURIComponentSafe(last), url.search.slice(1));
      } catch {
        // Not a URL: the whole value is all there is to scrub.
      }
      return redactor;
    }
    case 'webhook':
      // The parts of its URL the console masks (webhook-url.ts): a receiver may quote the path.
      return new SecretRedactor([target.hmacSecret, ...webhookUrlSecrets(target.url)]);
    case 'email':
      return new SecretRedactor([target.smtp.password]);
  }
}

function decodeURIComponentSafe(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** Sends once; the outcome's error is scrubbed of the channel's secrets (it is recorded and shown). */
export async function sendToChannel(target: ChannelTarget, message: AlertMessage, options: SendOptions): Promise<SendOutcome> {
  const outcome = await sendOnce(target, message, options);
  return outcome.error === null ? outcome : { ...outcome, error: channelRedactor(target).scrub(outcome.error) };
}

async function sendOnce(target: ChannelTarget, message: AlertMessage, options: SendOptions): Promise<SendOutcome> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  switch (target.type) {
    case 'webhook': {
      // Standard Webhooks headers: the alert id (the same on every try: a receiver drops repeats by
      // it) and this try's time, both signed with the body, so an old delivery can be refused.
      const body = webhookBody(message);
      const timestamp = Math.floor(Date.now() / 1000);
      const headers: Record<string, string> = {
        'x-junction-event': message.event,
        'x-junction-alert-id': options.alertId,
        'webhook-id': options.alertId,
        'webhook-timestamp': String(timestamp),
      };
      if (target.hmacSecret)
        headers['webhook-signature'] = webhookSignature({ id: options.alertId, timestamp, body, secret: target.hmacSecret });
      return postJson(target.url, body, headers, timeoutMs);
    }
    case 'slack':
      return postJson(target.url, JSON.stringify(slackPayload(message)), {}, timeoutMs);
    case 'email':
      return sendEmail(target, message, timeoutMs);
  }
}
