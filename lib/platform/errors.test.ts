import { describe, expect, it } from 'vitest';
import {
  APP_ERROR_STATUS,
  AppError,
  CancelledError,
  CircuitOpenError,
  classifyError,
  CredentialsError,
  databaseReason,
  errorClassName,
  errorMessage,
  HttpError,
  isDatabaseUnavailableError,
  isPermanentError,
  isTransientError,
  jsonNeedsStoring,
  NetworkError,
  PermanentError,
  refusalError,
  storableJson,
  storableText,
  TimeoutError,
} from './errors';

const http = (status: number) =>
  new HttpError({ method: 'GET', url: 'https://x/y', status, bodySnippet: '', response: new Response(null, { status }) });

describe('error classification', () => {
  it('treats PermanentError, credentials and 4xx (but 408/429) as permanent', () => {
    expect(classifyError(new PermanentError('bad mapping'))).toMatchObject({ kind: 'permanent' });
    expect(classifyError(new CredentialsError('invalid_client'))).toMatchObject({ kind: 'permanent' });
    expect(classifyError(http(400))).toMatchObject({ kind: 'permanent' });
    expect(classifyError(http(404))).toMatchObject({ kind: 'permanent' });
    expect(classifyError(http(408))).toMatchObject({ kind: 'transient' });
    expect(classifyError(http(429))).toMatchObject({ kind: 'transient' });
    expect(classifyError(http(503))).toMatchObject({ kind: 'transient' });
  });

  it('treats every other error as transient, and keeps deferral and cancellation apart', () => {
    expect(classifyError(new Error('socket hang up'))).toMatchObject({ kind: 'transient' });
    expect(classifyError('a string')).toMatchObject({ kind: 'transient' });
    expect(classifyError(new TimeoutError('slow'))).toMatchObject({ kind: 'transient' });
    expect(classifyError(new CircuitOpenError('crm', new Date()))).toMatchObject({ kind: 'circuit_open' });
    expect(classifyError(new CancelledError('stop'))).toMatchObject({ kind: 'cancelled' });
    expect(isTransientError(new CircuitOpenError('crm', new Date()))).toBe(false);
  });

  it('recognises errors by brand, not by class identity (module copies, child processes)', () => {
    const foreign = Object.assign(new Error('from another copy'), { [Symbol.for('junction.error.permanent')]: true });
    expect(isPermanentError(foreign)).toBe(true);
  });

  it('tells the platform database being unreachable apart from an external system being unreachable', async () => {
    const { DrizzleQueryError } = await import('drizzle-orm/errors');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', syscall: 'connect' });
    expect(isDatabaseUnavailableError(new DrizzleQueryError('select 1', [], refused))).toBe(true);
    expect(
      isDatabaseUnavailableError(Object.assign(new Error('write CONNECTION_ENDED 127.0.0.1:5432'), { code: 'CONNECTION_ENDED' })),
    ).toBe(true);
    const shutdown = Object.assign(new Error('terminating connection due to administrator command'), {
      name: 'PostgresError',
      code: '57P01',
    });
    expect(isDatabaseUnavailableError(new DrizzleQueryError('update runs', [], shutdown))).toBe(true);
    // A fetch to an external system that refuses, or the platform's NetworkError: the handler's failure.
    expect(isDatabaseUnavailableError(new TypeError('fetch failed', { cause: refused }))).toBe(false);
    expect(isDatabaseUnavailableError(new NetworkError('connect ECONNREFUSED', { cause: refused }))).toBe(false);
    const violation = Object.assign(new Error('duplicate key'), { name: 'PostgresError', code: '23505' });
    expect(isDatabaseUnavailableError(new DrizzleQueryError('insert', [], violation))).toBe(false);
  });

  it("says a failed query's reason in the driver's words, without the SQL, and without the address where asked", async () => {
    const { DrizzleQueryError } = await import('drizzle-orm/errors');
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5432'), { code: 'ECONNREFUSED', syscall: 'connect' });
    const failed = new DrizzleQueryError('select 1', [], refused);
    expect(databaseReason(failed)).toBe('connect ECONNREFUSED 10.1.2.3:5432');
    expect(databaseReason(failed, { address: false })).toBe('connect ECONNREFUSED');
    const starting = Object.assign(new Error('the database system is starting up'), { name: 'PostgresError', code: '57P03' });
    expect(databaseReason(new DrizzleQueryError('select count(*) from audit_log', [1], starting))).toBe(
      'the database system is starting up (57P03)',
    );
    const ended = Object.assign(new Error('write CONNECTION_ENDED db.internal:6432'), { code: 'CONNECTION_ENDED' });
    expect(databaseReason(ended, { address: false })).toBe('write CONNECTION_ENDED');
    expect(databaseReason(new Error('the database did not answer within 3s'))).toBe('the database did not answer within 3s');
  });

  it('knows a failed Drizzle query whose class name was minified, as in the production bundle', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', syscall: 'connect' });
    // What `next build` makes of DrizzleQueryError: the same shape under a one-letter class name.
    class i extends Error {
      constructor(
        readonly query: string,
        readonly params: unknown[],
        cause: unknown,
      ) {
        super(`Failed query: ${query}\nparams: ${params.join(',')}`, { cause });
      }
    }
    expect(isDatabaseUnavailableError(new i('select "id" from "users" where "users"."id" = $1', ['u'], refused))).toBe(true);
    const violation = Object.assign(new Error('duplicate key'), { name: 'PostgresError', code: '23505' });
    expect(isDatabaseUnavailableError(new i('insert into runs', [], violation))).toBe(false);
    // A socket error under anything else is still not the platform's database.
    const lookalike = Object.assign(new Error('Failed query: GET /contacts'), { query: 'GET /contacts', cause: refused });
    expect(isDatabaseUnavailableError(lookalike)).toBe(false);
  });
});

describe('classifyError narrows', () => {
  it('hands the runner the typed error of a cancellation and a circuit deferral', () => {
    const retryAt = new Date('2030-01-01T00:00:00Z');
    const deferred = classifyError(new CircuitOpenError('crm', retryAt));
    expect(deferred.kind === 'circuit_open' && deferred.error.retryAt).toEqual(retryAt);
    const released = classifyError(new CancelledError('stopping', 'released'));
    expect(released.kind === 'cancelled' && released.error.reason).toBe('released');
    const boom = new Error('boom');
    expect(classifyError(boom)).toEqual({ kind: 'transient', error: boom });
  });
});

describe('what an attempt records of a thrown value', () => {
  it('names an Error by its class', () => {
    expect(errorClassName(new PermanentError('bad mapping'))).toBe('PermanentError');
    expect(errorClassName(new TypeError('x is not a function'))).toBe('TypeError');
    expect(errorMessage(new Error(''))).toBe('Error');
  });

  it('gives every thrown value that is not an Error one class, NonErrorThrown, and a readable message', () => {
    const circular: Record<string, unknown> = { code: 'E_LOOP' };
    circular.self = circular;
    const cases: [unknown, string][] = [
      ['a bare string', 'a bare string'],
      ['', '(an empty string)'],
      [404, '404'],
      [{ code: 'E_X' }, '{"code":"E_X"}'],
      [['a', 1], '["a",1]'],
      [null, 'null'],
      [undefined, 'undefined'],
      [false, 'false'],
      [10n, '10n'],
      [circular, '[object Object]'],
      [Symbol('stop'), 'Symbol(stop)'],
    ];
    for (const [thrown, message] of cases) {
      expect(errorClassName(thrown), String(message)).toBe('NonErrorThrown');
      expect(errorMessage(thrown)).toBe(message);
    }
  });
});

describe('AppError', () => {
  it('maps every code to one HTTP status', () => {
    expect(APP_ERROR_STATUS).toEqual({
      invalid_input: 400,
      unauthenticated: 401,
      forbidden: 403,
      not_found: 404,
      orphaned: 409,
      invalid_state: 409,
      stale: 409,
      conflict: 409,
      idempotency_key_reused: 422,
    });
    for (const [code, status] of Object.entries(APP_ERROR_STATUS)) {
      expect(new AppError(code as keyof typeof APP_ERROR_STATUS, 'x').status).toBe(status);
    }
  });

  it('carries field errors and details only when given, and is an Error', () => {
    const plain = new AppError('not_found', 'Run r1 does not exist');
    expect(plain).toBeInstanceOf(Error);
    expect(plain.name).toBe('AppError');
    expect(plain.fieldErrors).toBeUndefined();
    expect(plain.details).toBeUndefined();
    const rich = new AppError('stale', 'reload', { fieldErrors: { a: 'b' }, details: { latest: { version: 3 } } });
    expect(rich).toMatchObject({ code: 'stale', status: 409, fieldErrors: { a: 'b' }, details: { latest: { version: 3 } } });
  });

  it('raises a returned refusal as the AppError it stands for', () => {
    const error = refusalError({ ok: false, code: 'invalid_input', message: 'Not saved', fieldErrors: { schedule: 'bad' } }, { x: 1 });
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({
      code: 'invalid_input',
      status: 400,
      message: 'Not saved',
      fieldErrors: { schedule: 'bad' },
      details: { x: 1 },
    });
  });
});

describe('text PostgreSQL can store', () => {
  const half = '😀'.slice(0, 1);

  it('replaces a NUL and half a character with U+FFFD, keeps whole characters', () => {
    expect(storableText(`a\u0000b${half}c😀${'😀'.slice(1)}`)).toBe('a\uFFFDb\uFFFDc😀\uFFFD');
    const plain = 'Café 😀';
    expect(storableText(plain)).toBe(plain);
    expect(storableJson({ [half]: [`x${half}`, 1, null], ok: 'é' })).toEqual({ '\uFFFD': ['x\uFFFD', 1, null], ok: 'é' });
  });

  it('tells JSON text that needs the walk: a NUL or a half character, never a whole one', () => {
    expect(jsonNeedsStoring(JSON.stringify({ a: 'x\u0000' }))).toBe(true);
    expect(jsonNeedsStoring(JSON.stringify({ a: `x${half}` }))).toBe(true);
    expect(jsonNeedsStoring(JSON.stringify({ [half]: 1 }))).toBe(true);
    expect(jsonNeedsStoring(JSON.stringify({ a: 'Café 😀 中文' }))).toBe(false);
    // An escaped backslash before such text walks too (and the walk changes nothing).
    const lookalike = { a: '\\ud83d' };
    expect(jsonNeedsStoring(JSON.stringify(lookalike))).toBe(true);
    expect(storableJson(lookalike)).toEqual(lookalike);
  });
});
