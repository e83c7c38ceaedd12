'use client';

import { useEffect, useState } from 'react';
import { exactTime, formatRelative } from './time-format';

export { exactTime, formatRelative };

/**
 * "3 minutes ago", with the exact UTC time on hover; refreshes itself: every second while it says
 * seconds ("11 seconds ago" stood still for 15 s on a live card), every 15 s after.
 */
export function RelativeTime({ value, className }: { value: string | Date | null | undefined; className?: string }) {
  const [now, setNow] = useState(() => Date.now());
  // A new value (a change saved and the page refreshed) is read against the time it arrived: against
  // the last tick, a moment ago read "in 13 seconds".
  const at = value ? new Date(value).getTime() : null;
  useEffect(() => {
    const age = at === null ? Infinity : Math.abs(Date.now() - at);
    const timer = setTimeout(() => setNow(Date.now()), age < 60_000 ? 1_000 : 15_000);
    return () => clearTimeout(timer);
  }, [now, at]);
  const [shownAt, setShownAt] = useState(at);
  if (!Object.is(at, shownAt)) {
    setShownAt(at);
    setNow(Date.now());
  }
  if (!value) return <span className="text-muted-foreground">—</span>;
  const date = typeof value === 'string' ? new Date(value) : value;
  return (
    <time dateTime={date.toISOString()} title={exactTime(date)} className={className} suppressHydrationWarning>
      {formatRelative(date, now)}
    </time>
  );
}
