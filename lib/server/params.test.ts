import { describe, expect, it } from 'vitest';
import { segmentName } from './params';

describe('segmentName', () => {
  it('decodes an encoded segment and keeps one Next.js already decoded', () => {
    expect(segmentName('crm%20sync')).toBe('crm sync');
    expect(segmentName('accounting-export')).toBe('accounting-export');
    // Already decoded and not valid percent-encoding: used as it is, never an error page.
    expect(segmentName('50%-off')).toBe('50%-off');
    expect(segmentName('%')).toBe('%');
  });
});
