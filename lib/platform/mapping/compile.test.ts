import fc from 'fast-check';
import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { compileFast, DEOPT, jsonataBoolean } from './compile';

/** Plain arrays (JSONata marks its sequences with extra properties) and undefined made visible. */
function normalise(value: unknown): unknown {
  if (value === undefined) return '<undefined>';
  if (Array.isArray(value)) return value.map(normalise);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  }
  return value;
}

const leaf = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom('12.5', '0', '-3', '1e3', '0x1F', 'abc', '', ' 7 ', 'INV-1'),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.double(),
  fc.constantFrom(0.1, 0.2, 1 / 3, -0, 1e21, 2 ** 53, 123.45678901234568),
  fc.boolean(),
  fc.constant(null),
);

const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('tree'), { maxLength: 3 }),
    fc.record({ a: tie('tree'), b: tie('tree'), c: tie('tree'), name: leaf, account: leaf }, { requiredKeys: [] }),
  ),
}));

const line = fc.record({ account: leaf, amount: leaf, name: leaf }, { requiredKeys: [] });

const record = fc.record(
  {
    id: fc.oneof(fc.uuid(), fc.integer(), fc.constant(null)),
    number: leaf,
    amount: leaf,
    qty: leaf,
    customer: fc.oneof(
      fc.record({ id: leaf, name: leaf }, { requiredKeys: [] }),
      fc.array(fc.record({ id: leaf, name: leaf }), { maxLength: 3 }),
      leaf,
    ),
    lines: fc.oneof(fc.array(line, { maxLength: 4 }), fc.array(fc.array(line, { maxLength: 2 }), { maxLength: 2 }), line, leaf),
    a: tree,
    'odd key': leaf,
  },
  { requiredKeys: [] },
);

/** Every shape the fast path compiles, plus nesting of them. */
const FAST_EXPRESSIONS = [
  'id',
  'number',
  'customer.name',
  'customer.id',
  'lines.account',
  'lines[0].account',
  'lines[-1].account',
  'lines[1]',
  'lines[5].name',
  'a.b.c',
  'a.b[0]',
  '`odd key`',
  '"Invoice " & number & " for " & customer.name',
  'number & amount & true & null',
  '$count(lines)',
  '$count(customer)',
  '$count(a.b)',
  '$string(amount)',
  '$string(customer)',
  '$number(amount)',
  '$uppercase(customer.name)',
  '$lowercase(number)',
  'amount + 1',
  'amount * qty - 2',
  'amount / qty',
  'amount % 3',
  '-amount',
  '-(amount + qty)',
  '42',
  '1.5',
  '"literal"',
  'true',
  'null',
  '$string(amount * 100) & "c"',
];

/** Outside the subset: always JSONata. */
const SLOW_EXPRESSIONS = [
  'lines[amount > 1]',
  'amount > 1 ? "big" : "small"',
  '$sum(lines.amount)',
  '$',
  'customer.*',
  '**.name',
  'number = "INV-1"',
  '[amount, qty]',
  '{"x": amount}',
  '$substring(number, 0, 2)',
  '$count(lines, 1)',
  'lines#$i[0]',
  'a.b^(c)',
  '$x := 1',
];

describe('fast path compiler', () => {
  it('compiles the simple subset and leaves everything else to JSONata', () => {
    for (const expression of FAST_EXPRESSIONS) expect(compileFast(jsonata(expression).ast()), expression).not.toBeNull();
    for (const expression of SLOW_EXPRESSIONS) expect(compileFast(jsonata(expression).ast()), expression).toBeNull();
  });

  it('gives exactly what JSONata gives on a generated corpus, or defers to it', async () => {
    const records: unknown[] = [
      ...fc.sample(record, { numRuns: 600, seed: 20261102 }),
      // Shapes a generator may miss: non-object records, prototypes, marker objects.
      null,
      'text',
      42,
      [{ id: 1 }],
      { id: 'x', customer: Object.create({ name: 'inherited' }) },
      { id: 'y', customer: { _jsonata_function: true, name: 'marker' } },
      { id: 'z', lines: [] },
      { id: 'w', lines: [{ account: '4000' }, { account: '4200' }] },
    ];
    let answered = 0;
    let deferred = 0;
    for (const expression of FAST_EXPRESSIONS) {
      const slow = jsonata(expression);
      const fast = compileFast(slow.ast())!;
      for (const input of records) {
        const quick = fast(input);
        let reference: { ok: true; value: unknown } | { ok: false; error: string };
        try {
          reference = { ok: true, value: await slow.evaluate(input) };
        } catch (error) {
          reference = { ok: false, error: (error as { message?: string }).message ?? String(error) };
        }
        if (quick === DEOPT) {
          deferred++;
          continue;
        }
        answered++;
        const context = `${expression} on ${JSON.stringify(input)}`;
        expect(reference.ok, `${context}: JSONata failed (${reference.ok ? '' : reference.error}) but the fast path answered`).toBe(true);
        if (reference.ok) expect(normalise(quick), context).toEqual(normalise(reference.value));
      }
    }
    // The corpus is deliberately hostile (arrays, NaN, wrong types); most usual records still run fast.
    expect(answered).toBeGreaterThan(deferred);
  });

  it('casts filter results to boolean the way JSONata does', async () => {
    const values: unknown[] = [undefined, null, 0, 1, -0, '', 'x', [], [0], [0, 1], [[]], {}, { a: 1 }, true, false, [false, ''], ['']];
    for (const value of values) {
      const expected = await jsonata('$boolean(v)').evaluate({ v: value });
      expect(jsonataBoolean(value), JSON.stringify(value)).toBe(expected ?? false);
    }
  });
});
