import jsonata from 'jsonata';
import { compileFast, DEOPT, type FastEval } from './compile';
import { TARGET } from './schema';
import type { FieldType, Mapping, MappingCompileError } from './types';

/**
 * Compiling a mapping once per run: every expression parsed by JSONata (compile errors name the
 * field and position), and, when simple, also compiled to a plain function (compile.ts).
 */

/** Per expression: the fast function when the expression is simple, and JSONata always (for DEOPT). */
export interface CompiledExpression {
  source: string;
  fast: FastEval | null;
  jsonata: jsonata.Expression;
}

export interface CompiledField {
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

export interface JsonataError {
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
