import type { PlannedRequest } from '../resilience/dry-run';
import { plural } from '../words';

/**
 * What the console says about a run, in words: pure functions (no database), so the pages only
 * lay them out and the wording is tested here (run-text.test.ts).
 */

/** An attempt's duration: '850 ms', '2.4 s', or 'running' while it has not finished. */
export function elapsedText(from: Date, to: Date | null): string {
  if (!to) return 'running';
  const d = to.getTime() - from.getTime();
  return d < 1000 ? `${d} ms` : `${(d / 1000).toFixed(1)} s`;
}

/** A run's duration, to the second: '42s', '1m 20s', '2h 5m' (a negative span counts as 0). */
export function durationText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/**
 * What a run reported of its progress (ctx.progress): '40/120' with a total, '1 item processed' or
 * '1234 items processed' with a count alone (a handler that pages through an unknown number of
 * records), null when it reported nothing.
 */
export function progressText(done: number | null, total: number | null): string | null {
  if (total) return `${done ?? 0}/${total}`;
  return done === null ? null : `${plural(done, 'item')} processed`;
}

/**
 * What started a run and who, without repeating itself ("schedule", not "schedule by schedule";
 * "manual by ada@…"; "retry by oscar@…"): the runs table's Trigger cell and the run page's header.
 */
export function triggerWords(row: { trigger: string; triggeredBy: string; dryRun: boolean }): string {
  const what = row.dryRun && row.trigger !== 'dry_run' ? `${row.trigger.replace(/_/g, '-')} (dry-run)` : row.trigger.replace(/_/g, '-');
  const who = row.triggeredBy.trim();
  return !who || who === row.trigger || who === 'schedule' || who === 'system' ? what : `${what} by ${who}`;
}

/**
 * A dry-run's plan, grouped by method and endpoint (query strings left out), one sentence each in
 * the order first met: "Would POST 3 requests to https://erp.example/journal".
 */
export function planSummary(plan: readonly Pick<PlannedRequest, 'method' | 'url'>[]): string[] {
  const groups = new Map<string, { method: string; target: string; count: number }>();
  for (const p of plan) {
    let target = p.url;
    try {
      const u = new URL(p.url);
      target = `${u.origin}${u.pathname}`;
    } catch {
      // Not an absolute URL: shown as it is.
    }
    const key = `${p.method} ${target}`;
    const group = groups.get(key);
    if (group) group.count++;
    else groups.set(key, { method: p.method, target, count: 1 });
  }
  return [...groups.values()].map(({ method, target, count }) => `Would ${method} ${count} request${count === 1 ? '' : 's'} to ${target}`);
}

/** The dashboard's days, oldest first: the last `days` UTC dates (YYYY-MM-DD) up to `now`'s. */
export function lastDays(days: number, now: Date = new Date()): string[] {
  return Array.from({ length: days }, (_, i) =>
    new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1 - i))).toISOString().slice(0, 10),
  );
}
