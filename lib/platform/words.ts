/**
 * A message that may or may not end with a full stop, ended with exactly one: errors from other
 * systems come both ways, and "…expired.. Fix them" reads as a bug.
 */
export function asSentence(text: string): string {
  const trimmed = text.trim().replace(/[\s.]+$/, '');
  return /[!?…]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/**
 * `text` cut to at most `max` characters, ending in `ellipsis` when cut: what a message repeats of
 * an input (enough to recognise it, never a wall of text). Never cuts a character written as two
 * UTF-16 units in half: the half left over reads as garbage and jsonb refuses it.
 */
export function clip(text: string, max: number, ellipsis = '…'): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - ellipsis.length);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}${ellipsis}`;
}

/** "1 retry", "3 retries": a count with the noun that agrees with it. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * A bulk retry's pace in words: "5 per minute", "20 per hour", "3 per 30 s", "10 per 2 min". The
 * card, its pace select and the audit say it the same way, never "20 per 3600 s".
 */
export function paceWords(runs: number, perMs: number): string {
  const named: Record<number, string> = { 1_000: 'second', 60_000: 'minute', 3_600_000: 'hour' };
  const per =
    named[perMs] ??
    (perMs % 3_600_000 === 0
      ? `${perMs / 3_600_000} h`
      : perMs % 60_000 === 0
        ? `${perMs / 60_000} min`
        : perMs % 1_000 === 0
          ? `${perMs / 1_000} s`
          : `${perMs} ms`);
  return `${runs} per ${per}`;
}
