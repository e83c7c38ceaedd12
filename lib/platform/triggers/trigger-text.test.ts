import { describe, expect, it } from 'vitest';
import { resumeText, scheduleText } from './trigger-text';

describe('schedule text', () => {
  it('describes the schedule with its time zone and its next run', () => {
    const now = new Date('2026-11-30T10:20:00Z');
    const text = scheduleText('*/15 * * * *', 'Europe/Berlin', now);
    expect(text.words).toMatch(/15 minutes/);
    expect(text.words).toMatch(/\(Europe\/Berlin\)$/);
    expect(text.next?.toISOString()).toBe('2026-11-30T10:30:00.000Z');
  });

  it('says Manual only without a schedule, and shows an unparsable one as written', () => {
    expect(scheduleText(null, 'UTC')).toEqual({ words: 'Manual only', next: null });
    expect(scheduleText('not a cron', 'UTC')).toEqual({ words: 'not a cron (UTC)', next: null });
  });
});

describe('resume text', () => {
  it('says how many runs were missed and what Resume will do under each policy', () => {
    expect(resumeText({ missed: 1, capped: false, resumeWillStartRun: true, resumePolicy: 'run_once' }, { canEditConfig: true })).toBe(
      '1 scheduled run was missed while paused. Resume will start one run now, then follow the schedule (policy: run once on resume; change it in Configuration).',
    );
    expect(resumeText({ missed: 1000, capped: true, resumeWillStartRun: false, resumePolicy: 'skip' }, { canEditConfig: true })).toBe(
      '1000+ scheduled runs were missed while paused. Resume will skip them and wait for the next scheduled time (policy: skip missed runs; change it in Configuration).',
    );
  });

  it('says nothing about missed runs when none were missed', () => {
    const text = resumeText({ missed: 0, capped: false, resumeWillStartRun: false, resumePolicy: 'run_once' }, { canEditConfig: true });
    expect(text).toBe('Resume lifts the pause: scheduled runs start again at the next scheduled time.');
    expect(text).not.toMatch(/missed|skip|Configuration/);
  });

  it('tells whoever cannot edit configuration that an admin can change the policy', () => {
    expect(resumeText({ missed: 3, capped: false, resumeWillStartRun: false, resumePolicy: 'skip' }, { canEditConfig: false })).toBe(
      '3 scheduled runs were missed while paused. Resume will skip them and wait for the next scheduled time (policy: skip missed runs; an admin can change it in Configuration).',
    );
  });
});
