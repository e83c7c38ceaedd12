import { coerceValue, Invalid, type Evaluated } from './coerce';
import { DEOPT, jsonataBoolean } from './compile';
import { limitMessage, type CompiledExpression, type CompiledField, type CompiledMapping, type JsonataError } from './compiled';
import type { MapResult } from './types';

/**
 * Applying a compiled mapping to records: the fast path when every expression of a record has a
 * plain function, JSONata (async) for the rest; a failing record never stops the others.
 */

/** Synchronous when the fast path answers; JSONata (async) only for what it cannot. */
function evaluateFast(expr: CompiledExpression, record: unknown): unknown {
  return expr.fast ? expr.fast(record) : DEOPT;
}

async function evaluateSlow(expr: CompiledExpression, record: unknown): Promise<Evaluated> {
  try {
    return { ok: true, value: await expr.jsonata.evaluate(record) };
  } catch (error) {
    const e = error as JsonataError;
    return { ok: false, reason: limitMessage(e) ?? e.message ?? String(error) };
  }
}

async function evaluate(expr: CompiledExpression, record: unknown): Promise<Evaluated> {
  const fast = evaluateFast(expr, record);
  return fast === DEOPT ? evaluateSlow(expr, record) : { ok: true, value: fast };
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
  /** The field at which the record stopped because `deadline` had passed (preview only). */
  stoppedAt?: string;
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

/**
 * Maps one record with JSONata where needed; `allErrors` keeps going after the first failing field
 * (for the preview). Past `deadline` (performance.now() time) no further field is evaluated: the
 * record stops with `stoppedAt`, so a preview of many runaway fields ends within its budget.
 */
export async function mapRecord(
  compiled: CompiledMapping,
  record: unknown,
  index: number,
  allErrors: boolean,
  deadline?: { at: number; budgetMs: number },
): Promise<RecordOutcome> {
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
    if (deadline && performance.now() > deadline.at) {
      errors.push({ field: field.target, reason: `not evaluated: the preview ran out of its ${deadline.budgetMs} ms before this field` });
      return { key, filtered: false, errors, stoppedAt: field.target };
    }
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
      setField(value, field.target, null);
      continue;
    }
    const coerced = coerceValue(raw, field.type);
    if (coerced instanceof Invalid) {
      errors.push({ field: field.target, reason: coerced.reason });
      if (allErrors) continue;
      break;
    }
    setField(value, field.target, coerced);
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

/**
 * An output field as an own property whatever its name: `value['__proto__'] = x` would set the
 * record's prototype instead and the field would vanish (the schema refuses the name; a mapping
 * saved before is mapped as written).
 */
function setField(value: Record<string, unknown>, target: string, v: unknown): void {
  Object.defineProperty(value, target, { value: v, enumerable: true, writable: true, configurable: true });
}
