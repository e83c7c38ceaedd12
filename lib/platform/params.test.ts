import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { issueMessage, parseInstant, parseSearchParams, unknownFieldMessage, ZInstant, ZUrlWholeNumber } from './params';

function iso(text: string): string {
  const parsed = parseInstant(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value.toISOString();
}

function refusal(text: string): string {
  const parsed = parseInstant(text);
  if (parsed.ok) throw new Error(`'${text}' was accepted as ${parsed.value.toISOString()}`);
  return parsed.message;
}

describe('parseInstant', () => {
  it('reads ISO 8601 dates and times, UTC when no offset is given', () => {
    expect(iso('2026-11-30')).toBe('2026-11-30T00:00:00.000Z');
    expect(iso('2026-11-30T08:00')).toBe('2026-11-30T08:00:00.000Z');
    expect(iso('2026-11-30 08:00:05')).toBe('2026-11-30T08:00:05.000Z');
    expect(iso('2026-11-30T08:00:05.123Z')).toBe('2026-11-30T08:00:05.123Z');
    expect(iso('2026-11-30T08:00:05.123456789z')).toBe('2026-11-30T08:00:05.123Z');
    expect(iso('2026-11-30T08:00:00+02:00')).toBe('2026-11-30T06:00:00.000Z');
    expect(iso('2026-11-30T08:00:00-0530')).toBe('2026-11-30T13:30:00.000Z');
    // PostgreSQL's own text form: a space and an hours-only offset.
    expect(iso('2026-11-30 08:00:00.123456+00')).toBe('2026-11-30T08:00:00.123Z');
    expect(iso('2026-11-30 08:00:00+02')).toBe('2026-11-30T06:00:00.000Z');
    expect(iso(' 2024-02-29T23:59:59Z ')).toBe('2024-02-29T23:59:59.000Z');
    expect(iso('0001-01-01')).toBe('0001-01-01T00:00:00.000Z');
    expect(iso('9999-12-31T23:59:59.999Z')).toBe('9999-12-31T23:59:59.999Z');
  });

  it('refuses the loose forms Date reads differently from what was meant', () => {
    // Each of these `new Date` accepted: -4713 as year 4713, 1 and 12 as 2001, day 30 of February
    // as 2 March, a weekday string in the server's time zone.
    for (const text of [
      '1',
      '-1',
      '12',
      '2026',
      '2026-11',
      'Wed Dec 02 2026',
      'December 2, 2026',
      '2026/12/02',
      '12/02/2026',
      'tomorrow',
      '',
      '   ',
      '2026-11-30T',
      '2026-11-30T8:00',
      '2026-11-30T08',
      '1764576000000',
    ]) {
      expect(refusal(text), text).toMatch(/is not a date and time: use ISO 8601/);
    }
    expect(refusal('2026-02-30')).toMatch(/2026-02 has no day 30/);
    expect(refusal('2025-02-29')).toMatch(/2025-02 has no day 29/);
    expect(refusal('1900-02-29')).toMatch(/has no day 29/);
    expect(refusal('2026-13-01')).toMatch(/no month 13/);
    expect(refusal('2026-00-10')).toMatch(/no month 0/);
    expect(refusal('2026-04-31')).toMatch(/has no day 31/);
    expect(refusal('2026-11-30T24:00')).toMatch(/not a time of day/);
    expect(refusal('2026-11-30T23:60')).toMatch(/not a time of day/);
    expect(refusal('2026-11-30T23:59:60Z')).toMatch(/not a time of day/);
    expect(refusal('2026-11-30T08:00+24:00')).toMatch(/not a UTC offset/);
  });

  it('names the range for years PostgreSQL and toISOString cannot both hold', () => {
    for (const text of [
      '-4713-01-01',
      '-271821-04-20',
      '-000001-01-01',
      '+275760-09-13T00:00:00Z',
      '275760-09-13',
      '10000-01-01',
      '0000-12-31',
      '0001-01-01T00:00:00+01:00',
      '9999-12-31T23:00:00-02:00',
    ]) {
      expect(refusal(text), text).toMatch(/out of range: use a date between the years 1 and 9999/);
    }
  });

  it('cuts a long text short in the message', () => {
    expect(refusal('x'.repeat(500)).length).toBeLessThan(160);
  });
});

describe('ZInstant', () => {
  it('takes dates from code within the same range', () => {
    expect(ZInstant.parse(new Date('2026-01-01T00:00:00Z')).toISOString()).toBe('2026-01-01T00:00:00.000Z');
    for (const ms of [8_640_000_000_000_000, -8_640_000_000_000_000, Number.NaN]) {
      expect(ZInstant.safeParse(new Date(ms)).success, String(ms)).toBe(false);
    }
  });
});

describe('issueMessage: what a refusal says instead of zod\u2019s notation', () => {
  /** Every issue a schema raises for `value`, as issueMessage words it. */
  function said(schema: z.ZodType, value: unknown): string[] {
    const parsed = schema.safeParse(value);
    if (parsed.success) throw new Error(`${JSON.stringify(value)} was accepted`);
    return parsed.error.issues.map(issueMessage);
  }

  it('says a text, list or number out of bounds as the bound to keep to', () => {
    // Before: "Too big: expected string to have <=500 characters" (a reason of 501 characters).
    expect(said(z.string().max(500), 'x'.repeat(501))).toEqual(['must be at most 500 characters']);
    expect(said(z.string().min(1), '')).toEqual(['must be at least 1 character']);
    expect(said(z.string().length(3), 'ab')).toEqual(['must be exactly 3 characters']);
    // Before: "Too small: expected array to have >=1 items" (POST /api/runs/retry {"runIds":[]}).
    expect(said(z.array(z.string()).min(1), [])).toEqual(['must list at least 1 item']);
    expect(said(z.array(z.string()).max(2), ['a', 'b', 'c'])).toEqual(['must list at most 2 items']);
    expect(said(z.number().min(1), 0)).toEqual(['must be at least 1']);
    expect(said(z.number().max(100), 101)).toEqual(['must be at most 100']);
    // Exclusive bounds say so: 0 is not "at least 0" of a positive number.
    expect(said(z.number().positive(), 0)).toEqual(['must be more than 0']);
    expect(said(z.number().lt(10), 10)).toEqual(['must be less than 10']);
    expect(said(z.bigint().max(5n), 6n)).toEqual(['must be at most 5']);
    expect(said(z.date().min(new Date('2026-01-01T00:00:00Z')), new Date('2025-01-01T00:00:00Z'))).toEqual([
      'must be 2026-01-01T00:00:00.000Z or later',
    ]);
    expect(said(z.number().multipleOf(5), 3)).toEqual(['must be a multiple of 5']);
  });

  it('says a malformed date, time or id as an example of the form to send', () => {
    expect(said(z.iso.datetime({ offset: true }), '2026-12-05')).toEqual(['must be a date and time such as 2026-12-05T10:00:00Z']);
    expect(said(z.iso.date(), 'tomorrow')).toEqual(['must be a date such as 2026-12-05']);
    expect(said(z.uuid(), 'run-1')).toEqual(['must be an id such as 3f6c2a1e-8b4d-4c2a-9e1f-0a2b3c4d5e6f']);
    expect(said(z.email(), 'ada')).toEqual(['must be an email address such as ada@example.com']);
    expect(said(z.string().regex(/^[a-z-]+$/), 'A B')).toEqual(['must match the pattern /^[a-z-]+$/']);
    expect(said(z.string().startsWith('jct_'), 'token')).toEqual(["must start with 'jct_'"]);
    expect(said(z.ipv4(), 'x')).toEqual(['must be a valid IPv4 address']);
  });

  it('names keys an object does not take, and the types a union takes', () => {
    expect(said(z.object({ dryRun: z.boolean() }).strict(), { dryRun: true, force: true })).toEqual(["has no field 'force'"]);
    expect(said(z.strictObject({}), { a: 1, b: 2 })).toEqual(["has no fields 'a' and 'b'"]);
    expect(unknownFieldMessage(['dryRun', 'reason'])).toBe('is not a field of this request: use dryRun, reason');
    expect(unknownFieldMessage()).toBe('is not a field of this request');
    expect(said(z.union([z.string(), z.number()]), true)).toEqual(['must be text or a number']);
    expect(said(z.union([z.literal('all'), z.array(z.string())]), 'some')).toEqual(["must be 'all' or a list"]);
    // A date for the API is text in ISO 8601: the union's own message says so. Before: "Invalid input".
    expect(said(ZInstant, 5)).toEqual(['must be a date and time: use ISO 8601, e.g. 2026-11-30 or 2026-11-30T08:00:00Z']);
  });

  it('keeps a schema\u2019s own message for every kind of issue', () => {
    const own = 'see the docs';
    expect(said(z.string({ error: own }), 1)).toEqual([own]);
    expect(said(z.string().max(2, own), 'abc')).toEqual([own]);
    expect(said(z.array(z.string()).min(1, own), [])).toEqual([own]);
    expect(said(z.uuid({ error: own }), 'x')).toEqual([own]);
    expect(said(z.iso.datetime({ error: own }), 'x')).toEqual([own]);
    expect(said(z.strictObject({}, { error: own }), { a: 1 })).toEqual([own]);
    expect(said(z.union([z.string(), z.number()], { error: own }), true)).toEqual([own]);
    // A custom refinement whose message zod would have worded alike stays as written.
    expect(
      said(
        z.string().refine(() => false, 'Invalid input: a reason of our own'),
        'x',
      ),
    ).toEqual(['Invalid input: a reason of our own']);
  });
});

describe('ZUrlWholeNumber (limit=, before=)', () => {
  const limit = ZUrlWholeNumber(1, 200);
  const messages = (value: unknown) => {
    const parsed = limit.safeParse(value);
    return parsed.success ? parsed.data : parsed.error.issues.map((i) => i.message);
  };

  it('reads decimal digits and numbers within the range', () => {
    expect(messages('50')).toBe(50);
    expect(messages('007')).toBe(7);
    expect(messages(200)).toBe(200);
  });

  it('refuses what Number() reads as a number the sender did not write, saying what to send', () => {
    // z.coerce.number() answered 100, 16, 5, 0 and Infinity for these.
    for (const text of ['1e2', '0x10', ' 5', '5 ', '', '1.5', '-3', '+3', 'abc', 'Infinity', '1_000', '１２']) {
      expect(messages(text), text).toEqual([`'${text}' is not a whole number: use digits only, e.g. 50`]);
    }
    expect(messages(1.5)).toEqual(["'1.5' is not a whole number: use digits only, e.g. 50"]);
  });

  it('names the range', () => {
    expect(messages('0')).toEqual(['must be at least 1']);
    expect(messages('201')).toEqual(['must be at most 200']);
    expect(messages('99999999999999999')).toEqual(["'99999999999999999' is not a whole number: use digits only, e.g. 50"]);
  });
});

describe('parseSearchParams: what a page says about a parameter it ignored', () => {
  const schema = z.object({
    status: z.enum(['queued', 'running', 'failed']).optional(),
    dryRun: z.enum(['only']).optional(),
    limit: ZUrlWholeNumber(1, 200).default(50),
  });

  it('names the allowed values and the number form in words, not zod notation, and keeps the rest', () => {
    const { data, problems, kept } = parseSearchParams(schema, { status: 'bogus', dryRun: 'yes', limit: 'ten' });
    // Before: 'status: Invalid option: expected one of "queued"|"running"|"failed"' and
    // 'limit: Invalid input: expected number, received NaN'.
    expect(problems.sort()).toEqual([
      "dryRun: must be 'only'",
      "limit: 'ten' is not a whole number: use digits only, e.g. 50",
      "status: must be one of 'queued', 'running' or 'failed'",
    ]);
    expect(data).toEqual({ limit: 50 });
    expect(kept).toEqual({});
  });

  it('says a value of the wrong type, or a missing one, in words', () => {
    const body = z.object({ invoice_number: z.string(), amount: z.number(), paid: z.boolean() });
    const parsed = body.safeParse({ amount: 'ten', paid: 1 });
    expect(parsed.success).toBe(false);
    // Before: "Invalid input: expected string, received undefined", "…expected number, received string".
    expect(parsed.error!.issues.map((i) => `${i.path.join('.')} ${issueMessage(i)}`)).toEqual([
      'invoice_number is missing: expected text',
      'amount must be a number',
      'paid must be true or false',
    ]);
  });

  it('says a parameter the page does not read, with the name it probably meant, and keeps the others', () => {
    const { data, problems, kept } = parseSearchParams(schema, {
      statuz: 'failed',
      dryrun: 'only',
      status: 'running',
      colour: 'red',
      q: '',
    });
    expect(problems).toEqual([
      'statuz: not a parameter of this page; did you mean status?',
      'dryrun: not a parameter of this page; did you mean dryRun?',
      'colour: not a parameter of this page (it reads status, dryRun, limit)',
      'q: not a parameter of this page (it reads status, dryRun, limit)',
    ]);
    expect(data).toEqual({ status: 'running', limit: 50 });
    expect(kept).toEqual({ status: 'running' });
    // A short name is not "corrected" to any other: one edit from "l" is every one-letter name.
    expect(parseSearchParams(z.object({ q: z.string().optional(), at: z.string().optional() }), { a: 'x' }).problems).toEqual([
      'a: not a parameter of this page (it reads q, at)',
    ]);
  });

  it('says a repeated parameter was read once, and which of its values', () => {
    // Before: status=failed&status=cancelled showed failed runs only, and nothing said so.
    const { data, problems, kept } = parseSearchParams(schema, { status: ['failed', 'running'], limit: '20' });
    expect(problems).toEqual(["status: given 2 times; only the first, 'failed', is read"]);
    expect(data).toEqual({ status: 'failed', limit: 20 });
    expect(kept).toEqual({ status: 'failed', limit: '20' });
  });

  it('says a name that names nothing, with the name it probably meant, and leaves that filter out', () => {
    const withIntegration = schema.extend({ integration: z.string().optional() });
    const known = { integration: { what: 'integration', names: ['crm-sync', 'accounting-export', 'payment-events'] } };
    // Before: integration=crm_sync answered "No runs" under a select that read "All integrations".
    const typo = parseSearchParams(withIntegration, { integration: 'crm_sync', status: 'failed' }, { known });
    expect(typo.problems).toEqual(["integration: no integration is named 'crm_sync'; did you mean 'crm-sync'?"]);
    expect(typo.data).toEqual({ status: 'failed', limit: 50 });
    expect(typo.kept).toEqual({ status: 'failed' });
    expect(parseSearchParams(withIntegration, { integration: 'CRM-SYNC' }, { known }).problems).toEqual([
      "integration: no integration is named 'CRM-SYNC'; did you mean 'crm-sync'?",
    ]);
    expect(parseSearchParams(withIntegration, { integration: 'billing' }, { known }).problems).toEqual([
      "integration: no integration is named 'billing'",
    ]);
    const named = parseSearchParams(withIntegration, { integration: 'crm-sync' }, { known });
    expect(named).toEqual({ data: { integration: 'crm-sync', limit: 50 }, problems: [], kept: { integration: 'crm-sync' } });
  });

  it('keeps a schema’s own message', () => {
    const own = z.object({ kind: z.enum(['a', 'b'], { error: 'kind is a or b: see the docs' }).optional() });
    expect(parseSearchParams(own, { kind: 'c' }).problems).toEqual(['kind: kind is a or b: see the docs']);
  });
});
