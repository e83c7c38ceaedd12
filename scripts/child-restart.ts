/**
 * Whether start.ts starts a child again after it exited on its own, and what it says.
 *
 * - An `optional` child (the intake listener) always is.
 * - A child with `restartAfterRunningMs` (the worker, the sandbox) that ran at least that long
 *   crashed (an out-of-memory kill, say): it is, as a supervisor would.
 * - One that exits sooner at its first start failed to start (a wrong key, a database it cannot
 *   use): everything stops, its message last.
 * - One that exits sooner after a restart is started again too, up to `MAX_QUICK_EXITS` times in
 *   a row: a second crash soon after the first (an operator's kill, a passing fault) took the
 *   console down with it, and the sandbox's state with it; a crash loop still stops everything.
 */
export const MAX_QUICK_EXITS = 5;

export interface ChildHistory {
  /** Started again after an exit (not its first start). */
  restarted: boolean;
  /** Exits in a row, each before `restartAfterRunningMs`, since it last ran that long. */
  quickExits: number;
}

export type RestartDecision = { restart: true; next: ChildHistory; why: string } | { restart: false; why: string };

export function restartDecision(
  options: { optional?: boolean; restartAfterRunningMs?: number },
  history: ChildHistory,
  ranMs: number,
): RestartDecision {
  const ran = `${Math.round(ranMs / 1000)} s`;
  if (options.optional) return { restart: true, next: { restarted: true, quickExits: 0 }, why: `after ${ran}` };
  if (options.restartAfterRunningMs === undefined) return { restart: false, why: '' };
  if (ranMs >= options.restartAfterRunningMs) return { restart: true, next: { restarted: true, quickExits: 0 }, why: `after ${ran}` };
  if (!history.restarted) return { restart: false, why: ` ${ran} after it started` };
  const quickExits = history.quickExits + 1;
  if (quickExits > MAX_QUICK_EXITS)
    return { restart: false, why: ` ${ran} after its restart, the ${MAX_QUICK_EXITS + 1}th quick exit in a row` };
  return {
    restart: true,
    next: { restarted: true, quickExits },
    why: `${ran} after its restart (quick exit ${quickExits} of ${MAX_QUICK_EXITS} in a row before everything stops)`,
  };
}
