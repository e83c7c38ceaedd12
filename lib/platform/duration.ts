import { z } from 'zod';
import { clip } from './words';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** What a message repeats of the input: enough to recognise it, never a wall of text. */
function shown(value: string): string {
  return clip(value, 40);
}

/** Parses '500ms', '30s', '2m', '1h', '1d' into milliseconds; throws a message a person can act on. */
export function parseDuration(value: string): number {
  const match = PATTERN.exec(value.trim());
  if (!match) throw new Error(`'${shown(value)}' is not a duration: use a number and a unit, e.g. 30s, 2m, 1h (units: ms, s, m, h, d)`);
  return Math.round(Number(match[1]) * UNITS[match[2]]);
}

/** Formats milliseconds back into the shortest exact duration string ('90s', '2m', '1500ms'). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNITS[unit] && ms % UNITS[unit] === 0) return `${ms / UNITS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration string between `min` and `max`, for zod schemas at every boundary. */
export function zDuration(options: { min?: string; max?: string } = {}) {
  const min = options.min ? parseDuration(options.min) : 0;
  const max = options.max ? parseDuration(options.max) : Number.POSITIVE_INFINITY;
  return z.string().superRefine((value, ctx) => {
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({
        code: 'custom',
        message: `'${shown(value)}' is out of range: use ${options.min ?? '0s'} to ${options.max ?? 'any'}`,
      });
    }
  });
}
