import { describe, expect, it } from 'vitest';
import { asSentence } from './words';

describe('asSentence', () => {
  it('ends a message with exactly one full stop, whatever it came with', () => {
    expect(asSentence('token endpoint answered 401: invalid_client.')).toBe('token endpoint answered 401: invalid_client.');
    expect(asSentence('token endpoint answered 401: invalid_client')).toBe('token endpoint answered 401: invalid_client.');
    expect(asSentence('invalid credentials.. ')).toBe('invalid credentials.');
    expect(asSentence('is the server up?')).toBe('is the server up?');
  });
});
