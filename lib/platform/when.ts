/**
 * Time in words ("3 minutes ago") and exact UTC: one definition for the platform's messages (a
 * stale edit says when the other change was made) and the console (server and client components
 * alike: relative-time.tsx is a client module, a server component cannot call its exports).
 */

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 31_536_000_000],
  ['month', 2_592_000_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1_000],
];
const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

export function formatRelative(date: Date, now: number): string {
  const diff = date.getTime() - now;
  const abs = Math.abs(diff);
  if (abs < 5_000) return 'just now';
  for (const [unit, ms] of UNITS) {
    if (abs >= ms || unit === 'second') return rtf.format(Math.round(diff / ms), unit);
  }
  return date.toISOString();
}

export function exactTime(date: Date): string {
  return `${date.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}
