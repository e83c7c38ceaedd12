import { describe, expect, it } from 'vitest';
import { runStatusEnum } from '../../db/schema';
import {
  ACTIVE_RUN_STATUSES,
  isActiveRunStatus,
  isTerminalRunStatus,
  RETRYABLE_RUN_STATUSES,
  TERMINAL_RUN_STATUSES,
  WAITING_RUN_STATUSES,
} from './run-status';

describe('run statuses', () => {
  it('active and terminal partition the run_status enum: every value in exactly one', () => {
    const all = [...ACTIVE_RUN_STATUSES, ...TERMINAL_RUN_STATUSES];
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual([...runStatusEnum.enumValues].sort());
    for (const status of runStatusEnum.enumValues) expect(isActiveRunStatus(status)).toBe(!isTerminalRunStatus(status));
  });

  it('waiting statuses are active ones other than running; retryable ones are terminal', () => {
    expect(WAITING_RUN_STATUSES.every((s) => isActiveRunStatus(s))).toBe(true);
    expect(WAITING_RUN_STATUSES).not.toContain('running');
    expect([...WAITING_RUN_STATUSES, 'running'].sort()).toEqual([...ACTIVE_RUN_STATUSES].sort());
    expect(RETRYABLE_RUN_STATUSES.every(isTerminalRunStatus)).toBe(true);
    expect(isTerminalRunStatus('succeeded')).toBe(true);
    expect(RETRYABLE_RUN_STATUSES).not.toContain('succeeded');
  });
});
