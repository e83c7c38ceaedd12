import { z } from 'zod';
import { clip } from './words';

/**
 * Values that arrive as URL text (query parameters, cursors, path segments), checked once with
 * zod before they reach SQL, so a bad one is a 400 (API) or an "ignored filter" note (pages) that
 * says what is wrong, never a database error. Shared by lib/platform queries, route handlers and
 * pages.
 */

/** Years a timestamp may carry: what both PostgreSQL and Date#toISOString write back as ISO 8601. */
const MIN_YEAR = 1;
const MAX_YEAR = 9999;

function shown(text: string): string {
  return clip(text, 40);
}

/**
 * ISO 8601 as people and tools write it: a calendar date, optionally a time (to the minute, second
 * or fraction) with an optional offset. `T` or one space between date and time. Nothing else: the
 * looser forms `new Date` reads (`1`, `-1`, `Wed Dec 02 2026`, six-digit years) mean something the
 * sender did not.
 */
const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

function outOfRange(text: string) {
  return { ok: false as const, message: `'${shown(text)}' is out of range: use a date between the years ${MIN_YEAR} and ${MAX_YEAR}` };
}

const ISO_HINT = 'use ISO 8601, e.g. 2026-11-30 or 2026-11-30T08:00:00Z';

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
}

/** Signed or five-and-more-digit years (ISO 8601's expanded form): real dates, but not storable. */
const EXPANDED_YEAR = /^(?:[+-]\d{4,}|\d{5,})-\d{2}-\d{2}/;

/**
 * The date and time a text stands for, or the reason it is not one. A text without an offset is
 * UTC (a server has no time zone of the person who typed it; the console's own forms send UTC).
 * Every part is range-checked, so 2026-02-30 is refused rather than read as 2 March.
 */
export function parseInstant(text: string): { ok: true; value: Date } | { ok: false; message: string } {
  const trimmed = text.trim();
  const m = trimmed.length <= 40 ? ISO_INSTANT.exec(trimmed) : null;
  if (!m && EXPANDED_YEAR.test(trimmed)) return outOfRange(text);
  if (!m) return { ok: false, message: `'${shown(text)}' is not a date and time: ${ISO_HINT}` };
  const [year, month, day, hour = 0, minute = 0, second = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) =>
    v === undefined ? undefined : Number(v),
  ) as number[];
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  if (year < MIN_YEAR || year > MAX_YEAR) return outOfRange(text);
  const wrong = (part: string) => ({ ok: false as const, message: `'${shown(text)}' is not a date and time: ${part}; ${ISO_HINT}` });
  if (month < 1 || month > 12) return wrong(`there is no month ${month}`);
  if (day < 1 || day > daysIn(year, month)) return wrong(`${String(year).padStart(4, '0')}-${m[2]} has no day ${day}`);
  if (hour > 23 || minute > 59 || second > 59) return wrong(`${m[4]}:${m[5]}${m[6] ? `:${m[6]}` : ''} is not a time of day`);
  let offsetMinutes = 0;
  if (m[9]) {
    const [oh, om] = [Number(m[10]), Number(m[11] ?? 0)];
    if (oh > 23 || om > 59) return wrong(`${m[9]}${m[10]}:${m[11] ?? '00'} is not a UTC offset`);
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day);
  at.setUTCHours(hour, minute, second, ms);
  const value = new Date(at.getTime() - offsetMinutes * 60_000);
  // An offset can carry 0001-01-01 or 9999-12-31 across the edge of what PostgreSQL stores back.
  if (value.getUTCFullYear() < MIN_YEAR || value.getUTCFullYear() > MAX_YEAR) return outOfRange(text);
  return { ok: true, value };
}

/** What parseInstant reads, in words for API descriptions. */
export const INSTANT_FORMAT =
  'ISO 8601: a date (2026-11-30) or a date and time (2026-11-30T08:00:00Z, 2026-11-30T09:00:00+01:00); UTC when no offset is given; years 1 to 9999.';

/**
 * A point in time from a URL (ISO 8601 text) or from code (a Date), within years 1..9999. Neither
 * (a number, null) is said as the text to send: a JSON caller cannot send a Date.
 */
export const ZInstant = z.union([z.date(), z.string()], { error: `must be a date and time: ${ISO_HINT}` }).transform((value, ctx) => {
  const parsed =
    value instanceof Date
      ? Number.isNaN(value.getTime())
        ? parseInstant('Invalid Date')
        : parseInstant(value.toISOString())
      : parseInstant(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.message });
    return z.NEVER;
  }
  return parsed.value;
});

/** Any 8-4-4-4-12 hexadecimal id, the form PostgreSQL's uuid type reads. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(text: unknown): text is string {
  return typeof text === 'string' && UUID_PATTERN.test(text);
}

/** Text from a URL: bounded, and without the NUL character PostgreSQL text cannot hold. */
export function ZUrlText(max: number) {
  return z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters (\\u0000)');
}

/**
 * A keyset cursor `<time>|<uuid>` (the runs list, the alert history) as its parts. `label` names
 * what the id is, for the message.
 */
export function ZTimeIdCursor(label: string) {
  return z
    .string()
    .max(120, 'cursor is too long: use the "next" value a previous page returned')
    .transform((value, ctx) => {
      const bar = value.indexOf('|');
      const format = `cursor must be <time>|<${label} id>, as the previous page returned it`;
      if (bar < 0 || bar !== value.lastIndexOf('|')) {
        ctx.addIssue({ code: 'custom', message: format });
        return z.NEVER;
      }
      const at = parseInstant(value.slice(0, bar));
      const id = value.slice(bar + 1);
      if (!at.ok) {
        ctx.addIssue({ code: 'custom', message: `${format}: ${at.message}` });
        return z.NEVER;
      }
      if (!isUuid(id)) {
        ctx.addIssue({ code: 'custom', message: `${format}: '${shown(id)}' is not a ${label} id` });
        return z.NEVER;
      }
      return { at: at.value, id: id.toLowerCase() };
    });
}

/** The audit trail's cursor `<audit row id>|<time>` as its parts. */
export const ZAuditCursor = z
  .string()
  .max(120, 'cursor is too long: use the link of the previous page')
  .transform((value, ctx) => {
    const format = 'cursor must be <audit row id>|<time>, as the previous page linked it';
    const match = /^(\d{1,15})\|(.+)$/.exec(value);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: format });
      return z.NEVER;
    }
    const at = parseInstant(match[2]);
    if (!at.ok) {
      ctx.addIssue({ code: 'custom', message: `${format}: ${at.message}` });
      return z.NEVER;
    }
    return { id: Number(match[1]), changedAt: at.value };
  });

/** zod's type names as a person reads them. */
const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  date: 'a date',
  bigint: 'a whole number',
};

/** What each of zod's own messages starts with: a message that does not is the schema's own, kept. */
const ZOD_WORDING: Partial<Record<z.core.$ZodIssue['code'], string>> = {
  invalid_type: 'Invalid input',
  invalid_value: 'Invalid ',
  too_big: 'Too big: ',
  too_small: 'Too small: ',
  unrecognized_keys: 'Unrecognized key',
  invalid_format: 'Invalid ',
  invalid_union: 'Invalid input',
  not_multiple_of: 'Invalid number: ',
};

/** What is counted when a size is bounded, by zod's origin (the kind of value measured). */
const SIZE_UNITS: Record<string, { verb: string; one: string; many: string }> = {
  string: { verb: 'be', one: 'character', many: 'characters' },
  array: { verb: 'list', one: 'item', many: 'items' },
  set: { verb: 'list', one: 'item', many: 'items' },
  map: { verb: 'list', one: 'entry', many: 'entries' },
  file: { verb: 'be', one: 'byte', many: 'bytes' },
};

const EXAMPLE_ID = '3f6c2a1e-8b4d-4c2a-9e1f-0a2b3c4d5e6f';

/** How a value of each format is written, shown by example. */
const FORMAT_WORDS: Record<string, string> = {
  datetime: 'must be a date and time such as 2026-12-05T10:00:00Z',
  date: 'must be a date such as 2026-12-05',
  time: 'must be a time of day such as 10:00:00',
  duration: 'must be an ISO 8601 duration such as PT15M',
  uuid: `must be an id such as ${EXAMPLE_ID}`,
  uuidv4: `must be an id such as ${EXAMPLE_ID}`,
  uuidv6: `must be an id such as ${EXAMPLE_ID}`,
  uuidv7: `must be an id such as ${EXAMPLE_ID}`,
  guid: `must be an id such as ${EXAMPLE_ID}`,
  email: 'must be an email address such as ada@example.com',
  url: 'must be a URL such as https://example.com/path',
};

/** A bound as a person reads it: a Date as ISO text, a bigint without its `n`. */
function boundText(origin: string, bound: number | bigint): string {
  return origin === 'date' ? new Date(Number(bound)).toISOString() : String(bound);
}

/** zod's too_big / too_small in words: "must be at most 500 characters", "must list at least 1 item". */
function sizeMessage(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall): string {
  const big = issue.code === 'too_big';
  const bound = big ? issue.maximum : issue.minimum;
  const units = SIZE_UNITS[issue.origin];
  if (units) {
    // Counts are whole: an exclusive bound (< 5) is the inclusive one next to it (at most 4).
    const count = Number(bound) + (issue.inclusive === false ? (big ? -1 : 1) : 0);
    const amount = `${count} ${count === 1 ? units.one : units.many}`;
    const how = issue.exact ? 'exactly' : big ? 'at most' : 'at least';
    return `must ${units.verb} ${how} ${amount}`;
  }
  const value = boundText(issue.origin, bound);
  if (issue.origin === 'date') {
    if (issue.exact) return `must be ${value}`;
    if (big) return issue.inclusive === false ? `must be before ${value}` : `must be ${value} or earlier`;
    return issue.inclusive === false ? `must be after ${value}` : `must be ${value} or later`;
  }
  if (issue.exact) return `must be exactly ${value}`;
  if (big) return issue.inclusive === false ? `must be less than ${value}` : `must be at most ${value}`;
  return issue.inclusive === false ? `must be more than ${value}` : `must be at least ${value}`;
}

function formatMessage(issue: z.core.$ZodIssueInvalidStringFormat): string {
  if (issue.format === 'regex') return `must match the pattern ${issue.pattern}`;
  if (issue.format === 'starts_with') return `must start with '${(issue as z.core.$ZodIssueStringStartsWith).prefix}'`;
  if (issue.format === 'ends_with') return `must end with '${(issue as z.core.$ZodIssueStringEndsWith).suffix}'`;
  if (issue.format === 'includes') return `must contain '${(issue as z.core.$ZodIssueStringIncludes).includes}'`;
  // The other formats zod names in its message ("Invalid IPv4 address"): said as what to send.
  return FORMAT_WORDS[issue.format] ?? issue.message.replace(/^Invalid /, 'must be a valid ');
}

/** A literal as a message shows it: text in single quotes, anything else as JSON. */
function literalText(value: unknown): string {
  return typeof value === 'string' ? `'${shown(value)}'` : String(JSON.stringify(value));
}

/** What one option of a union takes, from the issue it raised for the whole value; null when it is not that simple. */
function optionWords(issue: z.core.$ZodIssue): string | null {
  if (issue.code === 'invalid_type') return TYPE_WORDS[issue.expected] ?? issue.expected;
  if (issue.code === 'invalid_value' && issue.values.length > 0) return issue.values.map(literalText).join(' or ');
  return null;
}

function quotedList(values: readonly string[]): string {
  const quoted = values.map((v) => `'${shown(v)}'`);
  return quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(', ')} and ${quoted.at(-1)}`;
}

/** Wrappers that leave the value's fields as they are (optional, default, a pipe's input…). */
function unwrapped(schema: z.core.$ZodType): z.core.$ZodType {
  let node = schema;
  for (;;) {
    const def = node._zod.def as z.core.$ZodTypeDef & { innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    const inner = def.type === 'pipe' ? def.in : def.innerType;
    if (!inner) return node;
    node = inner;
  }
}

/** The keys of the object `schema` expects at `path`, or undefined when that is not an object it describes. */
export function objectKeysAt(schema: z.ZodType | undefined, path: readonly PropertyKey[]): string[] | undefined {
  let node: z.core.$ZodType | undefined = schema;
  for (const step of path) {
    if (!node) return undefined;
    const at = unwrapped(node);
    node = at instanceof z.ZodObject ? at.shape[String(step)] : at instanceof z.ZodArray ? at.element : undefined;
  }
  const at = node && unwrapped(node);
  return at instanceof z.ZodObject ? Object.keys(at.shape) : undefined;
}

/**
 * What a field error says of a key the request's object does not take (zod's unrecognized_keys,
 * one entry per key): that it is no field, and the ones it takes when they are known.
 */
export function unknownFieldMessage(accepted?: readonly string[]): string {
  return accepted && accepted.length > 0 ? `is not a field of this request: use ${accepted.join(', ')}` : 'is not a field of this request';
}

/**
 * An issue's message for a person. zod's own wording says what is wrong in its notation ("Invalid
 * option: expected one of \"queued\"|\"running\"|…", "Too big: expected string to have <=500
 * characters", "Invalid input: expected string, received number", "Unrecognized key: \"force\""):
 * here it says what to send instead. A schema's own message is kept as it is.
 */
export function issueMessage(issue: z.core.$ZodIssue): string {
  const zodWording = ZOD_WORDING[issue.code];
  if (zodWording === undefined || !issue.message.startsWith(zodWording)) return issue.message;
  switch (issue.code) {
    case 'invalid_type': {
      const expected = TYPE_WORDS[issue.expected] ?? issue.expected;
      // zod 4 says "received undefined" for a key that is not there.
      return / received undefined$/.test(issue.message) ? `is missing: expected ${expected}` : `must be ${expected}`;
    }
    case 'invalid_value': {
      if (issue.values.length === 0) return issue.message;
      const values = issue.values.map(literalText);
      return values.length === 1 ? `must be ${values[0]}` : `must be one of ${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
    }
    case 'too_big':
    case 'too_small':
      return sizeMessage(issue);
    case 'invalid_format':
      return formatMessage(issue);
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'unrecognized_keys':
      return `has ${issue.keys.length === 1 ? 'no field' : 'no fields'} ${quotedList(issue.keys)}`;
    case 'invalid_union': {
      // Every option refused the value as a whole (a number where a date or text goes, 'some'
      // where 'all' or a list goes): name what each option takes.
      const options = issue.errors.map((option) => (option.length === 1 && option[0].path.length === 0 ? optionWords(option[0]) : null));
      if (options.length === 0 || options.some((o) => o === null)) return issue.message;
      const words = [...new Set(options as string[])];
      return `must be ${words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`}`;
    }
    default:
      return issue.message;
  }
}

/** Edits (insert, delete, replace a character) from one name to another: Levenshtein's distance. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/**
 * The name of `known` that `text` was probably meant to be: the nearest within two edits, case
 * aside, and fewer for a short name (one edit from "l" is every one-letter name); undefined when
 * none is that near.
 */
export function nearestName(text: string, known: readonly string[]): string | undefined {
  const scored = known
    .map((k) => ({ k, d: editDistance(text.toLowerCase(), k.toLowerCase()) }))
    .filter(({ k, d }) => d <= Math.min(2, Math.floor(k.length / 3)) || k.toLowerCase() === text.toLowerCase())
    .sort((x, y) => x.d - y.d);
  return scored[0]?.k;
}

/**
 * What a field error says of a name that names nothing (`integration=crm_sync`): "no integration
 * is named 'crm_sync'; did you mean 'crm-sync'?", the suggestion from nearestName.
 */
export function unknownNameMessage(what: string, name: string, known: readonly string[]): string {
  const guess = nearestName(name, known);
  return `no ${what} is named '${shown(name)}'${guess ? `; did you mean '${shown(guess)}'?` : ''}`;
}

/** "statuz: not a parameter of this page; did you mean status?" (the nearest name within two edits, case aside). */
function unknownParam(key: string, known: string[]): string {
  const name = shown(key);
  const guess = nearestName(key, known);
  return guess
    ? `${name}: not a parameter of this page; did you mean ${guess}?`
    : `${name}: not a parameter of this page (it reads ${known.join(', ')})`;
}

/**
 * A page's search params checked against a schema: parameters that fail, and names the page does
 * not read, are dropped (the page shows what it ignored and why), the others are kept. Repeated
 * parameters (`?a=1&a=2`, which Next hands over as arrays) keep their first value, and say so.
 * `known` names, per parameter, the values it may take beyond its schema (the integrations there
 * are): another value is dropped with "no integration is named …" and the nearest name. `kept` is
 * the text of the parameters kept, for links to the next page.
 */
export function parseSearchParams<S extends z.ZodObject>(
  schema: S,
  raw: Record<string, string | string[] | undefined>,
  options: { known?: Partial<Record<keyof z.infer<S> & string, { what: string; names: readonly string[] }>> } = {},
): { data: z.infer<S>; problems: string[]; kept: Record<string, string> } {
  const flat: Record<string, string> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (!(key in schema.shape)) {
      // Said, not dropped in silence: `statuz=failed` read as an unfiltered list that looked filtered.
      if (value !== undefined) problems.push(unknownParam(key, Object.keys(schema.shape)));
      continue;
    }
    // Said too: `status=failed&status=cancelled` looked like a list of both and showed failed runs only.
    if (Array.isArray(value) && value.length > 1) {
      problems.push(`${key}: given ${value.length} times; only the first, '${shown(value[0])}', is read`);
    }
    if (first === undefined || first === '') continue;
    const known = (options.known as Record<string, { what: string; names: readonly string[] } | undefined> | undefined)?.[key];
    if (known && !known.names.includes(first)) {
      problems.push(`${key}: ${unknownNameMessage(known.what, first, known.names)}`);
      continue;
    }
    flat[key] = first;
  }
  for (let tries = 0; tries <= Object.keys(flat).length; tries++) {
    const parsed = schema.safeParse(flat);
    if (parsed.success) return { data: parsed.data as z.infer<S>, problems, kept: flat };
    let dropped = false;
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '');
      if (key in flat) {
        problems.push(`${key}: ${issueMessage(issue)}`);
        delete flat[key];
        dropped = true;
      }
    }
    if (!dropped) break;
  }
  return { data: schema.parse({}) as z.infer<S>, problems, kept: {} };
}

/**
 * A whole number from a URL (`limit=50`) or from code, within [min, max]. Only decimal digits:
 * `Number()` would also read `1e2`, `0x10`, ` 5 ` and `` (empty, as 0) as numbers the sender did
 * not write. (A preprocess, not a union, so the API document keeps the integer's bounds.)
 */
export function ZUrlWholeNumber(min: number, max: number) {
  const notWhole = (input: unknown) => `'${shown(String(input))}' is not a whole number: use digits only, e.g. ${Math.min(max, 50)}`;
  return z.preprocess(
    (value) => (typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value),
    z
      .number({ error: (issue) => notWhole(issue.input) })
      .int({ error: (issue) => notWhole(issue.input) })
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`),
  );
}
