import { CronExpressionParser } from 'cron-parser';
import { describe, expect, it } from 'vitest';
import { canonicalTimezone, lastRunAtOrBefore, nextRuns, repeatsWallClock, storedSchedule, validateCron, validateTimezone } from './cron';

/**
 * What pg-boss 12's cron pass starts, pass by pass: every 30 seconds it asks cron-parser for the
 * latest occurrence at or before its clock (prev() from a millisecond later) and sends one job when
 * that falls in the last 60 seconds (timekeeper.js readOccurrences); a pass cron-parser throws on
 * sends nothing. Then the ticks startScheduledRun turns into runs (repeats of a wall-clock time dropped).
 */
function started(expr: string, tz: string, fromIso: string, toIso: string): string[] {
  const minutes = new Set<number>(CronExpressionParser.parse(expr).fields.minute.values as number[]);
  const localMinute = new Intl.DateTimeFormat('en-US', { timeZone: tz, minute: 'numeric' });
  const sent = new Set<string>();
  // Only passes in a minute the expression names can find an occurrence in the last 60 seconds
  // (every zone here is a whole number of minutes off UTC), and a pass cron-parser fails costs
  // a third of a second: the others are left out.
  for (let minute = Date.parse(fromIso); minute < Date.parse(toIso); minute += 60_000) {
    if (!minutes.has(Number(localMinute.format(new Date(minute))))) continue;
    for (const t of [minute + 7_000, minute + 37_000]) {
      try {
        const previous = CronExpressionParser.parse(expr, { tz, strict: false, currentDate: new Date(t + 1) })
          .prev()
          .toDate();
        if (previous.getTime() > t - 60_000) sent.add(previous.toISOString());
      } catch {
        // the pass skips the schedule
      }
    }
  }
  return [...sent].filter((iso) => !repeatsWallClock(expr, tz, new Date(iso)));
}

function preview(expr: string, tz: string, fromIso: string, toIso: string): string[] {
  return nextRuns(expr, tz, 50, new Date(fromIso))
    .map((d) => d.toISOString())
    .filter((iso) => iso < toIso);
}

describe('schedules across daylight-saving changes', () => {
  const cases: [string, string, string, string][] = [
    // Europe/Berlin springs forward 2026-03-29 02:00 → 03:00 and falls back 2026-10-25 03:00 → 02:00.
    ['30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z'],
    ['0 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z'],
    ['30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', '2026-10-26T12:00:00Z'],
    ['0 * * * *', 'Europe/Berlin', '2026-03-28T21:30:30Z', '2026-03-29T04:30:00Z'],
    ['0 * * * *', 'Europe/Berlin', '2026-10-24T21:30:30Z', '2026-10-25T04:30:00Z'],
    ['30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', '2026-03-09T12:00:00Z'],
    ['30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z'],
    // Australia/Lord_Howe moves by 30 minutes: 02:00 → 02:30 on 2026-10-04, 02:00 → 01:30 on 2026-04-05.
    ['15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00:00Z', '2026-10-05T00:00:00Z'],
    ['45 1 * * *', 'Australia/Lord_Howe', '2026-04-03T00:00:00Z', '2026-04-06T00:00:00Z'],
    ['15 1 * * *', 'Australia/Lord_Howe', '2026-04-03T00:00:00Z', '2026-04-06T00:00:00Z'],
    ['45 5 * * *', 'Asia/Kathmandu', '2026-05-31T12:00:00Z', '2026-06-02T12:00:00Z'],
    ['0 * * * *', 'Asia/Kathmandu', '2026-05-31T22:00:30Z', '2026-06-01T03:00:00Z'],
  ];
  it.each(cases)('%s in %s: the preview lists what pg-boss starts (from %s)', (expr, tz, from, to) => {
    expect(preview(expr, tz, from, to)).toEqual(started(expr, tz, from, to));
  });

  it('runs a fixed-time schedule once when its time happens twice, and skips it when it does not happen', () => {
    // Fall-back: 02:30 CEST (00:30Z) and 02:30 CET (01:30Z); the second is a repeat.
    expect(started('30 2 * * *', 'Europe/Berlin', '2026-10-25T00:00:00Z', '2026-10-25T02:00:00Z')).toEqual(['2026-10-25T00:30:00.000Z']);
    expect(repeatsWallClock('30 2 * * *', 'Europe/Berlin', new Date('2026-10-25T01:30:00Z'))).toBe(true);
    expect(repeatsWallClock('30 2 * * *', 'Europe/Berlin', new Date('2026-10-25T00:30:00Z'))).toBe(false);
    expect(repeatsWallClock('30 1 * * *', 'America/New_York', new Date('2026-11-01T06:30:00Z'))).toBe(true);
    expect(repeatsWallClock('45 1 * * *', 'Australia/Lord_Howe', new Date('2026-04-04T15:15:00Z'))).toBe(true);
    // Spring-forward: 02:30 does not exist on 2026-03-29, so that day has no run.
    expect(preview('30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z')).toEqual(['2026-03-30T00:30:00.000Z']);
  });

  it('keeps every real hour of an hourly schedule: 23 runs on the short day, 25 on the long one', () => {
    expect(preview('0 * * * *', 'Europe/Berlin', '2026-03-28T22:59:00Z', '2026-03-29T21:59:00Z')).toHaveLength(23);
    expect(preview('0 * * * *', 'Europe/Berlin', '2026-10-24T21:59:00Z', '2026-10-25T22:59:00Z')).toHaveLength(25);
    expect(repeatsWallClock('0 * * * *', 'Europe/Berlin', new Date('2026-10-25T01:00:00Z'))).toBe(false);
  });

  it('keeps previewing past a day cron-parser cannot step over (Lord Howe, 30-minute change)', () => {
    expect(nextRuns('15 1 * * *', 'Australia/Lord_Howe', 4, new Date('2026-04-03T00:00:00Z')).map((d) => d.toISOString())).toEqual([
      '2026-04-03T14:15:00.000Z',
      '2026-04-04T14:15:00.000Z',
      '2026-04-05T14:45:00.000Z',
      '2026-04-06T14:45:00.000Z',
    ]);
    // cron-parser fails from anywhere in the 23 hours after 2026-04-03T15:15Z for this one.
    expect(nextRuns('15 2 * * *', 'Australia/Lord_Howe', 3, new Date('2026-04-03T12:00:00Z')).map((d) => d.toISOString())).toEqual([
      '2026-04-03T15:15:00.000Z',
      '2026-04-04T15:45:00.000Z',
      '2026-04-05T15:45:00.000Z',
    ]);
  });
});

describe('time zone input', () => {
  it('refuses offsets and unknown names, and names the canonical zone of what it accepts', () => {
    for (const tz of ['Mars/Olympus', '', 'UTC+2', '+02:00', ' Europe/Berlin']) expect(validateTimezone(tz).ok).toBe(false);
    expect(validateTimezone('+02:00')).toEqual({
      ok: false,
      message:
        "Time zone '+02:00' is a UTC offset, which does not follow daylight saving: use an IANA name such as 'Europe/Berlin' (or 'Etc/GMT-2' for a fixed UTC+2)",
    });
    expect(canonicalTimezone('europe/berlin')).toBe('Europe/Berlin');
    // ICU's own names for these are older ones (Asia/Calcutta, Europe/Kiev) or a link's target: kept as chosen.
    expect(canonicalTimezone('US/Pacific')).toBe('US/Pacific');
    expect(canonicalTimezone('Asia/Kolkata')).toBe('Asia/Kolkata');
    expect(canonicalTimezone('Europe/Kyiv')).toBe('Europe/Kyiv');
    expect(canonicalTimezone('Asia/Kathmandu')).toBe('Asia/Kathmandu');
    expect(canonicalTimezone('Etc/GMT-14')).toBe('Etc/GMT-14');
    expect(canonicalTimezone('utc')).toBe('UTC');
  });
});

describe('a row stored under the older rules', () => {
  it('keeps its ticks: a macro stands for its fields, a UTC offset stays that offset', () => {
    expect(storedSchedule('@daily', '+02:00')).toEqual({
      ok: true,
      cron: '0 0 * * *',
      tz: '+02:00',
      legacy: "the macro '@daily' and the UTC offset '+02:00'",
    });
    expect(lastRunAtOrBefore('@daily', '+02:00', new Date('2026-12-04T12:00:00Z'))).toEqual(new Date('2026-12-03T22:00:00Z'));
    expect(storedSchedule('30 2 * * *', 'europe/berlin')).toEqual({ ok: true, cron: '30 2 * * *', tz: 'Europe/Berlin', legacy: null });
    expect(storedSchedule('0 2 * * *', 'Mars/Olympus').ok).toBe(false);
    expect(storedSchedule('@reboot', 'UTC').ok).toBe(false);
  });

  it('suggests an Etc zone for a whole-hour offset only (there is none for +05:45)', () => {
    const message = (tz: string) => {
      const check = validateTimezone(tz);
      return check.ok ? '' : check.message;
    };
    expect(message('+05:45')).not.toContain('Etc/');
    expect(message('-03:00')).toContain("'Etc/GMT+3' for a fixed UTC-3");
  });
});

describe('cron input', () => {
  it('answers a macro with the five fields it stands for', () => {
    expect(validateCron('@daily')).toEqual({ ok: false, message: "Cron '@daily' is invalid: write it as 5 fields: '0 0 * * *'" });
    expect(validateCron('@hourly')).toEqual({ ok: false, message: "Cron '@hourly' is invalid: write it as 5 fields: '0 * * * *'" });
    expect(validateCron('@reboot')).toEqual({
      ok: false,
      message: "Cron '@reboot' is invalid: a schedule cannot run at start-up; use 5 fields, e.g. '0 2 * * *'",
    });
  });

  it("refuses 'H', which cron-parser reads as a random value each time it parses", () => {
    expect(validateCron('H 2 * * *')).toEqual({
      ok: false,
      message: "Cron 'H 2 * * *' is invalid: minute 'H' (a random value) is not supported: name the minute, e.g. 0",
    });
    expect(validateCron('0 2 * * THU')).toEqual({ ok: true });
  });

  it('says when an expression never runs, and keeps a long field short in the message', () => {
    expect(validateCron('0 0 30 2 *')).toEqual({
      ok: false,
      message: "Cron '0 0 30 2 *' never runs: that day of month never occurs in the given month(s)",
    });
    const long = `${'1,'.repeat(600)}1 * * * *`;
    const check = validateCron(long);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.message.length).toBeLessThan(200);
  });
});
