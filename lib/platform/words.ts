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
