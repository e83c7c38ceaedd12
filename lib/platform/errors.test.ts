import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  CircuitOpenError,
  classifyError,
  CredentialsError,
  HttpError,
  isPermanentError,
  isTransientError,
  PermanentError,
  TimeoutError,
} from './errors';

const http = (status: number) => new HttpError({ method: 'GET', url: 'https://x/y', status, bodySnippet: '', response: new Response(null, { status }) });

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
});
