import { CronExpressionParser } from 'cron-parser';
import Timekeeper from 'pg-boss/dist/timekeeper.js';
import { describe, expect, it } from 'vitest';
import { canonicalTimezone, lastRunAtOrBefore, nextRuns, repeatsWallClock, storedSchedule, validateCron, validateTimezone } from './cron';

/** The cron pass of the patched pg-boss (timekeeper.js): the occurrences it sends a job for at `databaseTime`. */
const readOccurrences = (
  Timekeeper.prototype as unknown as {
    readOccurrences(expression: string, kind: 'cron', tz: string, databaseTime: number): Date[];
  }
).readOccurrences;

const minuteFormats = new Map<string, Intl.DateTimeFormat>();

/** Whether `tz`'s clocks jumped forward in (from, to]. */
function jumpedForward(tz: string, from: number, to: number): boolean {
  let format = minuteFormats.get(tz);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    minuteFormats.set(tz, format);
  }
  const offset = (at: number) => {
    const part = Object.fromEntries(format.formatToParts(new Date(at)).map((p) => [p.type, Number(p.value)]));
    return Date.UTC(part.year, part.month - 1, part.day, part.hour, part.minute) - Math.floor(at / 60_000) * 60_000;
  };
  return offset(to) > offset(from);
}

/**
 * What pg-boss 12's cron pass starts, pass by pass: every 30 seconds the real (patched) pass reads
 * the occurrences due in the last 60 seconds (timekeeper.js readOccurrences: the latest occurrence
 * at or before its clock, and the end of a spring-forward gap that skipped one of the schedule's
 * times) and sends one job a 60-second slot; a pass that throws sends nothing. Then the ticks
 * startScheduledRun turns into runs: the tick a job sent at t stands for (lastRunAtOrBefore), once
 * (a tick at or before the last one starts none), not a repeat of a wall-clock time, not stale.
 */
function started(expr: string, tz: string, fromIso: string, toIso: string): string[] {
  const minutes = new Set<number>(CronExpressionParser.parse(expr).fields.minute.values as number[]);
  const localMinute = new Intl.DateTimeFormat('en-US', { timeZone: tz, minute: 'numeric' });
  const slots = new Set<number>();
  const runs: string[] = [];
  let lastTick = -Infinity;
  // Only passes in a minute the expression names, or just after the clocks jumped forward, can find
  // an occurrence in the last 60 seconds (every zone here is a whole number of minutes off UTC), and
  // a pass cron-parser fails costs a third of a second: the others are left out.
  for (let minute = Date.parse(fromIso); minute < Date.parse(toIso); minute += 60_000) {
    if (!minutes.has(Number(localMinute.format(new Date(minute)))) && !jumpedForward(tz, minute - 60_000, minute)) continue;
    for (const t of [minute + 7_000, minute + 37_000]) {
      let due: Date[];
      try {
        due = readOccurrences(expr, 'cron', tz, t);
      } catch {
        continue; // the pass skips the schedule
      }
      // One job a slot: a later pass finds the slot taken.
      const fresh = due.filter((d) => !slots.has(Math.floor(d.getTime() / 60_000)));
      if (fresh.length === 0) continue;
      for (const d of fresh) slots.add(Math.floor(d.getTime() / 60_000));
      for (const _job of fresh) {
        const tick = lastRunAtOrBefore(expr, tz, new Date(t));
        if (!tick || tick.getTime() <= lastTick || t - tick.getTime() > 5 * 60_000) continue;
        if (repeatsWallClock(expr, tz, tick)) continue;
        lastTick = tick.getTime();
        runs.push(tick.toISOString());
      }
    }
  }
  return runs;
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
    ['30 2,3 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z'],
    ['0 2,3 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z'],
    ['*/15 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z'],
    ['30 2 * * 0', 'Europe/Berlin', '2026-03-21T12:00:00Z', '2026-04-06T12:00:00Z'],
    ['30 2 * * 1', 'Europe/Berlin', '2026-03-21T12:00:00Z', '2026-04-06T12:00:00Z'],
    ['30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', '2026-10-26T12:00:00Z'],
    ['0 * * * *', 'Europe/Berlin', '2026-03-28T21:30:30Z', '2026-03-29T04:30:00Z'],
    ['0 * * * *', 'Europe/Berlin', '2026-10-24T21:30:30Z', '2026-10-25T04:30:00Z'],
    ['30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', '2026-03-09T12:00:00Z'],
    ['30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z'],
    // Australia/Lord_Howe moves by 30 minutes: 02:00 → 02:30 on 2026-10-04, 02:00 → 01:30 on 2026-04-05.
    ['15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00:00Z', '2026-10-05T00:00:00Z'],
    ['15 2,3 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00:00Z', '2026-10-05T00:00:00Z'],
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
  });

  it('runs a schedule whose time the clocks skip once, when they have jumped (as cron does), and not again that day', () => {
    // Europe/Berlin, 2026-03-29: 02:00 CET (01:00Z) becomes 03:00 CEST; 02:30 does not exist that day.
    const berlin = ['2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z'] as const;
    expect(started('30 2 * * *', 'Europe/Berlin', ...berlin)).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    expect(preview('30 2 * * *', 'Europe/Berlin', ...berlin)).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    expect(preview('0 2 * * *', 'Europe/Berlin', ...berlin)).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:00:00.000Z']);
    // 02:30 skipped (run at 03:00) and 03:30 as usual: two runs; 02:00 skipped and 03:00 itself: one run at 03:00.
    expect(started('30 2,3 * * *', 'Europe/Berlin', ...berlin)).toEqual([
      '2026-03-29T01:00:00.000Z',
      '2026-03-29T01:30:00.000Z',
      '2026-03-30T00:30:00.000Z',
      '2026-03-30T01:30:00.000Z',
    ]);
    expect(started('0 2,3 * * *', 'Europe/Berlin', ...berlin)).toEqual([
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:00:00.000Z',
      '2026-03-30T01:00:00.000Z',
    ]);
    // Every quarter of the skipped hour: one run for them all.
    expect(started('*/15 2 * * *', 'Europe/Berlin', '2026-03-28T22:00:00Z', '2026-03-29T22:00:00Z')).toEqual(['2026-03-29T01:00:00.000Z']);
    // Only on a day the expression names: Sunday's 02:30 is skipped, Monday's is not.
    expect(started('30 2 * * 1', 'Europe/Berlin', '2026-03-28T22:00:00Z', '2026-03-29T22:00:00Z')).toEqual([]);
    // America/New_York, 2026-03-08: 02:00 EST (07:00Z) becomes 03:00 EDT.
    expect(started('30 2 * * *', 'America/New_York', '2026-03-08T05:00:00Z', '2026-03-09T05:00:00Z')).toEqual(['2026-03-08T07:00:00.000Z']);
    // Australia/Lord_Howe, 2026-10-04: 02:00 (+10:30, 15:30Z) becomes 02:30 (+11); 02:15 is skipped.
    expect(started('15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T12:00:00Z', '2026-10-04T12:00:00Z')).toEqual([
      '2026-10-03T15:30:00.000Z',
    ]);
    expect(preview('15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T12:00:00Z', '2026-10-04T12:00:00Z')).toEqual([
      '2026-10-03T15:30:00.000Z',
    ]);
    // The pass, the tick and the preview agree on when that run is.
    expect(lastRunAtOrBefore('30 2 * * *', 'Europe/Berlin', new Date('2026-03-29T01:00:07Z'))).toEqual(new Date('2026-03-29T01:00:00Z'));
    expect(lastRunAtOrBefore('30 2 * * *', 'Europe/Berlin', new Date('2026-03-29T12:00:00Z'))).toEqual(new Date('2026-03-29T01:00:00Z'));
    expect(lastRunAtOrBefore('30 2 * * *', 'Europe/Berlin', new Date('2026-03-29T00:59:59Z'))).toEqual(new Date('2026-03-28T01:30:00Z'));
    expect(readOccurrences('30 2 * * *', 'cron', 'Europe/Berlin', Date.parse('2026-03-29T01:00:30Z'))).toEqual([
      new Date('2026-03-29T01:00:00Z'),
    ]);
    expect(readOccurrences('30 2 * * *', 'cron', 'Europe/Berlin', Date.parse('2026-03-29T01:01:00Z'))).toEqual([]);
    expect(readOccurrences('0 * * * *', 'cron', 'Europe/Berlin', Date.parse('2026-03-29T01:00:30Z'))).toEqual([
      new Date('2026-03-29T01:00:00Z'),
    ]);
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
