/**
 * A message that may or may not end with a full stop, ended with exactly one: errors from other
 * systems come both ways, and "…expired.. Fix them" reads as a bug.
 */
export function asSentence(text: string): string {
  const trimmed = text.trim().replace(/[\s.]+$/, '');
  return /[!?…]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/** "1 retry", "3 retries": a count with the noun that agrees with it. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
