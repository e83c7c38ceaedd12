import { formatRelative } from '@/components/common/time-format';

const PARTS: [string, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1_000],
];

/** "2 hours 5 minutes", "45 seconds", "1 day": the largest unit and the one below it, when not zero. */
export function formatDuration(ms: number): string {
  let rest = Math.max(0, Math.round(ms / 1000) * 1000);
  const start = PARTS.findIndex(([, size]) => rest >= size);
  if (start < 0) return 'less than a second';
  const out: string[] = [];
  for (const [unit, size] of PARTS.slice(start, start + 2)) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) out.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
  }
  return out.join(' ');
}

/**
 * One line about an alert's incident: when it opened, whether and when it closed and how long it
 * lasted, and how many events it gathered ("Incident opened 3 hours ago, closed 2 hours ago after
 * 1 hour; 4 events"). An open one says it is still open.
 */
export function describeIncident(
  incident: { openedAt: Date | string; closedAt: Date | string | null; eventCount: number },
  now: number,
): string {
  const opened = new Date(incident.openedAt);
  const events = `${incident.eventCount} event${incident.eventCount === 1 ? '' : 's'}`;
  if (!incident.closedAt) return `Incident opened ${formatRelative(opened, now)}, still open; ${events}`;
  const closed = new Date(incident.closedAt);
  return `Incident opened ${formatRelative(opened, now)}, closed ${formatRelative(closed, now)} after ${formatDuration(closed.getTime() - opened.getTime())}; ${events}`;
}
