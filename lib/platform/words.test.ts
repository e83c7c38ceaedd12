import { describe, expect, it } from 'vitest';
import { asSentence, plural } from './words';

describe('asSentence', () => {
  it('ends a message with exactly one full stop, whatever it came with', () => {
    expect(asSentence('token endpoint answered 401: invalid_client.')).toBe('token endpoint answered 401: invalid_client.');
    expect(asSentence('token endpoint answered 401: invalid_client')).toBe('token endpoint answered 401: invalid_client.');
    expect(asSentence('invalid credentials.. ')).toBe('invalid credentials.');
    expect(asSentence('is the server up?')).toBe('is the server up?');
  });
});

describe('plural', () => {
  it('agrees the noun with the count', () => {
    expect(plural(1, 'retry', 'retries')).toBe('1 retry');
    expect(plural(0, 'retry', 'retries')).toBe('0 retries');
    expect(plural(3, 'run')).toBe('3 runs');
  });
});
