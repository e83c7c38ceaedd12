import { describeCron, nextRuns } from './cron';
import type { MissedWhilePaused } from './resume-policy';

/**
 * What the console says about when an integration runs, in words: pure functions (no database),
 * tested in trigger-text.test.ts.
 */

/**
 * The schedule in words with its time zone, and its next run; 'Manual only' without one. A stored
 * expression that no longer parses is shown as written (with no next run) rather than failing the page.
 */
export function scheduleText(schedule: string | null, timezone: string, now?: Date): { words: string; next: Date | null } {
  if (!schedule) return { words: 'Manual only', next: null };
  try {
    return { words: `${describeCron(schedule)} (${timezone})`, next: nextRuns(schedule, timezone, 1, now)[0] ?? null };
  } catch {
    return { words: `${schedule} (${timezone})`, next: null };
  }
}

/**
 * What Resume will do about the runs missed while paused, under the integration's policy; nothing
 * about missed runs when there are none. Only admins edit configuration: others are told who can.
 */
export function resumeText(
  missed: Pick<MissedWhilePaused, 'missed' | 'capped' | 'resumeWillStartRun' | 'resumePolicy'>,
  reader: { canEditConfig: boolean },
): string {
  if (missed.missed === 0 && !missed.capped) return 'Resume lifts the pause: scheduled runs start again at the next scheduled time.';
  const count = `${missed.missed}${missed.capped ? '+' : ''} scheduled run${missed.missed === 1 ? ' was' : 's were'}`;
  const then = missed.resumeWillStartRun ? 'start one run now, then follow the schedule' : 'skip them and wait for the next scheduled time';
  const policy = missed.resumePolicy === 'run_once' ? 'run once on resume' : 'skip missed runs';
  const change = reader.canEditConfig ? 'change it in Configuration' : 'an admin can change it in Configuration';
  return `${count} missed while paused. Resume will ${then} (policy: ${policy}; ${change}).`;
}
