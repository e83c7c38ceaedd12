import type jsonata from 'jsonata';

/**
 * The mapping fast path: compiles the simple part of JSONata (field paths, `[n]` indexes, literals,
 * `&` concatenation, arithmetic, unary minus, parentheses, `$string`, `$number`, `$count`, `$uppercase`,
 * `$lowercase`) from JSONata's own syntax tree into plain closures, ~100× faster than evaluating.
 *
 * Safety rule: a compiled function only answers when the record's shape makes JSONata's result
 * certain (plain objects along the path, no arrays where JSONata would flatten sequences, values of
 * the expected types, finite numbers). Anything else returns DEOPT and the caller evaluates that
 * record with JSONata itself, so the fast path can change speed, never results (the corpus test in
 * mapping-compile.test.ts runs both engines over generated records).
 */

export const DEOPT: unique symbol = Symbol('deopt');
/** Returns the expression's value, or DEOPT when only JSONata can say. */
export type FastEval = (input: unknown) => unknown;

/** JSONata's syntax-tree node; its published types miss some node types ('path', 'filter'). */
type Node = { type: string; value?: unknown; [key: string]: unknown };

const hasOwn = Object.prototype.hasOwnProperty;

function onlyKeys(node: Node, allowed: readonly string[]): boolean {
  // JSONata leaves some properties present but undefined (a function call's `name`).
  for (const key of Object.keys(node)) if (node[key] !== undefined && !allowed.includes(key)) return false;
  return true;
}

const LITERAL_KEYS = ['type', 'value', 'position'] as const;

/** `$string` as JSONata does it, for the values whose rendering is certain; DEOPT otherwise. */
function toJsonataString(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return DEOPT;
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(15)));
  }
  if (typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  return DEOPT;
}

interface PathStep {
  name: string;
  index: number | null;
}

function pathSteps(node: Node): PathStep[] | null {
  if (!onlyKeys(node, ['type', 'steps']) || !Array.isArray(node.steps) || node.steps.length === 0) return null;
  const steps: PathStep[] = [];
  for (const raw of node.steps as Node[]) {
    if (raw.type !== 'name' || typeof raw.value !== 'string' || !onlyKeys(raw, ['type', 'value', 'position', 'stages'])) return null;
    let index: number | null = null;
    if (raw.stages !== undefined) {
      const stages = raw.stages as Node[];
      if (!Array.isArray(stages) || stages.length !== 1) return null;
      const stage = stages[0];
      if (stage.type !== 'filter' || !onlyKeys(stage, ['type', 'expr', 'position'])) return null;
      const expr = stage.expr as Node | undefined;
      if (!expr || expr.type !== 'number' || !onlyKeys(expr, LITERAL_KEYS) || !Number.isSafeInteger(expr.value)) return null;
      index = expr.value as number;
    }
    steps.push({ name: raw.value, index });
  }
  return steps;
}

/**
 * A path over plain objects. `finalArray` lets the last value be an array of non-arrays (for
 * `$count`), which JSONata returns unchanged; everywhere else an array means sequence semantics: DEOPT.
 *
 * Generated as straight-line code with the property names as constants: each lookup then gets its
 * own inline cache (one shape, one name) instead of one shared, megamorphic lookup for every path,
 * about 3× faster. The source holds only JSON-quoted names and integer indexes from the parsed
 * syntax tree, never expression text.
 */
function compilePath(steps: PathStep[], finalArray: boolean): FastEval {
  const lines: string[] = ['let c = input;', 'let v;'];
  steps.forEach((step, i) => {
    const name = JSON.stringify(step.name);
    lines.push(
      'if (c === undefined) return undefined;',
      "if (typeof c !== 'object' || c === null) return typeof c === 'function' ? DEOPT : undefined;",
      'if (Array.isArray(c) || c._jsonata_function || c._jsonata_lambda) return DEOPT;',
      `v = hasOwn.call(c, ${name}) ? c[${name}] : undefined;`,
      "if (typeof v === 'function') return DEOPT;",
    );
    if (step.index !== null) {
      if (!Number.isSafeInteger(step.index)) throw new Error('path index must be an integer');
      lines.push(
        'if (v === undefined) return undefined;',
        'if (!Array.isArray(v)) return DEOPT;',
        'for (let k = 0; k < v.length; k++) if (Array.isArray(v[k])) return DEOPT;',
        step.index < 0 ? `v = v[v.length - ${-step.index}];` : `v = v[${step.index}];`,
      );
    } else if (finalArray && i === steps.length - 1) {
      lines.push(
        'if (Array.isArray(v)) { for (let k = 0; k < v.length; k++) if (Array.isArray(v[k]) || v[k] === undefined) return DEOPT; }',
      );
    } else {
      lines.push('if (Array.isArray(v)) return DEOPT;');
    }
    lines.push('c = v;');
  });
  lines.push("return typeof c === 'object' && c !== null && (c._jsonata_function || c._jsonata_lambda) ? DEOPT : c;");
  const factory = new Function('hasOwn', 'DEOPT', `return function path(input) {\n${lines.join('\n')}\n};`);
  return factory(hasOwn, DEOPT) as FastEval;
}

const NUMERIC_STRING = /^-?[0-9]+(\.[0-9]+)?([Ee][-+]?[0-9]+)?$/;

function compileFunction(node: Node): FastEval | null {
  if (!onlyKeys(node, ['type', 'value', 'position', 'arguments', 'procedure'])) return null;
  const procedure = node.procedure as Node | undefined;
  const args = node.arguments as Node[] | undefined;
  if (!procedure || procedure.type !== 'variable' || !onlyKeys(procedure, LITERAL_KEYS) || !Array.isArray(args) || args.length !== 1) {
    return null;
  }
  const name = procedure.value as string;
  if (name === 'count') {
    const steps = args[0].type === 'path' ? pathSteps(args[0] as Node) : null;
    const arg = steps ? compilePath(steps, true) : compileNode(args[0] as Node);
    if (!arg) return null;
    return (input) => {
      const value = arg(input);
      if (value === DEOPT) return DEOPT;
      if (value === undefined) return 0;
      return Array.isArray(value) ? value.length : 1;
    };
  }
  const arg = compileNode(args[0] as Node);
  if (!arg) return null;
  switch (name) {
    case 'string':
      return (input) => {
        const value = arg(input);
        return value === DEOPT ? DEOPT : toJsonataString(value);
      };
    case 'number':
      return (input) => {
        const value = arg(input);
        if (value === DEOPT || value === undefined) return value;
        if (typeof value === 'number') return Number.isFinite(value) ? value : DEOPT;
        if (typeof value === 'string' && NUMERIC_STRING.test(value)) {
          const parsed = parseFloat(value);
          return Number.isFinite(parsed) ? parsed : DEOPT;
        }
        if (typeof value === 'boolean') return value ? 1 : 0;
        return DEOPT;
      };
    case 'uppercase':
    case 'lowercase': {
      const upper = name === 'uppercase';
      return (input) => {
        const value = arg(input);
        if (value === DEOPT || value === undefined) return value;
        if (typeof value !== 'string') return DEOPT;
        return upper ? value.toUpperCase() : value.toLowerCase();
      };
    }
    default:
      return null;
  }
}

function compileBinary(node: Node): FastEval | null {
  if (!onlyKeys(node, ['type', 'value', 'position', 'lhs', 'rhs'])) return null;
  const op = node.value as string;
  const lhs = compileNode(node.lhs as Node);
  const rhs = compileNode(node.rhs as Node);
  if (!lhs || !rhs) return null;
  if (op === '&') {
    return (input) => {
      const l = lhs(input);
      if (l === DEOPT) return DEOPT;
      const r = rhs(input);
      if (r === DEOPT) return DEOPT;
      const ls = l === undefined ? '' : toJsonataString(l);
      const rs = r === undefined ? '' : toJsonataString(r);
      if (ls === DEOPT || rs === DEOPT) return DEOPT;
      return (ls as string) + (rs as string);
    };
  }
  if (op !== '+' && op !== '-' && op !== '*' && op !== '/' && op !== '%') return null;
  return (input) => {
    const l = lhs(input);
    if (l === DEOPT) return DEOPT;
    const r = rhs(input);
    if (r === DEOPT) return DEOPT;
    // JSONata raises T2001/T2002/D1001 here: let it, with its own message.
    if (
      (l !== undefined && (typeof l !== 'number' || !Number.isFinite(l))) ||
      (r !== undefined && (typeof r !== 'number' || !Number.isFinite(r)))
    ) {
      return DEOPT;
    }
    if (l === undefined || r === undefined) return undefined;
    const a = l as number;
    const b = r as number;
    const result = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : op === '/' ? a / b : a % b;
    return Number.isFinite(result) ? result : DEOPT;
  };
}

function compileNode(node: Node | undefined): FastEval | null {
  if (!node || typeof node !== 'object') return null;
  switch (node.type) {
    case 'string':
    case 'number':
    case 'value': {
      if (!onlyKeys(node, LITERAL_KEYS)) return null;
      const value = node.value as unknown;
      if (typeof value === 'number' && !Number.isFinite(value)) return null;
      return () => value;
    }
    case 'path': {
      const steps = pathSteps(node);
      return steps ? compilePath(steps, false) : null;
    }
    case 'binary':
      return compileBinary(node);
    case 'unary': {
      if (node.value !== '-' || !onlyKeys(node, ['type', 'value', 'position', 'expression'])) return null;
      const operand = compileNode(node.expression as Node);
      if (!operand) return null;
      return (input) => {
        const value = operand(input);
        if (value === DEOPT || value === undefined) return value;
        return typeof value === 'number' && Number.isFinite(value) ? -value : DEOPT;
      };
    }
    case 'function':
      return compileFunction(node);
    case 'block': {
      // Parentheses around one expression.
      const inner = node.expressions as Node[] | undefined;
      if (!onlyKeys(node, ['type', 'position', 'expressions']) || !Array.isArray(inner) || inner.length !== 1) return null;
      return compileNode(inner[0]);
    }
    default:
      return null;
  }
}

/**
 * A plain function for the expression's syntax tree, or null when it uses anything beyond the
 * supported subset (it is then always evaluated by JSONata). A top-level path keeps JSONata's
 * rule that a bare name on a plain object is a property lookup.
 */
export function compileFast(ast: jsonata.ExprNode): FastEval | null {
  return compileNode(ast as unknown as Node);
}

/** JSONata's `$boolean` cast, used for the mapping filter. */
export function jsonataBoolean(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) {
    if (value.length === 1) return jsonataBoolean(value[0]);
    return value.some((v) => jsonataBoolean(v));
  }
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'number':
      return value !== 0;
    case 'string':
      return value.length > 0;
    case 'object':
      return Object.keys(value as object).length > 0;
    default:
      return false;
  }
}

/** For tests and diagnostics: would this expression run on the fast path (for records of the usual shape)? */
export function isFastExpression(ast: jsonata.ExprNode): boolean {
  return compileFast(ast) !== null;
}
