import { describe, expect, it } from 'vitest';
import { asSentence, clip, plural } from './words';

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

describe('clip', () => {
  it('keeps text within the limit, and cuts longer text to the limit with the ellipsis', () => {
    expect(clip('abc', 3)).toBe('abc');
    expect(clip('abcdef', 4)).toBe('abc…');
    expect(clip('abcdef', 4, '...')).toBe('a...');
    expect(clip('x'.repeat(500), 300)).toHaveLength(300);
  });

  it('never leaves half of a character written as two UTF-16 units', () => {
    // The cut falls between the emoji's halves: the whole emoji goes.
    const cut = clip('ab😀cdef', 4);
    expect(cut).toBe('ab…');
    expect(cut.isWellFormed()).toBe(true);
    expect(clip('abc😀def', 6)).toBe('abc😀…');
    for (let max = 1; max < 12; max++) expect(clip('😀😀😀😀😀😀😀', max).isWellFormed(), `max ${max}`).toBe(true);
  });
});
