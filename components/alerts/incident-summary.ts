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

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/**
 * What an incident counted: its failed runs and failed inbound events apart when it counts them
 * ("1 failed run, 3 failed events"; an event-run outage counts both), else its events ("4 events").
 */
function counted(incident: { eventCount: number; failedRuns?: number | null; failedEvents?: number | null }): string {
  const runs = incident.failedRuns ?? null;
  const events = incident.failedEvents ?? null;
  if (runs === null || events === null || runs + events === 0) return plural(incident.eventCount, 'event');
  return [runs > 0 && plural(runs, 'failed run'), events > 0 && plural(events, 'failed event')].filter(Boolean).join(', ');
}

/**
 * One line about an alert's incident: when it opened, whether and when it closed and how long it
 * lasted, and what it counted ("Incident opened 3 hours ago, closed 2 hours ago after 1 hour;
 * 4 events", "...; 2 failed runs, 3 failed events"). An open one says it is still open.
 */
export function describeIncident(
  incident: {
    openedAt: Date | string;
    closedAt: Date | string | null;
    eventCount: number;
    failedRuns?: number | null;
    failedEvents?: number | null;
  },
  now: number,
): string {
  const opened = new Date(incident.openedAt);
  const events = counted(incident);
  if (!incident.closedAt) return `Incident opened ${formatRelative(opened, now)}, still open; ${events}`;
  const closed = new Date(incident.closedAt);
  return `Incident opened ${formatRelative(opened, now)}, closed ${formatRelative(closed, now)} after ${formatDuration(closed.getTime() - opened.getTime())}; ${events}`;
}
