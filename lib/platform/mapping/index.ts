import jsonata from 'jsonata';
import { z } from 'zod';
import type { MapFn, MapperFactory } from '../contract';
import { PermanentError } from '../errors';
import { compileFast, DEOPT, jsonataBoolean, type FastEval } from './compile';

/**
 * Field mapping: an ordered list of target fields, each a JSONata expression over the source
 * record with a type and a required flag, plus an optional filter and a key expression (the record
 * key named in errors). Compiled once per run; a record that fails is reported with its key, the
 * field and the reason and never stops the others. Simple expressions run as plain functions
 * (mapping-compile.ts); everything else through JSONata, with a time and depth limit per record.
 */

export type FieldType = 'string' | 'number' | 'integer' | 'boolean' | 'date' | 'decimal';
export const FIELD_TYPES = ['string', 'number', 'integer', 'boolean', 'date', 'decimal'] as const satisfies readonly FieldType[];

export interface MappingField {
  target: string;
  expression: string;
  type: FieldType;
  required: boolean;
}

export interface Mapping {
  fields: MappingField[];
  /** Records for which this is falsy (JSONata's $boolean) are skipped and counted as filtered. */
  filter?: string | null;
  /** Expression giving the record key used in errors; default 'id'. */
  key?: string;
}

const TARGET = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const ZMappingField = z
  .object({
    target: z
      .string()
      .regex(TARGET, 'must be a name made of letters, digits and _ (not starting with a digit), e.g. grossAmount')
      .max(100, 'must be at most 100 characters'),
    expression: z
      .string()
      .trim()
      .min(1, 'is empty: write a JSONata expression, e.g. customer.name')
      .max(2000, 'must be at most 2000 characters'),
    type: z.enum(FIELD_TYPES, { message: `must be one of ${FIELD_TYPES.join(', ')}` }),
    required: z.boolean({ message: 'must be true or false' }),
  })
  .strict();

export const ZMapping: z.ZodType<Mapping> = z
  .object({
    fields: z.array(ZMappingField).min(1, 'needs at least one field').max(200, 'may have at most 200 fields'),
    filter: z.string().max(2000, 'must be at most 2000 characters').nullish(),
    key: z.string().trim().min(1, 'is empty: use an expression such as id or number').max(500).optional(),
  })
  .strict()
  .superRefine((mapping, ctx) => {
    const seen = new Set<string>();
    mapping.fields.forEach((field, index) => {
      if (seen.has(field.target)) {
        ctx.addIssue({
          code: 'custom',
          path: ['fields', index, 'target'],
          message: `'${field.target}' is used by two fields: target names must be unique`,
        });
      }
      seen.add(field.target);
    });
  }) as z.ZodType<Mapping>;

export interface MappingCompileError {
  /** The field's target name, or 'filter' / 'key'. */
  field: string;
  /** Character offset JSONata reports for the error (end of the offending token). */
  position: number;
  message: string;
}

export interface MapResult {
  /** `index`: the record's position in the input, so a caller can attach what the mapping does not produce (e.g. an idempotency identity). */
  mapped: { key: string; value: Record<string, unknown>; index: number }[];
  rejected: { key: string; field: string; reason: string }[];
  filtered: number;
}

/** Per expression: the fast function when the expression is simple, and JSONata always (for DEOPT). */
interface CompiledExpression {
  source: string;
  fast: FastEval | null;
  jsonata: jsonata.Expression;
}

interface CompiledField {
  target: string;
  type: FieldType;
  required: boolean;
  expr: CompiledExpression;
}

export interface CompiledMapping {
  readonly kind: 'compiled-mapping';
  readonly fields: readonly CompiledField[];
  readonly filter: CompiledExpression | null;
  readonly key: CompiledExpression;
  /** How many expressions (fields, filter, key) run on the fast path. */
  readonly fastExpressions: number;
  /** Builds the output record from values in field order (see outputBuilder). */
  readonly build: (values: readonly unknown[]) => Record<string, unknown>;
  /** When every field has a fast function: evaluates them all into `scratch`, false on the first DEOPT. */
  readonly evaluateFields: ((record: unknown, scratch: unknown[]) => boolean) | null;
}

/**
 * One call site per field (`f[3](record)`) instead of a shared loop call site: each stays
 * monomorphic, so V8 inlines the field's function. Same safety as outputBuilder: only indexes.
 */
function fieldEvaluator(fns: readonly FastEval[]): (record: unknown, scratch: unknown[]) => boolean {
  const body = fns.map((_, i) => `v = f[${i}](record); if (v === DEOPT) return false; scratch[${i}] = v;`).join('\n');
  const factory = new Function('f', 'DEOPT', `return function evaluateFields(record, scratch) {\nlet v;\n${body}\nreturn true;\n};`);
  return factory(fns, DEOPT) as (record: unknown, scratch: unknown[]) => boolean;
}

/**
 * A function that builds `{ target1: values[0], target2: values[1], ... }` as one object literal.
 * Adding properties one by one under computed names costs ~400 ns per 12-field record, the literal
 * ~60 ns, which is most of the fast path's budget. The generated source contains only the target
 * names, which ZMapping restricts to identifiers and which are JSON-quoted here as well, and
 * array indexes: no expression text from the mapping ever reaches it.
 */
function outputBuilder(targets: readonly string[]): (values: readonly unknown[]) => Record<string, unknown> {
  for (const target of targets) {
    if (!TARGET.test(target)) throw new Error(`mapping target '${target}' is not a valid name`);
  }
  const body = `return {${targets.map((t, i) => `${JSON.stringify(t)}: values[${i}]`).join(', ')}};`;
  return new Function('values', body) as (values: readonly unknown[]) => Record<string, unknown>;
}

export interface CompileOptions {
  /** false evaluates everything with JSONata (to compare engines). Default true. */
  fastPath?: boolean;
  /** Per-record evaluation limit of a JSONata expression in ms (guards against runaway expressions). Default 1000. */
  timeoutMs?: number;
}

interface JsonataError {
  code?: string;
  position?: number;
  token?: string;
  message?: string;
}

function compileExpression(
  source: string,
  field: string,
  options: CompileOptions,
): { ok: true; expr: CompiledExpression } | { ok: false; error: MappingCompileError } {
  let expression: jsonata.Expression;
  try {
    expression = jsonata(source, { timeout: options.timeoutMs ?? 1000, stack: 500 });
  } catch (error) {
    const e = error as JsonataError;
    return { ok: false, error: { field, position: typeof e.position === 'number' ? e.position : 0, message: e.message ?? String(error) } };
  }
  const fast = options.fastPath === false ? null : compileFast(expression.ast());
  return { ok: true, expr: { source, fast, jsonata: expression } };
}

/** "Field 'total' at position 12: Expected ")" before end of expression" — one line per error. */
export function formatCompileErrors(errors: readonly MappingCompileError[]): string {
  return errors
    .map(
      (e) =>
        `${e.field === 'filter' || e.field === 'key' ? `The ${e.field}` : `Field '${e.field}'`} at position ${e.position}: ${e.message}`,
    )
    .join('; ');
}

/** Compiles every expression once; compile errors name the field and the position. */
export function compileMapping(mapping: Mapping, options: CompileOptions = {}): CompiledMapping | { errors: MappingCompileError[] } {
  const errors: MappingCompileError[] = [];
  const fields: CompiledField[] = [];
  for (const field of mapping.fields) {
    const compiled = compileExpression(field.expression, field.target, options);
    if (compiled.ok) fields.push({ target: field.target, type: field.type, required: field.required, expr: compiled.expr });
    else errors.push(compiled.error);
  }
  let filter: CompiledExpression | null = null;
  if (mapping.filter != null && mapping.filter.trim() !== '') {
    const compiled = compileExpression(mapping.filter, 'filter', options);
    if (compiled.ok) filter = compiled.expr;
    else errors.push(compiled.error);
  }
  const keyCompiled = compileExpression(mapping.key ?? 'id', 'key', options);
  if (!keyCompiled.ok) errors.push(keyCompiled.error);
  if (errors.length > 0 || !keyCompiled.ok) return { errors };
  const all = [...fields.map((f) => f.expr), keyCompiled.expr, ...(filter ? [filter] : [])];
  return {
    kind: 'compiled-mapping',
    fields,
    filter,
    key: keyCompiled.expr,
    fastExpressions: all.filter((e) => e.fast).length,
    build: outputBuilder(fields.map((f) => f.target)),
    evaluateFields: fields.every((f) => f.expr.fast) ? fieldEvaluator(fields.map((f) => f.expr.fast as FastEval)) : null,
  };
}

export function isCompiledMapping(value: CompiledMapping | { errors: MappingCompileError[] }): value is CompiledMapping {
  return (value as CompiledMapping).kind === 'compiled-mapping';
}

// ---------------------------------------------------------------------------------------------
// Evaluation and type coercion
// ---------------------------------------------------------------------------------------------

type Evaluated = { ok: true; value: unknown } | { ok: false; reason: string };

/** Synchronous when the fast path answers; JSONata (async) only for what it cannot. */
function evaluateFast(expr: CompiledExpression, record: unknown): unknown {
  return expr.fast ? expr.fast(record) : DEOPT;
}

async function evaluateSlow(expr: CompiledExpression, record: unknown): Promise<Evaluated> {
  try {
    return { ok: true, value: await expr.jsonata.evaluate(record) };
  } catch (error) {
    const e = error as JsonataError;
    return { ok: false, reason: e.message ?? String(error) };
  }
}

async function evaluate(expr: CompiledExpression, record: unknown): Promise<Evaluated> {
  const fast = evaluateFast(expr, record);
  return fast === DEOPT ? evaluateSlow(expr, record) : { ok: true, value: fast };
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 37)}...` : value}'`;
  if (Array.isArray(value)) return `a list of ${value.length} value${value.length === 1 ? '' : 's'}`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid date' : value.toISOString();
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

const DECIMAL_STRING = /^([+-]?)(\d+)(?:\.(\d+))?$/;
const NUMBER_STRING = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const DATE_PREFIX = /^(\d{4})-(\d{2})-(\d{2})(?:[T ].+)?$/;

/** A failed coercion; allocated only on failure so the mapped path stays allocation-light. */
class Invalid {
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
function coerceValue(value: unknown, type: FieldType): unknown {
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

function keyText(value: unknown, index: number): string {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return `#${index + 1}`;
}

interface RecordOutcome {
  key: string;
  filtered: boolean;
  value?: Record<string, unknown>;
  errors: { field: string; reason: string }[];
}

function missingReason(field: CompiledField): string {
  return `required value is missing (${field.expr.source} gave no value)`;
}

/**
 * The whole record on the fast path, synchronously, straight into `result` (first failing field
 * only); false when an expression needs JSONata (the caller then maps the record through mapRecord).
 */
function mapRecordFast(compiled: CompiledMapping, record: unknown, index: number, result: MapResult, scratch: unknown[]): boolean {
  const keyValue = compiled.key.fast ? compiled.key.fast(record) : DEOPT;
  if (keyValue === DEOPT) return false;
  if (compiled.filter) {
    const keep = compiled.filter.fast ? compiled.filter.fast(record) : DEOPT;
    if (keep === DEOPT) return false;
    if (!jsonataBoolean(keep)) {
      result.filtered++;
      return true;
    }
  }
  const fields = compiled.fields;
  // Evaluating every field before coercing gives the same outcome as field by field: the slow
  // path also stops at the first failing field, so a later DEOPT never changes which one that is.
  if (!compiled.evaluateFields || !compiled.evaluateFields(record, scratch)) return false;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    const raw = scratch[i];
    if (raw === undefined || raw === null) {
      if (field.required) {
        result.rejected.push({ key: keyText(keyValue, index), field: field.target, reason: missingReason(field) });
        return true;
      }
      scratch[i] = null;
      continue;
    }
    const coerced = coerceValue(raw, field.type);
    if (coerced instanceof Invalid) {
      result.rejected.push({ key: keyText(keyValue, index), field: field.target, reason: coerced.reason });
      return true;
    }
    scratch[i] = coerced;
  }
  result.mapped.push({ key: keyText(keyValue, index), value: compiled.build(scratch), index });
  return true;
}

/** Maps one record with JSONata where needed; `allErrors` keeps going after the first failing field (for the preview). */
async function mapRecord(compiled: CompiledMapping, record: unknown, index: number, allErrors: boolean): Promise<RecordOutcome> {
  let keyValue = evaluateFast(compiled.key, record);
  if (keyValue === DEOPT) {
    const slow = await evaluateSlow(compiled.key, record);
    keyValue = slow.ok ? slow.value : undefined;
  }
  const key = keyText(keyValue, index);
  if (compiled.filter) {
    const result = await evaluate(compiled.filter, record);
    if (!result.ok) return { key, filtered: false, errors: [{ field: 'filter', reason: result.reason }] };
    if (!jsonataBoolean(result.value)) return { key, filtered: true, errors: [] };
  }
  const value: Record<string, unknown> = {};
  const errors: { field: string; reason: string }[] = [];
  for (const field of compiled.fields) {
    let raw = evaluateFast(field.expr, record);
    if (raw === DEOPT) {
      const slow = await evaluateSlow(field.expr, record);
      if (!slow.ok) {
        errors.push({ field: field.target, reason: slow.reason });
        if (allErrors) continue;
        break;
      }
      raw = slow.value;
    }
    if (raw === undefined || raw === null) {
      if (field.required) {
        errors.push({ field: field.target, reason: missingReason(field) });
        if (allErrors) continue;
        break;
      }
      value[field.target] = null;
      continue;
    }
    const coerced = coerceValue(raw, field.type);
    if (coerced instanceof Invalid) {
      errors.push({ field: field.target, reason: coerced.reason });
      if (allErrors) continue;
      break;
    }
    value[field.target] = coerced;
  }
  return errors.length ? { key, filtered: false, errors } : { key, filtered: false, value, errors };
}

/**
 * Maps every record: mapped ones in input order, one rejection per failed record (its first
 * failing field and why), and how many the filter skipped. A failing record never stops the others.
 */
export async function applyMapping(compiled: CompiledMapping, records: unknown[]): Promise<MapResult> {
  const result: MapResult = { mapped: [], rejected: [], filtered: 0 };
  const scratch = new Array<unknown>(compiled.fields.length);
  for (let i = 0; i < records.length; i++) {
    if (mapRecordFast(compiled, records[i], i, result, scratch)) continue;
    const outcome = await mapRecord(compiled, records[i], i, false);
    if (outcome.filtered) result.filtered++;
    else if (outcome.value) result.mapped.push({ key: outcome.key, value: outcome.value, index: i });
    else result.rejected.push({ key: outcome.key, field: outcome.errors[0].field, reason: outcome.errors[0].reason });
  }
  return result;
}

export interface PreviewResult {
  /** Invalid expressions (field, position, message) and invalid mapping structure (position 0). */
  compileErrors: MappingCompileError[];
  results: { key: string; filtered: boolean; output?: Record<string, unknown>; errors: { field: string; reason: string }[] }[];
  /** Set when the preview stopped before the last sample (time budget or PREVIEW_LIMIT), saying why. */
  notice?: string;
}

/** At most this many sample records are previewed. */
export const PREVIEW_LIMIT = 200;

/**
 * For the live editor: every record's output or all its errors. Fields whose expression does not
 * compile are reported in compileErrors and left out of the outputs, so the rest still previews.
 */
export async function previewMapping(
  mapping: Mapping,
  sampleRecords: unknown[],
  options: { budgetMs?: number } = {},
): Promise<PreviewResult> {
  // A live editor calls this on every keystroke: a runaway expression must not hold the server.
  const budgetMs = options.budgetMs ?? 3000;
  const compileOptions: CompileOptions = { timeoutMs: Math.min(250, budgetMs) };
  const parsed = ZMapping.safeParse(mapping);
  if (!parsed.success) {
    return {
      compileErrors: parsed.error.issues.map((issue) => {
        const [, index, prop] = issue.path;
        const target =
          issue.path[0] === 'fields' && typeof index === 'number'
            ? (mapping.fields?.[index]?.target ?? `#${index + 1}`)
            : String(issue.path[0] ?? 'mapping');
        return { field: String(target), position: 0, message: `${prop ? `${String(prop)} ` : ''}${issue.message}` };
      }),
      results: [],
    };
  }
  const first = compileMapping(parsed.data, compileOptions);
  let compiled: CompiledMapping;
  let compileErrors: MappingCompileError[] = [];
  if (isCompiledMapping(first)) {
    compiled = first;
  } else {
    compileErrors = first.errors;
    const bad = new Set(compileErrors.map((e) => e.field));
    const partial = compileMapping(
      {
        fields: parsed.data.fields.filter((f) => !bad.has(f.target)),
        filter: bad.has('filter') ? null : parsed.data.filter,
        key: bad.has('key') ? undefined : parsed.data.key,
      },
      compileOptions,
    );
    if (!isCompiledMapping(partial)) return { compileErrors, results: [] };
    compiled = partial;
  }
  const results: PreviewResult['results'] = [];
  const records = sampleRecords.slice(0, PREVIEW_LIMIT);
  const started = performance.now();
  for (let i = 0; i < records.length; i++) {
    if (i > 0 && performance.now() - started > budgetMs) {
      return {
        compileErrors,
        results,
        notice: `Preview stopped after ${i} of ${records.length} records: the expressions took longer than ${budgetMs} ms; simplify them or preview fewer records`,
      };
    }
    const outcome = await mapRecord(compiled, records[i], i, true);
    results.push({
      key: outcome.key,
      filtered: outcome.filtered,
      ...(outcome.value ? { output: outcome.value } : {}),
      errors: outcome.errors,
    });
  }
  if (sampleRecords.length > PREVIEW_LIMIT) {
    return { compileErrors, results, notice: `Previewed the first ${PREVIEW_LIMIT} of ${sampleRecords.length} records` };
  }
  return { compileErrors, results };
}

/**
 * The worker's MapperFactory: parses and compiles an integration's stored mapping once per attempt.
 * An invalid stored mapping is a PermanentError (retrying cannot fix it) naming field and position.
 */
export const compileStoredMapping: MapperFactory = async (integration, mappingJson): Promise<MapFn> => {
  const parsed = ZMapping.safeParse(mappingJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PermanentError(
      `The field mapping of '${integration}' is invalid (${issue.path.join('.') || 'mapping'}: ${issue.message}); fix it in the console's mapping editor`,
    );
  }
  const compiled = compileMapping(parsed.data);
  if (!isCompiledMapping(compiled)) {
    throw new PermanentError(
      `The field mapping of '${integration}' does not compile: ${formatCompileErrors(compiled.errors)}; fix it in the console's mapping editor`,
    );
  }
  return (records: unknown[]) => applyMapping(compiled, records);
};
