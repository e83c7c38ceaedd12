import { setFlagsFromString } from 'node:v8';
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
  // `"__proto__": v` in a literal sets the prototype (the field would vanish); computed, it is an
  // own property. ZMapping refuses the name; a mapping saved before it did is mapped as written.
  const key = (t: string) => (t === '__proto__' ? `[${JSON.stringify(t)}]` : JSON.stringify(t));
  const body = `return {${targets.map((t, i) => `${key(t)}: values[${i}]`).join(', ')}};`;
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

/** The longest list an expression may build: a mapping works on one record, and a range such as [1..9999999] would hold the process for seconds. */
export const MAX_SEQUENCE = 100_000;

/** How long JSONata may run before it lets the event loop answer other work (requests, pg-boss heartbeats). */
const YIELD_AFTER_MS = 20;

// V8's linear-time regular expression engine (the `l` flag) is behind a flag; turning it on only
// makes that flag accepted, it changes no other regular expression of the process.
setFlagsFromString('--enable-experimental-regexp-engine');
const LINEAR_FLAG = (() => {
  const flag = 'l';
  try {
    new RegExp('a', flag);
    return flag;
  } catch {
    return '';
  }
})();

/**
 * JSONata's RegexEngine: every pattern of a mapping runs on V8's linear-time engine, so
 * `$match(x, /(a+)+$/)` on a long string takes microseconds instead of holding the process for
 * ever (one native call cannot be interrupted by a timeout). Back-references and look-arounds need
 * backtracking and are refused with a per-field error.
 */
function LinearRegExp(pattern: RegExp): RegExp {
  try {
    return new RegExp(pattern.source, pattern.flags + LINEAR_FLAG);
  } catch {
    throw {
      code: 'MAPPING_REGEX',
      message: `the regular expression /${pattern.source}/ cannot run in linear time: back-references and look-arounds are not supported in mappings; rewrite it without them`,
    };
  }
}

/**
 * JSONata awaits this before evaluating each node: after YIELD_AFTER_MS of evaluation it waits one
 * turn of the event loop. JSONata's own awaits are all microtasks, so without it a runaway
 * expression holds the web process (or the worker) for the whole of its timeout, per field.
 */
let lastYield = performance.now();
function yieldNowAndThen(): Promise<void> | undefined {
  const now = performance.now();
  if (now - lastYield < YIELD_AFTER_MS) return undefined;
  return new Promise((resolve) =>
    setImmediate(() => {
      lastYield = performance.now();
      resolve();
    }),
  );
}

/** The widest `$pad` of a mapping: one call such as `$pad("", 5e8, "x")` is a single native step of seconds and half a gigabyte, which no timeout can stop. */
export const MAX_PAD = 10_000_000;

/** JSONata's `$pad` (same result, counting code points as it does), refusing a width over MAX_PAD. */
function boundedPad(str: string | undefined, width: number, char?: string): string | undefined {
  if (str === undefined) return undefined;
  const wanted = Math.trunc(width);
  if (Math.abs(wanted) > MAX_PAD) {
    throw {
      code: 'MAPPING_PAD',
      message: `$pad to ${Math.abs(wanted).toLocaleString('en-US')} characters is wider than a mapping may pad (at most ${MAX_PAD.toLocaleString('en-US')})`,
    };
  }
  const fill = char === undefined || char.length === 0 ? ' ' : char;
  const padLength = Math.abs(wanted) - Array.from(str).length;
  if (padLength <= 0) return str;
  const fillLength = Array.from(fill).length;
  const padding = Array.from(fill.repeat(Math.ceil(padLength / fillLength)))
    .slice(0, padLength)
    .join('');
  return wanted > 0 ? str + padding : padding + str;
}

/** The first regular expression literal of the syntax tree that LinearRegExp refuses, so the editor marks it before any run. */
function nonLinearRegex(ast: unknown): { position: number; message: string } | null {
  const stack: unknown[] = [ast];
  const seen = new Set<unknown>();
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null || seen.has(node)) continue;
    seen.add(node);
    if (node instanceof RegExp) continue;
    const { type, value, position } = node as { type?: unknown; value?: unknown; position?: unknown };
    if (type === 'regex' && value instanceof RegExp) {
      try {
        LinearRegExp(value);
      } catch (error) {
        return { position: typeof position === 'number' ? position : 0, message: (error as JsonataError).message ?? String(error) };
      }
    }
    for (const child of Object.values(node)) if (typeof child === 'object') stack.push(child);
  }
  return null;
}

/** JSONata's messages for its limits, reworded where they would not tell an admin what to change. */
export function limitMessage(error: JsonataError): string | undefined {
  if (error.code === 'D2015' || error.code === 'D2014') {
    return `a list grew past ${MAX_SEQUENCE.toLocaleString('en-US')} values: a mapping works on one record at a time, so narrow the expression (a range such as [1..n] or a path over a long list)`;
  }
  return undefined;
}

function compileExpression(
  source: string,
  field: string,
  options: CompileOptions,
): { ok: true; expr: CompiledExpression } | { ok: false; error: MappingCompileError } {
  let expression: jsonata.Expression;
  try {
    expression = jsonata(source, {
      timeout: options.timeoutMs ?? 1000,
      stack: 500,
      sequence: MAX_SEQUENCE,
      RegexEngine: LinearRegExp as unknown as RegExpConstructor,
    });
    expression.assign(Symbol.for('jsonata.__evaluate_entry') as unknown as string, yieldNowAndThen);
    expression.registerFunction('pad', boundedPad, '<s-ns?:s>');
  } catch (error) {
    const e = error as JsonataError;
    return { ok: false, error: { field, position: typeof e.position === 'number' ? e.position : 0, message: e.message ?? String(error) } };
  }
  const slowRegex = nonLinearRegex(expression.ast());
  if (slowRegex) return { ok: false, error: { field, position: slowRegex.position, message: slowRegex.message } };
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
