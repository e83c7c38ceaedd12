import { describe, expect, it } from 'vitest';
import type { PlatformEvent } from '../execution/events';
import { parsePlatformEvent } from './event-schema';

const runFailed = {
  type: 'run.failed',
  at: '2026-05-01T02:08:00.000Z',
  correlationId: 'c-1',
  integration: 'accounting-export',
  runId: '0b1e8a52-7d0c-4f3e-9a41-2c6f4b7d9e11',
  attempts: 4,
  error: 'boom',
  errorClass: 'TransientError',
  reason: 'retries_exhausted',
  startedAt: '2026-05-01T02:00:00.000Z',
} satisfies PlatformEvent;

describe('platform event boundary', () => {
  it('accepts every event of the contract', () => {
    const events: PlatformEvent[] = [
      runFailed,
      { type: 'run.succeeded', at: runFailed.at, integration: 'a', runId: 'r' },
      { type: 'breaker.opened', at: runFailed.at, breakerKey: 'k', integrations: ['a', 'b'], error: 'x', openUntil: null },
      { type: 'breaker.closed', at: runFailed.at, breakerKey: 'k', integrations: ['a'] },
      { type: 'credentials.failing', at: runFailed.at, integration: 'a', error: '401' },
      { type: 'credentials.recovered', at: runFailed.at, integration: 'a' },
      { type: 'events.failed', at: runFailed.at, integration: 'a', runId: 'r', eventId: 'e1', eventType: 't', reason: 'refused' },
      // The pending events an event run left when it failed for good: one event for all of them.
      {
        type: 'events.failed',
        at: runFailed.at,
        integration: 'a',
        runId: 'r',
        eventId: 'e1',
        eventType: 't',
        reason: 'not applied',
        count: 500,
        eventIds: ['e1', 'e2'],
        runFailure: { attempts: 2, error: '503', errorClass: 'Error', startedAt: runFailed.startedAt },
      },
      { type: 'events.cleared', at: runFailed.at, integration: 'a', runId: 'r' },
      // The last failed event dismissed by an operator: no run applied anything.
      { type: 'events.cleared', at: runFailed.at, integration: 'a', dismissed: { eventId: 'evt_1', by: 'oscar', reason: 'gone upstream' } },
    ];
    for (const event of events) expect(parsePlatformEvent(event)).toEqual({ ok: true, event });
  });

  it('cannot express a dry-run failure: the contract has no such field and a payload claiming one is refused', () => {
    // @ts-expect-error dry-runs never emit events, so the event type has no dryRun field
    const dryRun: PlatformEvent = { ...runFailed, dryRun: true };
    expect(parsePlatformEvent(dryRun)).toEqual({
      ok: false,
      message: 'platform event refused: it is about a dry-run, and dry-runs never alert',
    });
  });

  it('refuses a malformed payload with the field that is wrong', () => {
    expect(parsePlatformEvent({ ...runFailed, attempts: 'four' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^platform event refused: attempts /),
    });
    expect(parsePlatformEvent({ ...runFailed, at: 'yesterday' })).toMatchObject({
      ok: false,
      message: 'platform event refused: at must be an ISO timestamp',
    });
    const many = { type: 'events.failed', at: runFailed.at, integration: 'a', runId: 'r', eventId: 'e1', eventType: 't', reason: 'x' };
    expect(parsePlatformEvent({ ...many, count: 0 })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^platform event refused: count /),
    });
    expect(parsePlatformEvent({ ...many, eventIds: Array.from({ length: 11 }, (_, i) => `e${i}`) })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^platform event refused: eventIds /),
    });
    expect(parsePlatformEvent({ type: 'run.exploded' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/type must be a known platform event/),
    });
  });
});
