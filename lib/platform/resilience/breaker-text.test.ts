import { describe, expect, it } from 'vitest';
import { BREAKER_BADGE, breakerPhase, reopenText } from './breaker-text';

const NOW = new Date('2026-12-03T09:00:00.000Z');
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);

describe('breaker in words', () => {
  it('calls an open breaker whose cooldown has passed half-open: the next run sends the trial', () => {
    expect(breakerPhase({ state: 'open', forcedOpen: false, openUntil: at(-47) }, NOW)).toBe('trial_allowed');
    expect(BREAKER_BADGE.trial_allowed.text).toBe('Half-open');
    expect(breakerPhase({ state: 'open', forcedOpen: false, openUntil: at(0) }, NOW)).toBe('trial_allowed');
  });

  it('calls it open while it cools down, and held open when an operator opened it without an end', () => {
    expect(breakerPhase({ state: 'open', forcedOpen: false, openUntil: at(30) }, NOW)).toBe('cooling_down');
    expect(breakerPhase({ state: 'open', forcedOpen: true, openUntil: at(30) }, NOW)).toBe('cooling_down');
    expect(breakerPhase({ state: 'open', forcedOpen: true, openUntil: null }, NOW)).toBe('held_open');
    expect(breakerPhase({ state: 'open', forcedOpen: true, openUntil: at(-5) }, NOW)).toBe('trial_allowed');
    expect(BREAKER_BADGE.cooling_down.text).toBe('Open');
    expect(BREAKER_BADGE.held_open.text).toBe('Open');
  });

  it('follows the stored state when it is closed or half-open', () => {
    expect(breakerPhase({ state: 'closed', forcedOpen: false, openUntil: null }, NOW)).toBe('closed');
    expect(breakerPhase({ state: 'half_open', forcedOpen: false, openUntil: at(-60) }, NOW)).toBe('trial_allowed');
  });

  it('says after how many failures the breaker opens again, from the configured threshold', () => {
    expect(reopenText(5)).toBe('If the system is still down, the breaker opens again after 5 consecutive failures.');
    expect(reopenText(1)).toBe('If the system is still down, the breaker opens again after 1 consecutive failure.');
  });
});
