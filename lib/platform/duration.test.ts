import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, zDuration } from './duration';

describe('durations', () => {
  it('parses every unit', () => {
    expect(['250ms', '30s', '2m', '1.5h', '1d'].map(parseDuration)).toEqual([250, 30_000, 120_000, 5_400_000, 86_400_000]);
  });

  it('says how to write a duration when the text is not one', () => {
    expect(() => parseDuration('soon')).toThrow("'soon' is not a duration: use a number and a unit");
    expect(() => parseDuration('-5s')).toThrow(/is not a duration/);
  });

  it('formats back to the shortest exact form', () => {
    expect([1500, 30_000, 90_000, 120_000, 3_600_000].map(formatDuration)).toEqual(['1500ms', '30s', '90s', '2m', '1h']);
  });

  it('bounds durations in schemas', () => {
    const schema = zDuration({ min: '1s', max: '1h' });
    expect(schema.safeParse('30s').success).toBe(true);
    expect(schema.safeParse('2h').error?.issues[0].message).toBe("'2h' is out of range: use 1s to 1h");
  });
});
