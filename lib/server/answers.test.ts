import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { AppError, DatabaseUnavailableError, isDatabaseUnavailableError } from '../platform/errors';
import { boundedMessage, errorAnswer, failureAnswer, fieldErrorsOf, knownError, unstorableInputRefusal } from './answers';

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
