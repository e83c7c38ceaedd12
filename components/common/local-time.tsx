'use client';

import { exactTime } from './time-format';

/** The time zone the viewer's browser is set to (IANA name), e.g. 'Europe/Paris'. */
export function viewerTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

const LOCAL = {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
  timeZoneName: 'short',
} as const;

/**
 * An exact time in the viewer's own time zone ("Fri, Dec 4, 03:00 GMT+5:30"), for times people
 * plan around (a schedule's next runs); the UTC time every other page shows is on hover. A client
 * island: the server does not know the viewer's zone (hence suppressHydrationWarning).
 */
export function LocalTime({ value, className }: { value: string | Date; className?: string }) {
  const date = typeof value === 'string' ? new Date(value) : value;
  return (
    <time dateTime={date.toISOString()} title={exactTime(date)} className={className} suppressHydrationWarning>
      {new Intl.DateTimeFormat(undefined, LOCAL).format(date)}
    </time>
  );
}

/** The wall-clock time of an instant in another zone ("Sat 06:30"), e.g. the schedule's own. */
export function timeInZone(value: string | Date, timeZone: string): string {
  const date = typeof value === 'string' ? new Date(value) : value;
  return new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone }).format(
    date,
  );
}
