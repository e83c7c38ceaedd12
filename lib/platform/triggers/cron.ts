import { CronExpressionParser } from 'cron-parser';
import cronstrue from 'cronstrue';
import { clip } from '../words';

/**
 * Cron expressions and time zones as people edit them: validation whose message names the field at
 * fault, a plain-words description and the next run times in the integration's time zone.
 * Accepts what pg-boss schedules accept (cron-parser): 5 fields, or 6 with seconds first, one
 * second a minute (pg-boss starts at most one job a minute per schedule).
 */

/** What a message repeats of the input: enough to recognise it, never a wall of text. */
function shown(value: string): string {
  return clip(value, 60);
}

export type CronCheck = { ok: true } | { ok: false; message: string };

const FIELDS_5 = ['minute', 'hour', 'day of month', 'month', 'day of week'] as const;
const FIELDS_6 = ['second', ...FIELDS_5] as const;

function normalise(expr: string): string {
  return expr.trim().replace(/\s+/g, ' ');
}

function parse(expr: string, options: { tz?: string; currentDate?: Date } = {}) {
  return CronExpressionParser.parse(expr, options);
}

/** Turns cron-parser's wording into "must be 0–23 (got 25)" or "'abc' is not valid". */
function fieldProblem(part: string, parserMessage: string): string {
  const range = /got value (\S+) expected range (\d+)-(\d+)/.exec(parserMessage);
  if (range) return `must be ${range[2]}–${range[3]} (got ${range[1]})`;
  if (/cannot repeat at every 0/.test(parserMessage)) return `step '${shown(part)}' must be at least 1`;
  const inverted = /Invalid range: \S+, min\((\S+)\) > max\((\S+)\)/.exec(parserMessage);
  if (inverted) return `range '${shown(part)}' goes backwards (${inverted[1]} > ${inverted[2]})`;
  return `'${shown(part)}' is not valid`;
}

/** The five fields a cron macro stands for: pg-boss reads macros, the editor shows fields. */
const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** cron-parser refuses longer expressions (and so does pg-boss's schedule()). */
const MAX_LENGTH = 1024;

/** "Cron '0 25 * * *' is invalid: hour must be 0–23 (got 25)". */
export function validateCron(expr: string): CronCheck {
  if (typeof expr !== 'string') return { ok: false, message: 'Cron expression must be text, e.g. 0 2 * * *' };
  const trimmed = normalise(expr);
  if (trimmed.startsWith('@')) {
    const fields = MACROS[trimmed.toLowerCase()];
    return {
      ok: false,
      message: fields
        ? `Cron '${shown(expr)}' is invalid: write it as 5 fields: '${fields}'`
        : `Cron '${shown(expr)}' is invalid: a schedule cannot run at start-up; use 5 fields, e.g. '0 2 * * *'`,
    };
  }
  if (trimmed.length > MAX_LENGTH) {
    return { ok: false, message: `Cron '${shown(expr)}' is invalid: it is ${trimmed.length} characters long (at most ${MAX_LENGTH})` };
  }
  const parts = trimmed === '' ? [] : trimmed.split(' ');
  if (parts.length !== 5 && parts.length !== 6) {
    return {
      ok: false,
      message: `Cron '${shown(expr)}' is invalid: use 5 fields (minute hour day-of-month month day-of-week), e.g. '0 2 * * *' (got ${parts.length})`,
    };
  }
  const names = parts.length === 6 ? FIELDS_6 : FIELDS_5;
  // Parse each field alone (the others '*') so the message can name the one at fault.
  for (let i = 0; i < parts.length; i++) {
    // cron-parser reads 'H' as a random value drawn at each parse: pg-boss parses on every pass,
    // so such a schedule would start at a different time each hour or day, or not at all.
    if (/(^|[,/-])H/i.test(parts[i])) {
      return {
        ok: false,
        message: `Cron '${shown(expr)}' is invalid: ${names[i]} 'H' (a random value) is not supported: name the ${names[i]}, e.g. 0`,
      };
    }
    const probe = parts.map((p, j) => (j === i ? p : '*')).join(' ');
    try {
      parse(probe);
    } catch (error) {
      return { ok: false, message: `Cron '${shown(expr)}' is invalid: ${names[i]} ${fieldProblem(parts[i], (error as Error).message)}` };
    }
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(trimmed);
    parsed.next();
  } catch (error) {
    const message = (error as Error).message;
    const detail = /explicit day of month/i.test(message)
      ? 'that day of month never occurs in the given month(s)'
      : message.charAt(0).toLowerCase() + message.slice(1);
    return {
      ok: false,
      message: `Cron '${shown(expr)}' ${/explicit day of month/i.test(message) ? 'never runs' : 'is invalid'}: ${detail}`,
    };
  }
  // pg-boss files each occurrence in a 60-second slot and starts one job per slot: more than one
  // second a minute would be previewed (and counted as missed) as runs that never start.
  if (parts.length === 6 && parsed.fields.second.values.length > 1) {
    return {
      ok: false,
      message: `Cron '${shown(expr)}' is invalid: second must be one value such as 0 (got '${parts[0]}'): a schedule starts at most one run a minute`,
    };
  }
  return { ok: true };
}

/** An IANA time zone name such as 'UTC' or 'Europe/Paris'. */
export function validateTimezone(tz: string): CronCheck {
  if (typeof tz !== 'string' || tz.trim() === '') {
    return { ok: false, message: "Time zone is empty: use an IANA name such as 'UTC' or 'Europe/Paris'" };
  }
  // Intl and cron-parser take '+02:00', but an offset is one half of the year in a zone with
  // daylight saving: the schedule would drift by an hour for the other half.
  if (/^[+-]\d/.test(tz)) {
    const [, sign, hh, mm] = /^([+-])(\d{1,2})(?::?(\d{2}))?/.exec(tz) ?? [];
    const hours = Number(hh ?? 0);
    // Etc/GMT zones exist for whole hours only (and their sign is the other way round).
    const fixed = Number(mm ?? 0) === 0 ? ` (or 'Etc/GMT${sign === '+' ? '-' : '+'}${hours}' for a fixed UTC${sign}${hours})` : '';
    return {
      ok: false,
      message: `Time zone '${shown(tz)}' is a UTC offset, which does not follow daylight saving: use an IANA name such as 'Europe/Berlin'${fixed}`,
    };
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return { ok: true };
  } catch {
    return { ok: false, message: `Time zone '${shown(tz)}' is unknown: use an IANA name such as 'UTC' or 'Europe/Paris'` };
  }
}

/**
 * The zone's name as stored, handed to pg-boss and shown: the name the person chose, in its
 * proper spelling when ICU knows it under that very name ('europe/berlin' → 'Europe/Berlin',
 * 'utc' → 'UTC'). ICU resolves some current names to older ones ('Asia/Kolkata' → 'Asia/Calcutta',
 * 'Europe/Kyiv' → 'Europe/Kiev') and a link to its target ('US/Pacific' → 'America/Los_Angeles'):
 * those are kept as written, since they name the same rules. A valid zone is expected.
 */
export function canonicalTimezone(tz: string): string {
  const name = tz.trim();
  const resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  return resolved.toLowerCase() === name.toLowerCase() ? resolved : name;
}

/**
 * A stored schedule as the scheduler reads it (the sync to pg-boss, each tick). Rows saved before
 * the editor's rules tightened keep running as pg-boss was given them: a macro ('@daily') stands
 * for its five fields, a UTC offset ('+02:00') stays that fixed offset. Every other value is
 * checked as the editor checks it, and a zone is read under its canonical name. The editor refuses
 * macros and offsets for new edits (validateCron, validateTimezone); `legacy` says which rule a
 * stored row predates, for the log.
 */
export function storedSchedule(
  expr: string,
  tz: string,
): { ok: true; cron: string; tz: string; legacy: string | null } | { ok: false; message: string } {
  const macro = typeof expr === 'string' ? MACROS[normalise(expr).toLowerCase()] : undefined;
  const cron = macro ?? expr;
  const cronCheck = validateCron(cron);
  if (!cronCheck.ok) return cronCheck;
  const offset = typeof tz === 'string' && /^[+-]\d{2}:\d{2}$/.test(tz.trim());
  if (!offset) {
    const zoneCheck = validateTimezone(tz);
    if (!zoneCheck.ok) return zoneCheck;
  }
  const legacy = [macro ? `the macro '${normalise(expr)}'` : '', offset ? `the UTC offset '${tz.trim()}'` : '']
    .filter(Boolean)
    .join(' and ');
  return { ok: true, cron: normalise(cron), tz: offset ? tz.trim() : canonicalTimezone(tz), legacy: legacy || null };
}

const wallClocks = new Map<string, Intl.DateTimeFormat>();

/** "2026-10-25 02:30" in `tz`. */
function wallClock(tz: string, at: Date): string {
  let format = wallClocks.get(tz);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    wallClocks.set(tz, format);
  }
  return format.format(at);
}

/**
 * Whether `at` is the second time its wall-clock time comes round (the clocks went back, by an
 * hour or, in Australia/Lord_Howe, half an hour) for an expression that names its hours: pg-boss
 * starts a job both times, and a schedule at 02:30 runs once (as cron does). An expression that
 * runs every hour keeps both: the hour is real.
 */
export function repeatsWallClock(expr: string, tz: string, at: Date): boolean {
  let hours: number;
  try {
    hours = parse(normalise(expr)).fields.hour.values.length;
  } catch {
    return false;
  }
  if (hours === 24) return false;
  const reading = wallClock(tz, at);
  return [30, 60].some((minutes) => wallClock(tz, new Date(at.getTime() - minutes * 60_000)) === reading);
}

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** How far `tz`'s wall clock is ahead of UTC at `at` (ms since the epoch), in milliseconds. */
function zoneOffset(tz: string, at: number): number {
  let format = offsetFormats.get(tz);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    offsetFormats.set(tz, format);
  }
  const second = Math.floor(at / 1000) * 1000;
  const part: Record<string, number> = {};
  for (const { type, value } of format.formatToParts(new Date(second))) part[type] = Number(value);
  return Date.UTC(part.year, part.month - 1, part.day, part.hour, part.minute, part.second) - second;
}

/** How far apart springForwards compares the offset: no zone changes its offset twice within a day. */
const OFFSET_STEP_MS = 24 * 60 * 60_000;

/**
 * The times in (after, until] when `tz`'s clocks jumped forward, each with the wall-clock times it
 * skipped as [from, to) in milliseconds of a UTC calendar (02:00 to 03:00 on 2026-03-29 in
 * Europe/Berlin). Found by comparing the zone's offset a day apart, and to the millisecond by
 * bisection where it grew.
 */
function springForwards(tz: string, after: number, until: number): { at: number; skippedFrom: number; skippedTo: number }[] {
  const jumps: { at: number; skippedFrom: number; skippedTo: number }[] = [];
  let lo = after;
  let loOffset = zoneOffset(tz, lo);
  while (lo < until) {
    const hi = Math.min(lo + OFFSET_STEP_MS, until);
    const hiOffset = zoneOffset(tz, hi);
    if (hiOffset > loOffset) {
      let before = lo;
      let at = hi;
      while (at - before > 1) {
        const middle = Math.floor((before + at) / 2);
        if (zoneOffset(tz, middle) === loOffset) before = middle;
        else at = middle;
      }
      const atOffset = zoneOffset(tz, at);
      if (atOffset > loOffset) jumps.push({ at, skippedFrom: at + loOffset, skippedTo: at + atOffset });
    }
    lo = hi;
    loOffset = hiOffset;
  }
  return jumps;
}

/** Whether an expression names its hours (a fixed-time schedule, in cron's words), not every hour. */
function namesItsHours(expr: string): boolean {
  try {
    return parse(normalise(expr)).fields.hour.values.length < 24;
  } catch {
    return false;
  }
}

/**
 * The runs in (after, until] that stand for times the clocks skipped: when they jump forward (02:00
 * becomes 03:00) over a time of a schedule that names its hours (02:30, or every quarter of 02:xx),
 * the schedule runs once at the first instant after the gap (03:00; Australia/Lord_Howe's 02:00
 * becomes 02:30), as cron does. The patched pg-boss pass sends a job then (timekeeper.js,
 * skippedOccurrence). A schedule that runs every hour runs every real hour: nothing is owed for
 * the hour that did not happen.
 */
export function skippedRuns(expr: string, tz: string, after: Date, until: Date): Date[] {
  const normalised = normalise(expr);
  if (!namesItsHours(normalised)) return [];
  return springForwards(tz, after.getTime(), until.getTime())
    .filter(({ skippedFrom, skippedTo }) => {
      try {
        // The skipped wall-clock times read as UTC, where no day is short.
        const first = parse(normalised, { tz: 'UTC', currentDate: new Date(skippedFrom - 1) })
          .next()
          .toDate();
        return first.getTime() < skippedTo;
      } catch {
        return false;
      }
    })
    .map(({ at }) => new Date(at));
}

/**
 * Whether pg-boss starts a job for the occurrence `at` that cron-parser's next() answered: its cron
 * pass asks cron-parser for the latest occurrence at or before its clock, and next() answers times
 * that read never gives (03:30 for 02:30 on the day 02:00 becomes 03:00: that day's run is the one
 * at 03:00, skippedRuns). A repeat of a wall-clock time starts no run either.
 */
function startsRun(expr: string, tz: string, at: Date): boolean {
  try {
    const previous = parse(expr, { tz, currentDate: new Date(at.getTime() + 1) })
      .prev()
      .toDate();
    if (previous.getTime() !== at.getTime()) return false;
  } catch {
    return false;
  }
  return !repeatsWallClock(expr, tz, at);
}

/** Plain words for the console ("At 02:00 AM"); the expression itself when it cannot be described. */
export function describeCron(expr: string): string {
  try {
    return cronstrue.toString(normalise(expr), { throwExceptionOnParseError: true });
  } catch {
    return expr;
  }
}

/** Where nextRuns starts again after cron-parser fails, in hours after the point it failed from. */
const RESTART_HOURS = [1, 3, 6, 12, 24, 36, 48];

/**
 * The next `count` run times after `from` (default now), evaluated in `tz` (daylight-saving
 * changes included). Throws with the validation message when the expression or zone is invalid.
 */
export function nextRuns(expr: string, tz: string, count: number, from: Date = new Date()): Date[] {
  const cron = validateCron(expr);
  if (!cron.ok) throw new Error(cron.message);
  const zone = validateTimezone(tz);
  if (!zone.ok) throw new Error(zone.message);
  const normalised = normalise(expr);
  const runs: Date[] = [];
  let cursor = from;
  let iterator = parse(normalised, { tz, currentDate: cursor });
  // cron-parser gives up (loop limit, a third of a second each time) stepping from anywhere in the
  // day before some daylight-saving changes, e.g. the 30-minute ones of Australia/Lord_Howe: the
  // walk starts again further on from where it failed, up to two days on, since an expression
  // that never runs fails the same way.
  let stuckAt: Date | null = null;
  let retry = 0;
  let steps = 0;
  // Where the search for runs at the end of a spring-forward gap has reached (skippedRuns): up to
  // each time next() answers, so a day the walk stepped over after a failure is searched too.
  let searched = from;
  const fixedHours = namesItsHours(normalised);
  while (runs.length < count && steps++ < count * 4 + 50) {
    let next: Date;
    try {
      next = iterator.next().toDate();
    } catch {
      stuckAt ??= cursor;
      if (retry >= RESTART_HOURS.length) break;
      cursor = new Date(stuckAt.getTime() + RESTART_HOURS[retry++] * 60 * 60_000);
      iterator = parse(normalised, { tz, currentDate: cursor });
      continue;
    }
    stuckAt = null;
    retry = 0;
    cursor = next;
    if (fixedHours && next.getTime() > searched.getTime()) {
      for (const skipped of skippedRuns(normalised, tz, searched, next)) if (runs.length < count) runs.push(skipped);
      searched = next;
    }
    // A time that is also the end of a gap (03:00 of '0 2,3 * * *') is one run.
    if (runs.length < count && runs.at(-1)?.getTime() !== next.getTime() && startsRun(normalised, tz, next)) runs.push(next);
  }
  return runs;
}

/** How far back lastRunAtOrBefore looks for a run at the end of a spring-forward gap. */
const SKIPPED_RUN_LOOKBACK_MS = 24 * 60 * 60_000;

/**
 * The latest run time at or before `at`, evaluated in `tz` (null when the expression has none),
 * counting the run at the end of a spring-forward gap that skipped one of its times (skippedRuns)
 * when it fell in the day before `at`: a job is handled minutes after its tick, never a day.
 * A schedule tick carries no time of its own: this is the tick a job sent at `at` stands for.
 * Throws with the validation message when the expression or zone is invalid.
 */
export function lastRunAtOrBefore(expr: string, tz: string, at: Date): Date | null {
  // A stored row: one saved under the older rules (a macro, a UTC offset) still has its ticks.
  const stored = storedSchedule(expr, tz);
  if (!stored.ok) throw new Error(stored.message);
  // prev() answers strictly before its reference: a millisecond later keeps `at` itself a candidate.
  const iterator = parse(stored.cron, { tz: stored.tz, currentDate: new Date(at.getTime() + 1) });
  let previous: Date | null;
  try {
    previous = iterator.prev().toDate();
  } catch {
    // cron-parser fails near some changes (Australia/Lord_Howe's): the skipped run may still be due.
    previous = null;
  }
  const since = Math.max(previous?.getTime() ?? -Infinity, at.getTime() - SKIPPED_RUN_LOOKBACK_MS);
  const skipped = skippedRuns(stored.cron, stored.tz, new Date(since), at).at(-1);
  return skipped ?? previous;
}
