import { CronExpressionParser } from 'cron-parser';
import cronstrue from 'cronstrue';

/**
 * Cron expressions and time zones as people edit them: validation whose message names the field at
 * fault, a plain-words description and the next run times in the integration's time zone.
 * Accepts what pg-boss schedules accept (cron-parser): 5 fields, or 6 with seconds first, one
 * second a minute (pg-boss starts at most one job a minute per schedule).
 */

/** What a message repeats of the input: enough to recognise it, never a wall of text. */
function shown(value: string): string {
  return value.length > 60 ? `${value.slice(0, 57)}…` : value;
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
  if (/cannot repeat at every 0/.test(parserMessage)) return `step '${part}' must be at least 1`;
  const inverted = /Invalid range: \S+, min\((\S+)\) > max\((\S+)\)/.exec(parserMessage);
  if (inverted) return `range '${part}' goes backwards (${inverted[1]} > ${inverted[2]})`;
  return `'${part}' is not valid`;
}

/** "Cron '0 25 * * *' is invalid: hour must be 0–23 (got 25)". */
export function validateCron(expr: string): CronCheck {
  if (typeof expr !== 'string') return { ok: false, message: 'Cron expression must be text, e.g. 0 2 * * *' };
  const trimmed = normalise(expr);
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
    return { ok: false, message: `Cron '${shown(expr)}' is invalid: ${detail}` };
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
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return { ok: true };
  } catch {
    return { ok: false, message: `Time zone '${shown(tz)}' is unknown: use an IANA name such as 'UTC' or 'Europe/Paris'` };
  }
}

/** Plain words for the console ("At 02:00 AM"); the expression itself when it cannot be described. */
export function describeCron(expr: string): string {
  try {
    return cronstrue.toString(normalise(expr), { throwExceptionOnParseError: true });
  } catch {
    return expr;
  }
}

/**
 * The next `count` run times after `from` (default now), evaluated in `tz` (daylight-saving
 * changes included). Throws with the validation message when the expression or zone is invalid.
 */
export function nextRuns(expr: string, tz: string, count: number, from: Date = new Date()): Date[] {
  const cron = validateCron(expr);
  if (!cron.ok) throw new Error(cron.message);
  const zone = validateTimezone(tz);
  if (!zone.ok) throw new Error(zone.message);
  const iterator = parse(normalise(expr), { tz, currentDate: from });
  const runs: Date[] = [];
  for (let i = 0; i < count; i++) {
    try {
      runs.push(iterator.next().toDate());
    } catch {
      break;
    }
  }
  return runs;
}

/**
 * The latest run time at or before `at`, evaluated in `tz` (null when the expression has none).
 * A schedule tick carries no time of its own: this is the tick a job sent at `at` stands for.
 * Throws with the validation message when the expression or zone is invalid.
 */
export function lastRunAtOrBefore(expr: string, tz: string, at: Date): Date | null {
  const cron = validateCron(expr);
  if (!cron.ok) throw new Error(cron.message);
  const zone = validateTimezone(tz);
  if (!zone.ok) throw new Error(zone.message);
  // prev() answers strictly before its reference: a millisecond later keeps `at` itself a candidate.
  const iterator = parse(normalise(expr), { tz, currentDate: new Date(at.getTime() + 1) });
  try {
    return iterator.prev().toDate();
  } catch {
    return null;
  }
}
