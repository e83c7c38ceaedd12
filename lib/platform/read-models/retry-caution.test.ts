import { describe, expect, it } from 'vitest';
import type { InventoryRow } from './inventory';
import { cautionsFor, retryCautions } from './retry-caution';

const now = new Date('2026-12-05T12:00:00Z');
const minutes = (n: number) => new Date(now.getTime() + n * 60_000);

function row(overrides: Partial<InventoryRow>): InventoryRow {
  return {
    name: 'crm-sync',
    description: '',
    registered: true,
    paused: false,
    schedule: null,
    timezone: 'UTC',
    breakerKey: 'crm',
    breakerState: 'closed',
    breakerOpenUntil: null,
    breakerForcedOpen: false,
    breakerFailures: 0,
    lastRun: { id: 'last', status: 'succeeded', createdAt: minutes(-5), finishedAt: minutes(-4) },
    finished24h: 0,
    succeeded24h: 0,
    successRate24h: null,
    openIncidents: 0,
    failingReasons: [],
    credentialsError: null,
    credentialsFailingSince: null,
    state: 'healthy',
    health: 'healthy',
    ...overrides,
  };
}

/** A caution as the dialog reads it, with its time as an ISO instant in braces. */
const sentences = (r: InventoryRow) => retryCautions(r, now).map((c) => `${c.before}${c.at ? `{${c.at}}` : ''}${c.after}`);

describe('retry cautions', () => {
  it('says nothing for an integration that is well', () => {
    expect(retryCautions(row({}), now)).toEqual([]);
  });

  it('says when the breaker lets its trial through, held open by an operator, or a trial now', () => {
    const open = { state: 'breaker_open', health: 'breaker_open', breakerState: 'open' } as const;
    expect(sentences(row({ ...open, breakerOpenUntil: minutes(4) }))).toEqual([
      `crm-sync's breaker is open, its next trial request due {${minutes(4).toISOString()}}: the retry waits until the breaker closes.`,
    ]);
    expect(sentences(row({ ...open, breakerForcedOpen: true }))).toEqual([
      "crm-sync's breaker is held open by an operator: the retry waits until the breaker closes.",
    ]);
    expect(sentences(row({ ...open, breakerOpenUntil: minutes(-1) }))).toEqual([
      "crm-sync's breaker is open and lets one trial request through: the retry waits until the breaker closes.",
    ]);
  });

  it('keeps what a pause does not stop, and says the retry runs anyway', () => {
    const r = row({
      paused: true,
      state: 'paused',
      health: 'credentials_failing',
      credentialsFailingSince: minutes(-30),
      lastRun: { id: 'last', status: 'failed', createdAt: minutes(-3), finishedAt: minutes(-2) },
    });
    expect(sentences(r)).toEqual([
      `crm-sync's credentials are refused by the provider (since {${minutes(-30).toISOString()}}): the retry fails the same way until they are fixed.`,
      `crm-sync's last run failed too ({${minutes(-2).toISOString()}}): unless what made it fail is fixed, the retry fails again.`,
      'crm-sync is paused: the retry runs anyway (a pause stops only its schedule).',
    ]);
  });

  it('leaves out a failed last run that is one of the runs being retried, per integration', () => {
    const failing = row({
      state: 'failing',
      health: 'failing',
      lastRun: { id: 'last', status: 'failed', createdAt: minutes(-3), finishedAt: null },
    });
    const other = row({ name: 'erp', paused: true, state: 'paused' });
    const cautions = { 'crm-sync': retryCautions(failing, now), erp: retryCautions(other, now) };
    expect(cautionsFor(cautions, [{ id: 'older', integration: 'crm-sync' }]).map((c) => c.kind)).toEqual(['last_run_failed']);
    expect(cautionsFor(cautions, [{ id: 'last', integration: 'crm-sync' }])).toEqual([]);
    expect(
      cautionsFor(cautions, [
        { id: 'x', integration: 'erp' },
        { id: 'last', integration: 'crm-sync' },
        { id: 'y', integration: 'gone' },
      ]).map((c) => [c.integration, c.kind]),
    ).toEqual([['erp', 'paused']]);
  });
});
