import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { summarisedErrorLog } from './boss';

describe('summarisedErrorLog', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes a message once, then its repeats once a minute, whatever queue and worker repeat it', () => {
    const lines: string[] = [];
    const log = summarisedErrorLog((line) => lines.push(line));
    const refused = 'connect ECONNREFUSED 127.0.0.1:5432';
    log(`${refused} (Queue: junction-runs, Worker: 5202d778-4e6d-4fed-8932-1c681ab8b7c0)`);
    for (let i = 0; i < 200; i++) log(`${refused} (Queue: q${i % 7}, Worker: w${i})`);
    log('Connection terminated unexpectedly');
    expect(lines).toEqual([
      `${refused} (Queue: junction-runs, Worker: 5202d778-4e6d-4fed-8932-1c681ab8b7c0)`,
      'Connection terminated unexpectedly',
    ]);

    vi.advanceTimersByTime(60_000);
    expect(lines.slice(2)).toEqual([`${refused} (200 more times in the last 60 s)`]);

    // Still failing: summarised again a minute later.
    log(refused);
    vi.advanceTimersByTime(60_000);
    expect(lines.slice(3)).toEqual([`${refused} (1 more time in the last 60 s)`]);

    // A quiet minute: the next failure is written at once again.
    vi.advanceTimersByTime(60_000);
    vi.advanceTimersByTime(60_000);
    log(refused);
    expect(lines.at(-1)).toBe(refused);
    expect(lines).toHaveLength(5);
  });
});
