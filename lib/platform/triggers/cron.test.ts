import { describe, expect, it } from 'vitest';
import { describeCron, lastRunAtOrBefore, nextRuns, validateCron, validateTimezone } from './cron';

describe('validateCron', () => {
  it('accepts 5-field, 6-field, named and special expressions', () => {
    for (const expr of ['0 2 * * *', ' */5  *  * * MON-FRI ', '30 0 2 * * *', '0 0 L * *', '0 0 * * 1#2', '0 9 * JAN,JUL *']) {
      expect(validateCron(expr)).toEqual({ ok: true });
    }
  });

  it('names the field at fault and its range', () => {
    const cases: [string, string][] = [
      ['0 25 * * *', "Cron '0 25 * * *' is invalid: hour must be 0–23 (got 25)"],
      ['61 * * * *', "Cron '61 * * * *' is invalid: minute must be 0–59 (got 61)"],
      ['* * 32 * *', "Cron '* * 32 * *' is invalid: day of month must be 1–31 (got 32)"],
      ['* * * 13 *', "Cron '* * * 13 *' is invalid: month must be 1–12 (got 13)"],
      ['* * * * 8', "Cron '* * * * 8' is invalid: day of week must be 0–7 (got 8)"],
      ['60 * * * * *', "Cron '60 * * * * *' is invalid: second must be 0–59 (got 60)"],
      ['abc * * * *', "Cron 'abc * * * *' is invalid: minute 'abc' is not valid"],
      ['*/0 * * * *', "Cron '*/0 * * * *' is invalid: minute step '*/0' must be at least 1"],
      ['5-2 * * * *', "Cron '5-2 * * * *' is invalid: minute range '5-2' goes backwards (5 > 2)"],
    ];
    for (const [expr, message] of cases) expect(validateCron(expr)).toEqual({ ok: false, message });
  });

  it('refuses a seconds field that names more than one second: pg-boss starts at most one run a minute', () => {
    // Its cron pass files each occurrence in a 60-second slot: '*/10' would be previewed as six
    // runs a minute and start one.
    for (const [expr, seconds] of [
      ['*/10 * * * * *', '*/10'],
      ['* * * * * *', '*'],
      ['0,30 0 2 * * *', '0,30'],
      ['0-5 * * * * *', '0-5'],
    ]) {
      expect(validateCron(expr)).toEqual({
        ok: false,
        message: `Cron '${expr}' is invalid: second must be one value such as 0 (got '${seconds}'): a schedule starts at most one run a minute`,
      });
    }
    expect(validateCron('30 * * * * *')).toEqual({ ok: true });
  });

  it('refuses a wrong number of fields and impossible dates with an example', () => {
    const short = validateCron('* * *');
    expect(short.ok).toBe(false);
    if (!short.ok) expect(short.message).toMatch(/use 5 fields .* e\.g\. '0 2 \* \* \*' \(got 3\)/);
    const empty = validateCron('   ');
    expect(empty.ok).toBe(false);
    const never = validateCron('0 0 31 2 *');
    expect(never).toEqual({ ok: false, message: "Cron '0 0 31 2 *' never runs: that day of month never occurs in the given month(s)" });
  });
});

describe('validateTimezone', () => {
  it('accepts IANA names and refuses unknown ones with an example', () => {
    expect(validateTimezone('Europe/Paris')).toEqual({ ok: true });
    expect(validateTimezone('UTC')).toEqual({ ok: true });
    expect(validateTimezone('Mars/Olympus')).toEqual({
      ok: false,
      message: "Time zone 'Mars/Olympus' is unknown: use an IANA name such as 'UTC' or 'Europe/Paris'",
    });
    expect(validateTimezone('').ok).toBe(false);
  });
});

describe('describeCron', () => {
  it('describes an expression in words and falls back to the expression', () => {
    expect(describeCron('0 2 * * *')).toBe('At 02:00 AM');
    expect(describeCron('*/15 * * * *')).toBe('Every 15 minutes');
    expect(describeCron('not a cron')).toBe('not a cron');
  });
});

describe('nextRuns', () => {
  it('evaluates the expression in the time zone, across a daylight-saving change', () => {
    // Europe/Paris leaves summer time on 2026-10-25: 09:00 local is 07:00Z before, 08:00Z after.
    const runs = nextRuns('0 9 * * *', 'Europe/Paris', 3, new Date('2026-10-23T12:00:00Z'));
    expect(runs.map((d) => d.toISOString())).toEqual(['2026-10-24T07:00:00.000Z', '2026-10-25T08:00:00.000Z', '2026-10-26T08:00:00.000Z']);
  });

  it('returns runs strictly after `from`, in order', () => {
    const from = new Date('2026-01-01T00:00:00Z');
    const runs = nextRuns('*/15 * * * *', 'UTC', 4, from);
    expect(runs.map((d) => d.toISOString())).toEqual([
      '2026-01-01T00:15:00.000Z',
      '2026-01-01T00:30:00.000Z',
      '2026-01-01T00:45:00.000Z',
      '2026-01-01T01:00:00.000Z',
    ]);
  });

  it('throws the validation message for an invalid expression or zone', () => {
    expect(() => nextRuns('0 25 * * *', 'UTC', 1)).toThrow("Cron '0 25 * * *' is invalid: hour must be 0–23 (got 25)");
    expect(() => nextRuns('0 2 * * *', 'Nowhere/City', 1)).toThrow(/Time zone 'Nowhere\/City' is unknown/);
  });
});

describe('lastRunAtOrBefore', () => {
  it('returns the latest run at or before the instant, in the time zone', () => {
    const at = (iso: string) => lastRunAtOrBefore('0 9 * * *', 'Europe/Paris', new Date(iso))?.toISOString();
    expect(at('2026-10-26T08:00:40Z')).toBe('2026-10-26T08:00:00.000Z');
    expect(at('2026-10-26T08:00:00Z')).toBe('2026-10-26T08:00:00.000Z');
    expect(at('2026-10-26T07:59:59Z')).toBe('2026-10-25T08:00:00.000Z');
    expect(lastRunAtOrBefore('* * * * *', 'UTC', new Date('2026-01-01T09:14:34.250Z'))?.toISOString()).toBe('2026-01-01T09:14:00.000Z');
  });

  it('throws the validation message for an invalid expression', () => {
    expect(() => lastRunAtOrBefore('0 25 * * *', 'UTC', new Date())).toThrow("Cron '0 25 * * *' is invalid: hour must be 0–23 (got 25)");
  });
});
