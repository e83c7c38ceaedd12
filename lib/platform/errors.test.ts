import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  CircuitOpenError,
  classifyError,
  CredentialsError,
  HttpError,
  isDatabaseUnavailableError,
  isPermanentError,
  isTransientError,
  NetworkError,
  PermanentError,
  TimeoutError,
} from './errors';

const http = (status: number) =>
  new HttpError({ method: 'GET', url: 'https://x/y', status, bodySnippet: '', response: new Response(null, { status }) });

describe('error classification', () => {
  it('treats PermanentError, credentials and 4xx (but 408/429) as permanent', () => {
    expect(classifyError(new PermanentError('bad mapping'))).toBe('permanent');
    expect(classifyError(new CredentialsError('invalid_client'))).toBe('permanent');
    expect(classifyError(http(400))).toBe('permanent');
    expect(classifyError(http(404))).toBe('permanent');
    expect(classifyError(http(408))).toBe('transient');
    expect(classifyError(http(429))).toBe('transient');
    expect(classifyError(http(503))).toBe('transient');
  });

  it('treats every other error as transient, and keeps deferral and cancellation apart', () => {
    expect(classifyError(new Error('socket hang up'))).toBe('transient');
    expect(classifyError('a string')).toBe('transient');
    expect(classifyError(new TimeoutError('slow'))).toBe('transient');
    expect(classifyError(new CircuitOpenError('crm', new Date()))).toBe('circuit_open');
    expect(classifyError(new CancelledError('stop'))).toBe('cancelled');
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
});
