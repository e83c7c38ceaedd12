import { describe, expect, it } from 'vitest';
import { mulberry32, streamFor } from './random';

describe('seeded randomness', () => {
  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const c = mulberry32(8);
    const seqA = Array.from({ length: 20 }, () => a());
    const seqB = Array.from({ length: 20 }, () => b());
    const seqC = Array.from({ length: 20 }, () => c());
    expect(seqA).toEqual(seqB);
    expect(seqA).not.toEqual(seqC);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });

  it('derives independent streams per name from one seed', () => {
    const oauth = streamFor(1, 'oauth');
    const crm = streamFor(1, 'crm');
    expect(Array.from({ length: 5 }, () => oauth())).not.toEqual(Array.from({ length: 5 }, () => crm()));
    expect(streamFor(1, 'crm')()).toBe(streamFor(1, 'crm')());
  });
});
