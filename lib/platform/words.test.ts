import { describe, expect, it } from 'vitest';
import { asSentence, clip, paceWords, plural } from './words';

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

describe('paceWords', () => {
  it('names a second, a minute and an hour, and writes other periods in the largest whole unit', () => {
    expect(paceWords(5, 60_000)).toBe('5 per minute');
    expect(paceWords(20, 3_600_000)).toBe('20 per hour');
    expect(paceWords(1, 1_000)).toBe('1 per second');
    expect(paceWords(3, 30_000)).toBe('3 per 30 s');
    expect(paceWords(10, 120_000)).toBe('10 per 2 min');
    expect(paceWords(4, 7_200_000)).toBe('4 per 2 h');
    expect(paceWords(2, 1_500)).toBe('2 per 1500 ms');
  });
});
