import { describe, expect, it } from 'vitest';
import { MAX_QUICK_EXITS, restartDecision, type ChildHistory } from './child-restart';

const worker = { restartAfterRunningMs: 30_000 };
const first: ChildHistory = { restarted: false, quickExits: 0 };

describe('restartDecision (start.ts)', () => {
  it('stops everything when a child exits soon after its first start: it failed to start', () => {
    expect(restartDecision(worker, first, 3_000)).toEqual({ restart: false, why: ' 3 s after it started' });
    expect(restartDecision({}, first, 60_000)).toEqual({ restart: false, why: '' });
  });

  it('starts a crashed child again, and an optional one whenever it exits', () => {
    expect(restartDecision(worker, first, 45_000)).toEqual({ restart: true, next: { restarted: true, quickExits: 0 }, why: 'after 45 s' });
    expect(restartDecision({ optional: true }, first, 1_000)).toMatchObject({ restart: true });
  });

  it('starts a child again that crashes soon after its restart, up to a crash loop', () => {
    // Before: a second kill 16 s after the restart was read as a failure to start, and took the
    // console (and the sandbox's state) down with it.
    let history: ChildHistory = { restarted: true, quickExits: 0 };
    for (let exit = 1; exit <= MAX_QUICK_EXITS; exit++) {
      const decision = restartDecision(worker, history, 16_000);
      expect(decision).toEqual({
        restart: true,
        next: { restarted: true, quickExits: exit },
        why: `16 s after its restart (quick exit ${exit} of ${MAX_QUICK_EXITS} in a row before everything stops)`,
      });
      if (decision.restart) history = decision.next;
    }
    expect(restartDecision(worker, history, 16_000)).toEqual({
      restart: false,
      why: ` 16 s after its restart, the ${MAX_QUICK_EXITS + 1}th quick exit in a row`,
    });
    // Running long enough again clears the count.
    expect(restartDecision(worker, history, 31_000)).toEqual({
      restart: true,
      next: { restarted: true, quickExits: 0 },
      why: 'after 31 s',
    });
  });
});
