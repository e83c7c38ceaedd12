import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { AppError, DatabaseUnavailableError, isDatabaseUnavailableError } from '../platform/errors';
import { ZRunFilter } from '../platform/read-models/run-queries';
import {
  boundedMessage,
  errorAnswer,
  failureAnswer,
  fieldErrorsOf,
  inputFieldNames,
  knownError,
  queryRefusal,
  unstorableInputRefusal,
} from './answers';
import { ZBulkRetryBody, ZIntegrationsQuery, ZRetryRunBody, ZRunNowBody, ZRunStatusesQuery } from './api-schemas';

afterEach(() => vi.restoreAllMocks());

describe('knownError: the one recogniser', () => {
  it("answers an AppError with its code's status, bounded message, field errors and details", () => {
    expect(knownError(new AppError('not_found', 'Run r1 does not exist'))).toEqual({ status: 404, error: 'Run r1 does not exist' });
    expect(knownError(new AppError('invalid_input', 'Not saved', { fieldErrors: { schedule: 'bad' } }))).toEqual({
      status: 400,
      error: 'Not saved',
      fieldErrors: { schedule: 'bad' },
    });
    expect(knownError(new AppError('stale', 'reload', { details: { latest: { version: 2 } } }))).toEqual({
      status: 409,
      error: 'reload',
      details: { latest: { version: 2 } },
    });
    expect(errorAnswer(new AppError('forbidden', 'needs admin')).status).toBe(403);
    expect(errorAnswer(new AppError('unauthenticated', 'sign in')).status).toBe(401);
    const long = knownError(new AppError('invalid_input', 'x'.repeat(5000)))!;
    expect(long.error).toHaveLength(300);
    expect(long.error.endsWith('…')).toBe(true);
  });

  it('does not trust a foreign object or error that merely carries a matching code', () => {
    const lookalike = Object.assign(new Error('password=hunter2 leaked in a driver message'), {
      code: 'not_found',
      details: { secret: 1 },
    });
    expect(knownError(lookalike)).toBeNull();
    expect(knownError({ code: 'invalid_input', message: 'forged' })).toBeNull();
    expect(knownError({ code: 'stale', status: 409, name: 'AppError', message: 'forged' })).toBeNull();
    expect(knownError(null)).toBeNull();
    expect(knownError('not_found')).toBeNull();
  });

  it('answers anything else 500 with a generic message and a reference, logging the error', () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const lookalike = Object.assign(new Error('password=hunter2'), { code: 'not_found' });
    const action = failureAnswer(lookalike, 'ref-1', 'action');
    expect(action).toEqual({ status: 500, error: 'Something went wrong (ref ref-1). Try again; if it persists, quote the ref.' });
    expect(JSON.stringify(action)).not.toContain('hunter2');
    expect(failureAnswer(new TypeError('x is undefined'), 'ref-2', 'api')).toEqual({
      status: 500,
      error: 'Something went wrong (ref ref-2).',
    });
    expect(log).toHaveBeenCalledTimes(2);
    expect(log.mock.calls[0][0]).toBe('[action] ref ref-1:');
    expect(log.mock.calls[0][1]).toBe(lookalike);
    expect(failureAnswer(new AppError('orphaned', 'not registered'), 'ref-3', 'api')).toEqual({ status: 409, error: 'not registered' });
    expect(log).toHaveBeenCalledTimes(2);
  });
});

describe('the database unavailable', () => {
  it('answers 503, try again, when the session check could not reach the database; other session failures stay 500', () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const outage = new DatabaseUnavailableError('The signed-in user could not be read: the database is not answering');
    expect(failureAnswer(outage, 'ref-4', 'api')).toEqual({
      status: 503,
      error:
        "Junction's database is not answering (ref ref-4). Try again in a minute; if it persists, quote the ref to whoever runs Junction.",
    });
    expect(failureAnswer(new Error('The signed-in user could not be read from the database'), 'ref-5', 'action').status).toBe(500);
    // Recognised wherever it is wrapped (a cause of a cause).
    expect(isDatabaseUnavailableError(new Error('wrapped', { cause: new Error('again', { cause: outage }) }))).toBe(true);
    expect(log).toHaveBeenCalledTimes(2);
  });
});

describe('input refusals', () => {
  it('names zod issues by path, bounded', () => {
    const parsed = z.object({ a: z.object({ b: z.number() }) }).safeParse({ a: { b: 'x' } });
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(Object.keys(fieldErrorsOf(parsed.error))).toEqual(['a.b']);
    expect(boundedMessage('short')).toBe('short');
  });

  it('refuses NUL characters in values and keys, naming the field', () => {
    expect(unstorableInputRefusal({ a: [{ b: 'x\u0000y' }] })?.fieldErrors).toEqual({
      'a.0.b': 'must not contain NUL characters (\\u0000)',
    });
    expect(unstorableInputRefusal({ ['k\u0000']: 1 })?.error).toMatch(/Field names cannot contain NUL/);
    expect(unstorableInputRefusal({ a: 'fine', b: [1, null, { c: true }] })).toBeNull();
  });

  it('refuses unpaired UTF-16 surrogates in values and keys, and numbers beyond a double, naming the field', () => {
    // What JSON.parse makes of the escapes \ud800 and \udc00 on their own.
    const parsed = JSON.parse('{"a":{"b":["ok","x\\ud800y"]},"c":"\\udc00"}');
    expect(unstorableInputRefusal(parsed)).toEqual({
      error: "Text cannot contain unpaired UTF-16 surrogates (such as \\ud800): they are not Unicode characters; fix the text's encoding.",
      fieldErrors: { c: 'must be valid Unicode (it has an unpaired surrogate such as \\ud800)' },
    });
    expect(unstorableInputRefusal({ a: { b: ['ok', 'x\ud800y'] } })?.fieldErrors).toEqual({
      'a.b.1': 'must be valid Unicode (it has an unpaired surrogate such as \\ud800)',
    });
    expect(unstorableInputRefusal(JSON.parse('{"\\udbff":1}'))?.error).toMatch(/^Field names cannot contain unpaired UTF-16 surrogates/);
    expect(unstorableInputRefusal(JSON.parse('{"n":[1,-1e999]}'))).toEqual({
      error: 'Numbers must be within ±1.8e308.',
      fieldErrors: { 'n.1': 'must be a number within ±1.8e308' },
    });
    // A surrogate pair is one character; RTL marks, BOM and emoji are text like any other.
    expect(unstorableInputRefusal(JSON.parse('{"a":"\\ud83d\\ude80","\\u202e":"\\ufeff👩‍👩‍👧","n":1.7e308}'))).toBeNull();
  });
});

describe('field errors of a request body, in words', () => {
  function fieldErrors(schema: z.ZodType, body: unknown) {
    const parsed = schema.safeParse(body);
    if (parsed.success) throw new Error(`${JSON.stringify(body)} was accepted`);
    return fieldErrorsOf(parsed.error, schema);
  }

  it('names a key the body does not take as its own field, with the fields it takes', () => {
    // Before: { _: 'Unrecognized key: "force"' }.
    expect(fieldErrors(ZRunNowBody, { dryRun: true, force: true, Reason: 'x' })).toEqual({
      force: 'is not a field of this request: use dryRun, reason',
      Reason: 'is not a field of this request: use dryRun, reason',
    });
    const nested = z.object({ routing: z.object({ channelIds: z.array(z.string()) }).strict() });
    expect(fieldErrors(nested, { routing: { channelIds: [], channel: 'ops' } })).toEqual({
      'routing.channel': 'is not a field of this request: use channelIds',
    });
    // Without the schema the fields it takes are unknown, and the key is still its own field.
    const parsed = ZRetryRunBody.safeParse({ force: true });
    expect(parsed.success ? null : fieldErrorsOf(parsed.error)).toEqual({ force: 'is not a field of this request' });
  });

  it('says bounds as the bound to keep to, not zod notation', () => {
    // Before: 'Too big: expected string to have <=500 characters' and 'Too small: expected array to have >=1 items'.
    expect(fieldErrors(ZRunNowBody, { reason: 'x'.repeat(501) })).toEqual({ reason: 'must be at most 500 characters' });
    expect(fieldErrors(ZBulkRetryBody, { runIds: [] })).toEqual({ runIds: 'must list at least 1 item' });
    expect(fieldErrors(ZIntegrationsQuery, { search: 's'.repeat(201) })).toEqual({ search: 'must be at most 200 characters' });
    expect(fieldErrors(ZRunFilter, { from: 'soon' })).toEqual({
      from: "'soon' is not a date and time: use ISO 8601, e.g. 2026-11-30 or 2026-11-30T08:00:00Z",
    });
  });
});

describe('query parameters a route does not take', () => {
  /** What GET /api/runs takes (ZRunFilter's keys, checked below). */
  const RUNS_PARAMETERS = 'integration, status, trigger, dryRun, retried, bulk, from, to, after, limit';
  const runs = RUNS_PARAMETERS.split(', ');
  const refusal = (query: string, accepted: readonly string[] | null, bodyFields?: readonly string[]) =>
    queryRefusal(new URLSearchParams(query), { accepted, bodyFields });

  it('reads the parameters from the schema the route parses its query with', () => {
    expect(inputFieldNames(ZRunFilter)).toEqual(runs);
    expect(inputFieldNames(ZIntegrationsQuery)).toEqual(['search']);
    expect(inputFieldNames(ZRunStatusesQuery)).toEqual(['ids']);
    expect(inputFieldNames(undefined)).toEqual([]);
    expect(inputFieldNames(ZRunNowBody.optional())).toEqual(['dryRun', 'reason']);
    expect(inputFieldNames(z.string())).toBeNull();
  });

  it('refuses a list sent with brackets, saying to send one value without them', () => {
    // Before: 200 with every run, the status filter dropped (axios and qs send arrays so).
    expect(refusal('limit=200&status[]=failed', runs)).toEqual({
      error: "Query parameter 'status[]' is not a parameter of this route: send status=failed once, without brackets.",
      fieldErrors: { 'status[]': 'is not a parameter of this route: send status=failed once, without brackets' },
    });
  });

  it('refuses a misspelt or differently cased parameter, listing the ones the route takes', () => {
    expect(refusal('statuss=failed', runs)).toEqual({
      error: `Query parameter 'statuss' is not a parameter of this route: use ${RUNS_PARAMETERS}.`,
      fieldErrors: { statuss: `is not a parameter of this route: use ${RUNS_PARAMETERS}` },
    });
    expect(refusal('Status=failed', runs)?.fieldErrors).toEqual({
      Status: 'is not a parameter of this route: names are case-sensitive, use status',
    });
    expect(refusal('q=crm', inputFieldNames(ZIntegrationsQuery))).toEqual({
      error: "Query parameter 'q' is not a parameter of this route: use search.",
      fieldErrors: { q: 'is not a parameter of this route: use search' },
    });
    expect(refusal('a=1&b=2&c=3&d=4&status=failed', runs)).toMatchObject({
      error: `Query parameters 'a', 'b', 'c' and 1 more are not parameters of this route: use ${RUNS_PARAMETERS}.`,
    });
    expect(Object.keys(refusal('a=1&b=2&c=3&d=4', runs)!.fieldErrors)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('refuses any parameter on a route that takes none, and on a mutation, whose input is its body', () => {
    expect(refusal('limit=5', [])).toEqual({
      error: "Query parameter 'limit' is not a parameter of this route: this route takes no query parameters.",
      fieldErrors: { limit: 'is not a parameter of this route: this route takes no query parameters' },
    });
    // Before: POST /api/integrations/x/runs?dryRun=true started a real run.
    expect(refusal('dryRun=true', [], ['dryRun', 'reason'])?.fieldErrors).toEqual({
      dryRun: 'is not a parameter of this route: send dryRun in the JSON body',
    });
    expect(refusal('force=1', [], ['dryRun', 'reason'])?.fieldErrors).toEqual({
      force: 'is not a parameter of this route: this route takes no query parameters; send dryRun, reason in the JSON body',
    });
  });

  it('answers a bounded refusal however many or long the names are', () => {
    const many = Array.from({ length: 500 }, (_, i) => `p${i}=1`).join('&');
    const answer = refusal(many, runs)!;
    expect(Object.keys(answer.fieldErrors)).toHaveLength(10);
    expect(answer.error.length).toBeLessThanOrEqual(300);
    const long = refusal(`${'n'.repeat(5000)}=1`, runs)!;
    expect(long.error.length).toBeLessThanOrEqual(300);
    expect(Object.keys(long.fieldErrors)[0]).toHaveLength(300);
  });

  it('still refuses a repeated parameter, and lets known ones and stray separators through', () => {
    expect(refusal('status=failed&status=succeeded', runs)).toEqual({
      error: "Query parameter 'status' is given 2 times: give it once.",
      fieldErrors: { status: 'must be given once' },
    });
    expect(refusal('status=failed&integration=crm-sync&limit=20', runs)).toBeNull();
    expect(refusal('', runs)).toBeNull();
    expect(refusal('&&&=&', runs)).toBeNull();
    // A schema whose parameters cannot be told: only repeats are refused.
    expect(refusal('anything=1', null)).toBeNull();
    expect(refusal('anything=1&anything=2', null)?.fieldErrors).toEqual({ anything: 'must be given once' });
  });
});
