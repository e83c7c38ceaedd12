import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFailedMessage, standardWebhooksSecret, testMessage } from './messages';
import { decodeQuotedPrintable, startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from './test-receivers';
import { parseRetryAfter, sendToChannel } from './transports';

const message = runFailedMessage({
  incidentId: '5d7f3f0e-41c8-4a55-9d43-3a0f0c1b2a10',
  appUrl: 'http://localhost:3000',
  integration: 'accounting-export',
  runId: '0b1e8a52-7d0c-4f3e-9a41-2c6f4b7d9e11',
  attempts: 3,
  error: 'socket hang up',
  errorClass: 'TransientError',
  reason: 'retries_exhausted',
  startedAt: '2026-05-01T02:00:00.000Z',
  at: '2026-05-01T02:08:00.000Z',
  correlationId: 'corr-7',
});
const alertId = '7a6f0c2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b';

let http: HttpReceiver;
let smtp: SmtpReceiver;
beforeAll(async () => {
  http = await startHttpReceiver();
  smtp = await startSmtpReceiver({ user: 'alerts', password: 'smtp-pw-123' });
});
afterAll(async () => {
  await http.close();
  await smtp.close();
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('alert transports', () => {
  it('posts the webhook JSON signed like Standard Webhooks: id, timestamp and body', async () => {
    const secret = 'receiver-shared-secret-123';
    const before = Math.floor(Date.now() / 1000);
    const outcome = await sendToChannel(
      { id: 'c', name: 'hook', type: 'webhook', url: `${http.url}/signed`, hmacSecret: secret },
      message,
      { alertId },
    );
    expect(outcome).toEqual({ ok: true, responseCode: 200, error: null });
    const [req] = http.on('/signed');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-junction-alert-id']).toBe(alertId);
    expect(req.headers['x-junction-event']).toBe('incident.opened');
    expect(req.headers['webhook-id']).toBe(alertId);
    const timestamp = Number(req.headers['webhook-timestamp']);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    // base64 HMAC-SHA256 of `id.timestamp.body` under the secret's bytes, as `v1,<signature>`.
    const expected = createHmac('sha256', secret).update(`${alertId}.${timestamp}.${req.body}`).digest('base64');
    expect(req.headers['webhook-signature']).toBe(`v1,${expected}`);
    // The same check with the Standard Webhooks package, given the secret in its format.
    expect(() => new Webhook(standardWebhooksSecret(secret)).verify(req.body, req.headers as Record<string, string>)).not.toThrow();
    expect(req.json).toMatchObject({ integration: 'accounting-export', runUrl: message.runUrl, attempts: 3, correlationId: 'corr-7' });
  });

  it('lets a verifying receiver refuse an old delivery replayed, a re-stamped one and a tampered body', async () => {
    const secret = 'receiver-shared-secret-456';
    let skewMs = 0;
    const receiver = await startHttpReceiver({ signingSecret: secret, now: () => Date.now() + skewMs });
    try {
      const target = { id: 'c', name: 'hook', type: 'webhook' as const, url: `${receiver.url}/hook`, hmacSecret: secret };
      expect(await sendToChannel(target, message, { alertId })).toEqual({ ok: true, responseCode: 200, error: null });
      const [delivered] = receiver.requests;
      expect(delivered.refused).toBeNull();
      const resend = (body: string, headers: Record<string, string> = {}) =>
        fetch(`${receiver.url}/hook`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'webhook-id': String(delivered.headers['webhook-id']),
            'webhook-timestamp': String(delivered.headers['webhook-timestamp']),
            'webhook-signature': String(delivered.headers['webhook-signature']),
            ...headers,
          },
          body,
        });
      // A captured delivery replayed within the window verifies (the receiver drops it by webhook-id).
      expect((await resend(delivered.body)).status).toBe(200);
      // The same bytes and headers six minutes later: refused for its timestamp.
      skewMs = 6 * 60_000;
      const late = await resend(delivered.body);
      expect([late.status, await late.text()]).toEqual([401, 'refused: stale timestamp']);
      skewMs = 0;
      // Re-stamping a captured delivery breaks its signature: the timestamp is signed.
      const moved = await resend(delivered.body, { 'webhook-timestamp': String(Number(delivered.headers['webhook-timestamp']) + 60) });
      expect([moved.status, await moved.text()]).toEqual([401, 'refused: bad signature']);
      // A tampered body, or the body under another alert's id: the signature no longer matches.
      const tampered = delivered.body.replace('"attempts":3', '"attempts":1');
      expect(tampered).not.toBe(delivered.body);
      const changed = await resend(tampered);
      expect([changed.status, await changed.text()]).toEqual([401, 'refused: bad signature']);
      const otherId = await resend(delivered.body, { 'webhook-id': '00000000-0000-4000-8000-000000000000' });
      expect([otherId.status, await otherId.text()]).toEqual([401, 'refused: bad signature']);
      expect(receiver.requests.map((r) => r.refused)).toEqual([
        null,
        null,
        'stale timestamp',
        'bad signature',
        'bad signature',
        'bad signature',
      ]);
    } finally {
      await receiver.close();
    }
  });

  it('sends no signature header when the webhook has no secret', async () => {
    await sendToChannel({ id: 'c', name: 'hook', type: 'webhook', url: `${http.url}/unsigned`, hmacSecret: null }, message, { alertId });
    const [req] = http.on('/unsigned');
    expect(req.headers['webhook-signature']).toBeUndefined();
    expect(req.headers['x-junction-signature']).toBeUndefined();
    expect(req.headers['x-junction-alert-id']).toBe(alertId);
  });

  it('posts the Slack incoming-webhook shape', async () => {
    await sendToChannel({ id: 'c', name: 'slack', type: 'slack', url: `${http.url}/slack` }, message, { alertId });
    const payload = http.on('/slack')[0].json as { text: string; blocks: { type: string }[] };
    expect(Object.keys(payload).sort()).toEqual(['blocks', 'text']);
    expect(payload.text).toContain('accounting-export: run failed');
    expect(payload.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'section', 'actions']);
  });

  it('reports the status and the start of the body when the receiver refuses', async () => {
    http.always('/refuses', 502);
    const outcome = await sendToChannel({ id: 'c', name: 'hook', type: 'webhook', url: `${http.url}/refuses`, hmacSecret: null }, message, {
      alertId,
    });
    expect(outcome).toEqual({ ok: false, responseCode: 502, error: 'receiver answered HTTP 502 Bad Gateway: receiver says no (502)' });
  });

  it('reports a refused connection without the URL (it may hold a token)', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/services/T000/B000/very-secret-token`;
    const outcome = await sendToChannel({ id: 'c', name: 'slack', type: 'slack', url }, message, { alertId, timeoutMs: 3000 });
    expect(outcome).toMatchObject({ ok: false, responseCode: null, error: 'request failed: ECONNREFUSED' });
    expect(outcome.error).not.toContain('very-secret-token');
  });

  it('e-mails plain text and HTML through a real SMTP server, logging in with the password', async () => {
    const outcome = await sendToChannel(
      {
        id: 'c',
        name: 'mail',
        type: 'email',
        to: ['oncall@example.com', 'lead@example.com'],
        from: 'junction@example.com',
        smtp: { host: '127.0.0.1', port: smtp.port, secure: false, user: 'alerts', password: 'smtp-pw-123' },
      },
      message,
      { alertId },
    );
    expect(outcome).toEqual({ ok: true, responseCode: 250, error: null });
    const [mail] = smtp.messages;
    expect(mail).toMatchObject({ user: 'alerts', from: 'junction@example.com', to: ['oncall@example.com', 'lead@example.com'] });
    const text = decodeQuotedPrintable(mail.raw);
    expect(text).toContain('Subject: [Junction] accounting-export: run failed (retries exhausted)');
    expect(text).toContain('multipart/alternative');
    expect(text).toContain(`Run: ${message.runUrl}`);
    expect(text).toContain(`<a href="${message.runUrl}">`);
  });

  it('reports an SMTP login failure with the server reply code', async () => {
    const outcome = await sendToChannel(
      {
        id: 'c',
        name: 'mail',
        type: 'email',
        to: ['oncall@example.com'],
        from: 'junction@example.com',
        smtp: { host: '127.0.0.1', port: smtp.port, secure: false, user: 'alerts', password: 'wrong-password' },
      },
      testMessage({ channelName: 'mail', actor: 'a', at: new Date().toISOString() }),
      { alertId },
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.responseCode).toBe(535);
    expect(outcome.error).toMatch(/^SMTP delivery to 127\.0\.0\.1:\d+ failed \(EAUTH\)/);
    expect(outcome.error).not.toContain('wrong-password');
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-12-04T12:00:00.000Z');
  it('reads delay-seconds and an HTTP-date, never negative, and nothing else', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Fri, 04 Dec 2026 12:01:30 GMT', now)).toBe(90);
    expect(parseRetryAfter('Fri, 04 Dec 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});
