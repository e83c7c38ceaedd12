import { clip } from '../words';
import type { FieldType } from './types';

/**
 * Type coercion of an evaluated value to its field's type ('decimal' as text with 2 decimals,
 * 'date' as YYYY-MM-DD...), with a reason a person can act on when it does not fit.
 */

export type Evaluated = { ok: true; value: unknown } | { ok: false; reason: string };

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${clip(value, 40, '...')}'`;
  if (Array.isArray(value)) return `a list of ${value.length} value${value.length === 1 ? '' : 's'}`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid date' : value.toISOString();
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null) {
    // JSONata's own functions ($sum) and lambdas (function($x){...}) are objects marked so.
    const marked = value as { _jsonata_function?: unknown; _jsonata_lambda?: unknown };
    return marked._jsonata_function || marked._jsonata_lambda ? 'a function (call it, e.g. $sum(lines.amount))' : 'an object';
  }
  return String(value);
}

const DECIMAL_STRING = /^([+-]?)(\d+)(?:\.(\d+))?$/;
const NUMBER_STRING = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const DATE_PREFIX = /^(\d{4})-(\d{2})-(\d{2})(?:[T ].+)?$/;

/** A failed coercion; allocated only on failure so the mapped path stays allocation-light. */
export class Invalid {
  constructor(readonly reason: string) {}
}

/** Rounds a plain decimal string to 2 places, half away from zero, with BigInt (no binary rounding). */
function roundToCents(sign: string, whole: string, fraction: string): string {
  if (fraction.length <= 2) {
    const text = `${whole.replace(/^0+(?=\d)/, '')}.${fraction.padEnd(2, '0')}`;
    return sign === '-' && /[1-9]/.test(text) ? `-${text}` : text;
  }
  let cents = BigInt(whole + fraction.slice(0, 2));
  if (Number(fraction[2]) >= 5) cents += 1n;
  const digits = cents.toString().padStart(3, '0');
  const text = `${digits.slice(0, -2)}.${digits.slice(-2)}`;
  return sign === '-' && cents !== 0n ? `-${text}` : text;
}

/** '1200.00', '-5.10', '0.99': already what a decimal field stores (the common case, checked without a regex). */
function isCanonicalCents(text: string): boolean {
  const n = text.length;
  if (n < 4 || n > 19 || text.charCodeAt(n - 3) !== 46 /* . */) return false;
  const start = text.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  if (n - 3 - start < 1 || text === '-0.00') return false;
  // No leading zeros ('007.50').
  if (text.charCodeAt(start) === 48 && n - 3 - start > 1) return false;
  for (let i = start; i < n; i++) {
    if (i === n - 3) continue;
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function toDecimal(value: unknown): unknown {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return new Invalid(`expected a decimal amount, got ${describe(value)}`);
    if (Math.abs(value) >= 1e15) return new Invalid(`amount ${value} is too large (at most 15 digits before the decimal point)`);
    if (Number.isInteger(value)) return `${value === 0 ? 0 : value}.00`;
    // Clean binary noise (0.1 + 0.2) the way JSONata prints numbers, then round in decimal.
    const cleaned = Number(value.toPrecision(15));
    text = /e/i.test(String(cleaned)) ? cleaned.toFixed(20) : String(cleaned);
  } else if (typeof value === 'string') {
    if (isCanonicalCents(value)) return value;
    text = value.trim();
  } else {
    return new Invalid(`expected a decimal amount (number or numeric text), got ${describe(value)}`);
  }
  const match = DECIMAL_STRING.exec(text);
  if (!match) return new Invalid(`expected a decimal amount such as 1200.50, got ${describe(value)}`);
  if (match[2].replace(/^0+/, '').length > 15)
    return new Invalid(`amount ${describe(value)} is too large (at most 15 digits before the decimal point)`);
  return roundToCents(match[1], match[2], match[3] ?? '');
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validCalendarDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= (m === 2 && leap ? 29 : DAYS_IN_MONTH[m - 1]);
}

function digitsAt(text: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function toDate(value: unknown): unknown {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return new Invalid('expected a date, got an invalid date');
    return value.toISOString().slice(0, 10);
  }
  if (typeof value !== 'string') return new Invalid(`expected a date (YYYY-MM-DD or an ISO date-time), got ${describe(value)}`);
  if (value.length === 10 && value.charCodeAt(4) === 45 && value.charCodeAt(7) === 45) {
    const y = digitsAt(value, 0, 4);
    const m = digitsAt(value, 5, 2);
    const d = digitsAt(value, 8, 2);
    if (y >= 0 && m >= 0 && d >= 0 && validCalendarDate(y, m, d)) return value;
  }
  const match = DATE_PREFIX.exec(value);
  if (!match || !validCalendarDate(Number(match[1]), Number(match[2]), Number(match[3]))) {
    return new Invalid(`expected a date (YYYY-MM-DD or an ISO date-time), got ${describe(value)}`);
  }
  if (value.length === 10) return value;
  if (Number.isNaN(Date.parse(value))) return new Invalid(`expected an ISO date-time such as 2026-11-02T09:12:00Z, got ${describe(value)}`);
  // The calendar date as written (a date-time keeps the date of its own offset).
  return value.slice(0, 10);
}

function toNumber(value: unknown): number | Invalid {
  if (typeof value === 'number') return Number.isFinite(value) ? value : new Invalid(`expected a number, got ${describe(value)}`);
  if (typeof value === 'string' && NUMBER_STRING.test(value.trim())) {
    const parsed = Number(value.trim());
    if (Number.isFinite(parsed)) return parsed;
  }
  return new Invalid(`expected a number, got ${describe(value)}`);
}

/** The value converted to the field's type, or an Invalid with the reason. */
export function coerceValue(value: unknown, type: FieldType): unknown {
  switch (type) {
    case 'string':
      if (typeof value === 'string') return value;
      if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') return String(value);
      if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
      return new Invalid(`expected text, got ${describe(value)}`);
    case 'number':
      return toNumber(value);
    case 'integer': {
      const n = toNumber(value);
      return typeof n === 'number' && Number.isSafeInteger(n) ? n : new Invalid(`expected a whole number, got ${describe(value)}`);
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|false)$/i.test(value.trim())) return value.trim().toLowerCase() === 'true';
      return new Invalid(`expected true or false, got ${describe(value)}`);
    case 'date':
      return toDate(value);
    case 'decimal':
      return toDecimal(value);
  }
}

/**
 * Coerces an evaluated (non-missing) value to a field type: 'decimal' is text with exactly 2
 * decimals (half away from zero), 'date' is YYYY-MM-DD from a Date or an ISO date / date-time.
 */
export function coerce(value: unknown, type: FieldType): Evaluated {
  const result = coerceValue(value, type);
  return result instanceof Invalid ? { ok: false, reason: result.reason } : { ok: true, value: result };
}
