import { describe, expect, it } from 'vitest';
import { describeIncident, formatDuration } from './incident-summary';

const HOUR = 3_600_000;
const now = Date.parse('2026-11-30T12:00:00Z');

describe('incident wording', () => {
  it('says when a closed incident opened and when it closed, not "closed since" its opening', () => {
    const text = describeIncident(
      { openedAt: new Date(now - 3 * HOUR), closedAt: new Date(now - 2 * HOUR + 5 * 60_000), eventCount: 4 },
      now,
    );
    expect(text).toBe('Incident opened 3 hours ago, closed 2 hours ago after 1 hour 5 minutes; 4 events');
    expect(text).not.toMatch(/closed since/);
  });

  it('says an open incident is still open', () => {
    expect(describeIncident({ openedAt: new Date(now - 130 * 60_000).toISOString(), closedAt: null, eventCount: 1 }, now)).toBe(
      'Incident opened 2 hours ago, still open; 1 event',
    );
  });

  it('counts failed runs and failed events apart, not as one number of events', () => {
    const base = { openedAt: new Date(now - HOUR), closedAt: null, eventCount: 4 };
    expect(describeIncident({ ...base, failedRuns: 1, failedEvents: 3 }, now)).toBe(
      'Incident opened 1 hour ago, still open; 1 failed run, 3 failed events',
    );
    expect(describeIncident({ ...base, failedRuns: 2, failedEvents: 0, eventCount: 2 }, now)).toBe(
      'Incident opened 1 hour ago, still open; 2 failed runs',
    );
    expect(describeIncident({ ...base, failedRuns: 0, failedEvents: 1, eventCount: 1 }, now)).toBe(
      'Incident opened 1 hour ago, still open; 1 failed event',
    );
    // Not known apart (another kind, an older incident): the plain count.
    expect(describeIncident({ ...base, failedRuns: null, failedEvents: null }, now)).toBe(
      'Incident opened 1 hour ago, still open; 4 events',
    );
  });

  it('formats durations with their two largest units', () => {
    expect(formatDuration(0)).toBe('less than a second');
    expect(formatDuration(45_000)).toBe('45 seconds');
    expect(formatDuration(HOUR + 5 * 60_000 + 7_000)).toBe('1 hour 5 minutes');
    expect(formatDuration(2 * 24 * HOUR + 3 * HOUR)).toBe('2 days 3 hours');
    expect(formatDuration(24 * HOUR + 30_000)).toBe('1 day');
  });
});
