import { describe, expect, it } from 'vitest';
import { durationText, elapsedText, lastDays, planSummary, progressText, triggerWords } from './run-text';

describe('run text', () => {
  it('says how long an attempt took, or that it is running', () => {
    const from = new Date('2026-11-30T10:00:00.000Z');
    expect(elapsedText(from, null)).toBe('running');
    expect(elapsedText(from, new Date('2026-11-30T10:00:00.850Z'))).toBe('850 ms');
    expect(elapsedText(from, new Date('2026-11-30T10:00:02.449Z'))).toBe('2.4 s');
    expect(elapsedText(from, new Date('2026-11-30T10:01:00.000Z'))).toBe('60.0 s');
  });

  it('says how long a run took, to the second', () => {
    expect(durationText(0)).toBe('0s');
    expect(durationText(-400)).toBe('0s');
    expect(durationText(42_400)).toBe('42s');
    expect(durationText(80_000)).toBe('1m 20s');
    expect(durationText(2 * 3600_000 + 5 * 60_000 + 59_000)).toBe('2h 5m');
  });

  it('says what a run processed: done of total, or a count alone when the handler reports no total', () => {
    expect(progressText(40, 120)).toBe('40/120');
    expect(progressText(null, 120)).toBe('0/120');
    expect(progressText(1234, null)).toBe('1234 items processed');
    expect(progressText(1, null)).toBe('1 item processed');
    expect(progressText(0, null)).toBe('0 items processed');
    expect(progressText(null, null)).toBeNull();
  });

  it('says what started a run and who, without naming the schedule twice', () => {
    expect(triggerWords({ trigger: 'schedule', triggeredBy: 'schedule', dryRun: false })).toBe('schedule');
    expect(triggerWords({ trigger: 'manual', triggeredBy: 'ada@junction.local', dryRun: false })).toBe('manual by ada@junction.local');
    expect(triggerWords({ trigger: 'manual', triggeredBy: 'ada@junction.local', dryRun: true })).toBe(
      'manual (dry-run) by ada@junction.local',
    );
    expect(triggerWords({ trigger: 'event', triggeredBy: 'system', dryRun: false })).toBe('event');
  });

  it('groups a dry-run plan by method and endpoint, without query strings, in the order first met', () => {
    const plan = [
      { method: 'GET', url: 'https://crm.example/contacts?page=1' },
      { method: 'POST', url: 'https://erp.example/journal' },
      { method: 'GET', url: 'https://crm.example/contacts?page=2' },
      { method: 'POST', url: 'https://erp.example/journal' },
      { method: 'POST', url: 'https://erp.example/journal' },
      { method: 'DELETE', url: 'not a url' },
    ];
    expect(planSummary(plan)).toEqual([
      'Would GET 2 requests to https://crm.example/contacts',
      'Would POST 3 requests to https://erp.example/journal',
      'Would DELETE 1 request to not a url',
    ]);
    expect(planSummary([])).toEqual([]);
  });

  it('lists the last days as UTC dates, oldest first, ending today', () => {
    expect(lastDays(3, new Date('2026-03-01T23:30:00-05:00'))).toEqual(['2026-02-28', '2026-03-01', '2026-03-02']);
    expect(lastDays(7, new Date('2026-01-03T00:00:00Z'))).toEqual([
      '2025-12-28',
      '2025-12-29',
      '2025-12-30',
      '2025-12-31',
      '2026-01-01',
      '2026-01-02',
      '2026-01-03',
    ]);
  });
});
