import { plural } from '../words';

/**
 * What the console says about a circuit breaker, from the stored row and the clock: pure, so the
 * badge and the sentence beside it come from one answer and cannot disagree (breaker-text.test.ts).
 *
 * The stored state lags the truth in one case: an open breaker whose `open_until` has passed stays
 * 'open' until the next request, which then goes through as the trial (breaker.ts). For the reader
 * that breaker is already half-open.
 */
export type BreakerPhase =
  /** Requests go through. */
  | 'closed'
  /** Opened by an operator with no end: nothing is sent until someone resets it. */
  | 'held_open'
  /** Open, cooling down until `openUntil`: nothing is sent until then. */
  | 'cooling_down'
  /** Cooldown over (or half-open already): the next run's first request is the trial. */
  | 'trial_allowed';

export interface BreakerLike {
  state: 'closed' | 'open' | 'half_open';
  forcedOpen: boolean;
  openUntil: Date | null;
}

export function breakerPhase(breaker: BreakerLike, now: Date): BreakerPhase {
  if (breaker.state === 'closed') return 'closed';
  if (breaker.state === 'half_open') return 'trial_allowed';
  if (!breaker.openUntil) return 'held_open';
  return breaker.openUntil.getTime() > now.getTime() ? 'cooling_down' : 'trial_allowed';
}

export const BREAKER_BADGE: Record<BreakerPhase, { text: string; variant: 'success' | 'warning' | 'destructive' }> = {
  closed: { text: 'Closed', variant: 'success' },
  held_open: { text: 'Open', variant: 'destructive' },
  cooling_down: { text: 'Open', variant: 'destructive' },
  trial_allowed: { text: 'Half-open', variant: 'warning' },
};

/** The Reset dialog's last sentence: when the breaker opens again, by the configured threshold. */
export function reopenText(failureThreshold: number): string {
  return `If the system is still down, the breaker opens again after ${plural(failureThreshold, 'consecutive failure')}.`;
}
