import type { RunStatus } from '../../db/schema';

/**
 * The run statuses by what they mean, defined once. The source is the `run_status` enum of
 * db/schema.ts: the two lists below partition it (checked by the compiler here and by
 * run-status.test.ts), so a status added there must be placed in one of them. Type-only import,
 * so client components can use these lists without pulling the schema into the browser bundle.
 */

/** Not finished: waiting for a worker (queued, retrying, deferred) or being executed (running). */
export const ACTIVE_RUN_STATUSES = ['queued', 'running', 'retrying', 'deferred'] as const satisfies readonly RunStatus[];

/** Finished for good: nothing more happens to the run (a retry is a new run). */
export const TERMINAL_RUN_STATUSES = ['succeeded', 'failed', 'cancelled'] as const satisfies readonly RunStatus[];

/** Waiting for a worker: active but not running. */
export const WAITING_RUN_STATUSES = ['queued', 'retrying', 'deferred'] as const satisfies readonly ActiveRunStatus[];

/** What an operator can retry (as a new run). */
export const RETRYABLE_RUN_STATUSES = ['failed', 'cancelled'] as const satisfies readonly TerminalRunStatus[];

export type ActiveRunStatus = (typeof ACTIVE_RUN_STATUSES)[number];
export type TerminalRunStatus = (typeof TERMINAL_RUN_STATUSES)[number];

// Every status is active or terminal: a compile error here means a new enum value needs a place.
type Unplaced = Exclude<RunStatus, ActiveRunStatus | TerminalRunStatus>;
const everyStatusPlaced: [Unplaced] extends [never] ? true : { unplaced: Unplaced } = true;
void everyStatusPlaced;

export function isActiveRunStatus(status: RunStatus): status is ActiveRunStatus {
  return (ACTIVE_RUN_STATUSES as readonly RunStatus[]).includes(status);
}

export function isTerminalRunStatus(status: RunStatus): status is TerminalRunStatus {
  return (TERMINAL_RUN_STATUSES as readonly RunStatus[]).includes(status);
}

export function isWaitingRunStatus(status: RunStatus): boolean {
  return (WAITING_RUN_STATUSES as readonly RunStatus[]).includes(status);
}

export function isRetryableRunStatus(status: RunStatus): boolean {
  return (RETRYABLE_RUN_STATUSES as readonly RunStatus[]).includes(status);
}
