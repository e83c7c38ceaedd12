import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  alreadyRecoveredMessage,
  auditChainBrokenMessage,
  breakerOpenedMessage,
  emailContent,
  eventsFailedMessage,
  recoveredMessage,
  runFailedMessage,
  slackPayload,
  standardWebhooksSecret,
  webhookBody,
  webhookSignature,
} from './messages';

const failedParams = {
  incidentId: '5d7f3f0e-41c8-4a55-9d43-3a0f0c1b2a10',
  appUrl: 'http://localhost:3000/',
  integration: 'accounting-export',
  runId: '0b1e8a52-7d0c-4f3e-9a41-2c6f4b7d9e11',
  attempts: 4,
  error: 'POST /journal answered 503 <html>busy</html>',
  errorClass: 'TransientHttpError',
  reason: 'retries_exhausted' as const,
  startedAt: '2026-05-01T02:00:00.000Z',
  at: '2026-05-01T02:08:00.000Z',
  correlationId: 'corr-42',
};
const failed = runFailedMessage(failedParams);

describe('alert messages', () => {
  it('names the database, not the workers, when a run was cut off by the database until the cap', () => {
    const base = {
      ...failedParams,
      attempts: 0,
      error: 'database unavailable: terminating connection (57P01)',
      reason: 'interrupted' as const,
    };
    const byDatabase = runFailedMessage({ ...base, errorClass: 'DatabaseUnavailable' });
    expect(byDatabase.title).toBe('accounting-export: run failed (interrupted too often: the database kept cutting it off)');
    expect(byDatabase.text).not.toMatch(/handler that exhausts memory|Look at the worker logs/);
    expect(byDatabase.text).toMatch(/Look at the database/);
    const byWorkers = runFailedMessage({ ...base, errorClass: 'WorkerLost' });
    expect(byWorkers.title).toBe('accounting-export: run failed (interrupted too often: its workers kept stopping)');
  });

  it('say what failed, where, since when, how many attempts, the last error, the correlation id and the run link', () => {
    expect(failed).toMatchObject({
      event: 'incident.opened',
      kind: 'run_failed',
      integration: 'accounting-export',
      runUrl: 'http://localhost:3000/runs/0b1e8a52-7d0c-4f3e-9a41-2c6f4b7d9e11',
      since: '2026-05-01T02:00:00.000Z',
      attempts: 4,
      lastError: 'TransientHttpError: POST /journal answered 503 <html>busy</html>',
      correlationId: 'corr-42',
    });
    for (const part of [
      "Integration 'accounting-export' failed",
      'after 4 attempts (retries exhausted)',
      'Failing since: 2026-05-01 02:00:00 UTC',
      'Last error: TransientHttpError: POST /journal answered 503',
      'Correlation id: corr-42',
      'Run: http://localhost:3000/runs/0b1e8a52-7d0c-4f3e-9a41-2c6f4b7d9e11',
    ]) {
      expect(failed.text).toContain(part);
    }
  });

  it('carry every field of the webhook contract', () => {
    const body = JSON.parse(webhookBody(failed));
    for (const key of [
      'event',
      'integration',
      'title',
      'text',
      'runId',
      'runUrl',
      'correlationId',
      'since',
      'attempts',
      'lastError',
      'at',
    ]) {
      expect(body).toHaveProperty(key);
    }
  });

  it('sign the id, the timestamp and the exact body bytes with HMAC-SHA256, as Standard Webhooks does', () => {
    const body = webhookBody(failed);
    const id = '7a6f0c2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b';
    const expected = createHmac('sha256', 'secret-key-0123456789').update(`${id}.1780000000.${body}`).digest('base64');
    expect(webhookSignature({ id, timestamp: 1780000000, body, secret: 'secret-key-0123456789' })).toBe(`v1,${expected}`);
    expect(standardWebhooksSecret('secret-key-0123456789')).toBe(`whsec_${Buffer.from('secret-key-0123456789').toString('base64')}`);
  });

  it('render for Slack as text plus blocks, escaping markup and linking the run', () => {
    const payload = slackPayload(failed);
    expect(payload.text).toContain('accounting-export: run failed');
    const blocks = payload.blocks as { type: string; text?: { text: string }; elements?: { url: string }[] }[];
    expect(blocks[0].type).toBe('header');
    expect(blocks[0].text!.text.length).toBeLessThanOrEqual(150);
    expect(JSON.stringify(blocks)).toContain('&lt;html&gt;busy&lt;/html&gt;');
    expect(JSON.stringify(blocks)).not.toContain('<html>');
    expect(blocks.find((b) => b.type === 'actions')?.elements?.[0].url).toBe(failed.runUrl);
  });

  it('render for e-mail as plain text and escaped HTML with the link', () => {
    const mail = emailContent(failed);
    expect(mail.subject).toBe('[Junction] accounting-export: run failed (retries exhausted)');
    expect(mail.text).toBe(failed.text);
    expect(mail.html).toContain('&lt;html&gt;busy');
    expect(mail.html).toContain(`<a href="${failed.runUrl}">`);
  });

  it('word a breaker and a recovery so the reader knows what to expect next', () => {
    const breaker = breakerOpenedMessage({
      incidentId: 'i',
      appUrl: 'http://localhost:3000',
      integration: 'crm-sync',
      breakerKey: 'crm',
      error: 'ECONNRESET',
      openUntil: '2026-05-01T02:10:00.000Z',
      at: '2026-05-01T02:09:00.000Z',
      correlationId: null,
    });
    expect(breaker.text).toContain("circuit breaker for 'crm' opened");
    expect(breaker.text).toContain('No request is sent until 2026-05-01 02:10:00 UTC');
    expect(breaker.consoleUrl).toBe('http://localhost:3000/integrations/crm-sync');

    const recovered = recoveredMessage({
      incidentId: 'i',
      kind: 'run_failed',
      appUrl: 'http://localhost:3000',
      integration: 'crm-sync',
      openedAt: '2026-05-01T02:00:00.000Z',
      eventCount: 5,
      lastError: 'boom',
      runId: 'r-9',
      at: '2026-05-01T03:00:00.000Z',
      correlationId: 'c',
    });
    expect(recovered).toMatchObject({
      event: 'incident.recovered',
      title: 'crm-sync: recovered',
      eventCount: 5,
      runUrl: 'http://localhost:3000/runs/r-9',
    });
    expect(recovered.text).toContain('open since 2026-05-01 02:00:00 UTC is closed after 5 failures');
  });

  it('count failed runs and failed events apart in a recovery, not as one number of failures', () => {
    const base = {
      incidentId: 'i',
      kind: 'events_failed' as const,
      appUrl: 'http://localhost:3000',
      integration: 'payment-events',
      openedAt: '2026-05-01T02:00:00.000Z',
      lastError: 'boom',
      runId: 'r-9',
      at: '2026-05-01T03:00:00.000Z',
      correlationId: null,
    };
    // One event run failed and left its events to a second, which failed too and marked 2 events.
    const merged = recoveredMessage({ ...base, eventCount: 3, failedRuns: 2, failedEvents: 2 });
    expect(merged.text).toContain('is closed after 2 failed runs and 2 failed events.');
    expect(merged.text).not.toContain('3 failures');
    expect(merged).toMatchObject({ eventCount: 3, failedRuns: 2, failedEvents: 2 });
    expect(recoveredMessage({ ...base, eventCount: 1, failedRuns: 1, failedEvents: 0 }).text).toContain('closed after 1 failed run.');
    expect(recoveredMessage({ ...base, eventCount: 3, failedRuns: 0, failedEvents: 3 }).text).toContain('closed after 3 failed events.');
    // Not known apart (an incident from before they were counted apart): the plain count, no breakdown.
    const older = recoveredMessage({ ...base, eventCount: 3, failedRuns: null, failedEvents: null });
    expect(older.text).toContain('closed after 3 failures.');
    expect(older).not.toHaveProperty('failedRuns');
  });

  it('say what failed, since when, and that it had already recovered, on every channel, when reported after the recovery', () => {
    const late = alreadyRecoveredMessage(failed, { kind: 'run_failed', recoveredAt: '2026-05-01T02:30:00.000Z' });
    expect(late).toMatchObject({
      event: 'incident.recovered',
      kind: 'run_failed',
      title: 'accounting-export: run failed (retries exhausted), already recovered',
      since: '2026-05-01T02:00:00.000Z',
      at: '2026-05-01T02:30:00.000Z',
      attempts: 4,
      runUrl: failed.runUrl,
      lastError: failed.lastError,
    });
    for (const part of [
      "Integration 'accounting-export' failed",
      'Failing since: 2026-05-01 02:00:00 UTC',
      'Already recovered at 2026-05-01 02:30:00 UTC: runs succeed again.',
      'nothing is left open',
    ]) {
      expect(late.text).toContain(part);
    }
    // Nothing is open to count further failures on.
    expect(late.text).not.toContain('Further failures are counted');
    expect(JSON.parse(webhookBody(late))).toMatchObject({ event: 'incident.recovered', since: late.since, at: late.at });
    expect(slackPayload(late).text).toBe(':white_check_mark: accounting-export: run failed (retries exhausted), already recovered');
    expect(JSON.stringify(slackPayload(late).blocks)).toContain('Already recovered at 2026-05-01 02:30:00 UTC');
    const mail = emailContent(late);
    expect(mail.subject).toBe('[Junction] accounting-export: run failed (retries exhausted), already recovered');
    expect(mail.html).toContain('<p>Already recovered at 2026-05-01 02:30:00 UTC: runs succeed again.</p>');
    expect(mail.html).toContain(`<a href="${failed.runUrl}">`);
  });

  it('name the event run, its error and how many events it left failed, with the first ids, in one alert', () => {
    const message = eventsFailedMessage({
      incidentId: '5d7f3f0e-41c8-4a55-9d43-3a0f0c1b2a10',
      appUrl: 'http://localhost:3000',
      integration: 'payment-events',
      runId: '0b1e8a52-7d0c-4f3e-9a41-2c6f4b7d9e11',
      eventId: 'evt_1',
      eventType: 'payment.succeeded',
      reason: 'not applied: its event run failed after 3 attempts: 503',
      count: 500,
      eventIds: ['evt_1', 'evt_2', 'evt_3'],
      runFailure: {
        attempts: 3,
        error: 'POST /payments answered 503',
        errorClass: 'TransientHttpError',
        startedAt: '2026-05-01T02:00:00.000Z',
      },
      at: '2026-05-01T02:08:00.000Z',
      correlationId: 'corr-7',
    });
    expect(message).toMatchObject({
      event: 'incident.opened',
      kind: 'events_failed',
      title: 'payment-events: event run failed, 500 events not applied',
      runUrl: 'http://localhost:3000/runs/0b1e8a52-7d0c-4f3e-9a41-2c6f4b7d9e11',
      consoleUrl: 'http://localhost:3000/integrations/payment-events/events?status=failed',
      since: '2026-05-01T02:00:00.000Z',
      attempts: 3,
      lastError: 'TransientHttpError: POST /payments answered 503',
      eventCount: 500,
    });
    expect(message.text).toContain('left 500 events (evt_1, evt_2, evt_3, and 497 more) not applied');
    expect(message.text).toMatch(/Replay the failed events/);
  });

  it('tell configuration changed around the audit trail apart from tampering with the trail', () => {
    const base = { incidentId: 'i-1', appUrl: 'http://localhost:3000', integration: 'audit-trail', at: '2026-12-05T08:00:00.000Z' };
    const drift = auditChainBrokenMessage({
      ...base,
      problem: 'accounting-export: retryDelays is ["1s"] but the audit trail\'s last value is ["30s"]',
      configDriftOnly: true,
    });
    expect(drift.title).toBe('Audit trail: configuration changed outside the console');
    expect(drift.text).toContain('The trail itself is intact.');
    expect(drift.text).toContain('Found: accounting-export: retryDelays is ["1s"]');
    expect(drift.text).not.toMatch(/tampered/);
    const broken = auditChainBrokenMessage({ ...base, problem: 'chain shorter than the last anchor' });
    expect(broken.title).toBe('Audit trail: verification failed');
    expect(broken.text).toMatch(/may have been tampered with/);
  });
});
