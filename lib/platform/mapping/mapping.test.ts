import { describe, expect, it } from 'vitest';
import { isPermanentError } from '../errors';
import {
  applyMapping,
  coerce,
  compileMapping,
  compileStoredMapping,
  formatCompileErrors,
  isCompiledMapping,
  PREVIEW_VALUE_CHARS,
  previewMapping,
  ZMapping,
  type CompiledMapping,
  type Mapping,
} from './';

/** A realistic 12-field invoice → journal entry mapping (the shape of the accounting export's). */
const journal: Mapping = {
  key: 'number',
  filter: 'status = "posted"',
  fields: [
    { target: 'reference', expression: 'number', type: 'string', required: true },
    { target: 'date', expression: 'issuedOn', type: 'date', required: true },
    { target: 'dueDate', expression: 'dueOn', type: 'date', required: false },
    { target: 'currency', expression: 'currency', type: 'string', required: true },
    { target: 'customerId', expression: 'customer.id', type: 'string', required: true },
    { target: 'customerName', expression: 'customer.name', type: 'string', required: true },
    { target: 'netAmount', expression: 'netTotal', type: 'decimal', required: true },
    { target: 'taxAmount', expression: 'taxTotal', type: 'decimal', required: true },
    { target: 'grossAmount', expression: 'grossTotal', type: 'decimal', required: true },
    { target: 'account', expression: 'lines[0].account', type: 'string', required: true },
    { target: 'description', expression: '"Invoice " & number & " for " & customer.name', type: 'string', required: true },
    { target: 'lineCount', expression: '$count(lines)', type: 'integer', required: true },
  ],
};

function compiled(mapping: Mapping, options?: Parameters<typeof compileMapping>[1]): CompiledMapping {
  const result = compileMapping(mapping, options);
  if (!isCompiledMapping(result)) throw new Error(formatCompileErrors(result.errors));
  return result;
}

function invoice(n: number, overrides: Record<string, unknown> = {}) {
  return {
    number: `INV-${String(n).padStart(5, '0')}`,
    status: 'posted',
    issuedOn: '2026-11-02',
    dueOn: '2026-12-02T10:00:00+01:00',
    currency: 'EUR',
    customer: { id: `c-${n}`, name: `Customer ${n}` },
    netTotal: '1200.00',
    taxTotal: 228,
    grossTotal: '1428',
    lines: [{ account: '4000' }, { account: '4200' }],
    ...overrides,
  };
}

describe('ZMapping', () => {
  it('accepts a well-formed mapping and refuses duplicate or malformed targets with the field path', () => {
    expect(ZMapping.safeParse(journal).success).toBe(true);
    const duplicate = ZMapping.safeParse({ fields: [journal.fields[0], journal.fields[0]] });
    expect(duplicate.success).toBe(false);
    expect(duplicate.error?.issues[0]).toMatchObject({
      path: ['fields', 1, 'target'],
      message: "Target 'reference' is used by rows 1 and 2: each target field can be written once",
    });
    const badTarget = ZMapping.safeParse({ fields: [{ ...journal.fields[0], target: '1st field' }] });
    expect(badTarget.error?.issues[0].path).toEqual(['fields', 0, 'target']);
    const badType = ZMapping.safeParse({ fields: [{ ...journal.fields[0], type: 'money' }] });
    expect(badType.error?.issues[0].message).toMatch(/must be one of string, number, integer, boolean, date, decimal/);
    expect(ZMapping.safeParse({ fields: [] }).error?.issues[0].message).toBe('needs at least one field');
    expect(ZMapping.safeParse({ ...journal, extra: 1 }).success).toBe(false);
  });
});

describe('compileMapping', () => {
  it('names the field and the position of every expression that does not compile', () => {
    const result = compileMapping({
      filter: 'status = ',
      fields: [
        { target: 'ok', expression: 'number', type: 'string', required: true },
        { target: 'total', expression: 'netTotal +', type: 'number', required: true },
        { target: 'count', expression: '$count(lines', type: 'integer', required: false },
      ],
    });
    expect(isCompiledMapping(result)).toBe(false);
    if (isCompiledMapping(result)) return;
    expect(result.errors).toEqual([
      { field: 'total', position: 10, message: 'Unexpected end of expression' },
      { field: 'count', position: 12, message: 'Expected ")" before end of expression' },
      { field: 'filter', position: 9, message: 'Unexpected end of expression' },
    ]);
    expect(formatCompileErrors(result.errors)).toBe(
      "Field 'total' at position 10: Unexpected end of expression; Field 'count' at position 12: Expected \")\" before end of expression; The filter at position 9: Unexpected end of expression",
    );
  });

  it('runs every expression of a path-and-concatenation mapping on the fast path', () => {
    const withoutFilter = compiled({ ...journal, filter: null });
    // 12 fields + the key; the filter's comparison stays with JSONata.
    expect(withoutFilter.fastExpressions).toBe(13);
    expect(compiled(journal, { fastPath: false }).fastExpressions).toBe(0);
  });
});

describe('applyMapping', () => {
  it('maps good records and rejects a bad one with its key, field and reason without stopping the others', async () => {
    const records = [
      invoice(1),
      invoice(2, { netTotal: 'twelve' }),
      invoice(3, { customer: { id: 'c-3' } }),
      invoice(4, { status: 'draft' }),
      invoice(5, { lines: [] }),
      invoice(6, { issuedOn: '2026-02-30' }),
      invoice(7),
    ];
    const result = await applyMapping(compiled(journal), records);
    expect(result.mapped.map((m) => m.key)).toEqual(['INV-00001', 'INV-00007']);
    expect(result.mapped[0].value).toEqual({
      reference: 'INV-00001',
      date: '2026-11-02',
      dueDate: '2026-12-02',
      currency: 'EUR',
      customerId: 'c-1',
      customerName: 'Customer 1',
      netAmount: '1200.00',
      taxAmount: '228.00',
      grossAmount: '1428.00',
      account: '4000',
      description: 'Invoice INV-00001 for Customer 1',
      lineCount: 2,
    });
    expect(result.rejected).toEqual([
      { key: 'INV-00002', field: 'netAmount', reason: "expected a decimal amount such as 1200.50, got 'twelve'" },
      { key: 'INV-00003', field: 'customerName', reason: 'required value is missing (customer.name gave no value)' },
      { key: 'INV-00005', field: 'account', reason: 'required value is missing (lines[0].account gave no value)' },
      { key: 'INV-00006', field: 'date', reason: "expected a date (YYYY-MM-DD or an ISO date-time), got '2026-02-30'" },
    ]);
    expect(result.filtered).toBe(1);
  });

  it('reports a JSONata evaluation error as the record’s rejection, keyed by position when the key is missing', async () => {
    const mapping: Mapping = {
      fields: [
        { target: 'id', expression: 'id', type: 'string', required: false },
        { target: 'total', expression: '$sum(lines.amount) * 2', type: 'number', required: true },
      ],
    };
    const result = await applyMapping(compiled(mapping), [
      { id: 'a', lines: [{ amount: 1 }, { amount: 2 }] },
      { lines: [{ amount: 'x' }] },
      { id: 'c', lines: [{ amount: 5 }] },
    ]);
    expect(result.mapped).toEqual([
      { key: 'a', value: { id: 'a', total: 6 }, index: 0 },
      { key: 'c', value: { id: 'c', total: 10 }, index: 2 },
    ]);
    expect(result.rejected).toEqual([{ key: '#2', field: 'total', reason: 'Argument 1 of function "sum" must be an array of "numbers"' }]);
  });

  it('stops a runaway expression and rejects only that record', async () => {
    const mapping: Mapping = {
      key: 'id',
      fields: [{ target: 'loop', expression: 'deep ? ($f := function($x){ $f($x + 1) }; $f(0)) : 1', type: 'number', required: true }],
    };
    const result = await applyMapping(compiled(mapping, { timeoutMs: 100 }), [
      { id: 'a', deep: false },
      { id: 'b', deep: true },
      { id: 'c', deep: false },
    ]);
    expect(result.mapped.map((m) => m.key)).toEqual(['a', 'c']);
    expect(result.rejected).toEqual([
      { key: 'b', field: 'loop', reason: 'Evaluation timeout after 100 milliseconds. Check for infinite loop' },
    ]);
  });

  it('gives identical results with and without the fast path on a varied corpus', async () => {
    const records: unknown[] = [];
    const variants: Record<string, unknown>[] = [
      {},
      { netTotal: 1199.995 },
      { netTotal: 0.1 + 0.2 },
      { netTotal: '-0.004' },
      { taxTotal: 'n/a' },
      {
        customer: [
          { id: 'a', name: 'A' },
          { id: 'b', name: 'B' },
        ],
      },
      { customer: null },
      { lines: [[{ account: '1' }], [{ account: '2' }]] },
      { lines: { account: '4000' } },
      { lines: [] },
      { number: 42 },
      { number: null },
      { issuedOn: new Date('2026-03-04T23:30:00Z') },
      { issuedOn: '2026-03-04T23:30:00-05:00' },
      { dueOn: undefined },
      { currency: ['EUR'] },
      { status: 'void' },
      { grossTotal: 1e16 },
    ];
    for (let i = 0; i < 400; i++) records.push(invoice(i, variants[i % variants.length]));
    const fast = await applyMapping(compiled(journal), records);
    const slow = await applyMapping(compiled(journal, { fastPath: false }), records);
    expect(fast).toEqual(slow);
    expect(fast.mapped.length).toBeGreaterThan(100);
    expect(fast.rejected.length).toBeGreaterThan(50);
    expect(fast.filtered).toBeGreaterThan(0);
  });
});

describe('coerce', () => {
  it('makes decimals text with exactly two places, rounding half away from zero without binary error', () => {
    const cases: [unknown, string][] = [
      [1200, '1200.00'],
      ['1200', '1200.00'],
      ['89.9', '89.90'],
      [1.005, '1.01'],
      ['1.005', '1.01'],
      ['-1.005', '-1.01'],
      [0.1 + 0.2, '0.30'],
      ['-0.004', '0.00'],
      [' 007.50 ', '7.50'],
      [1e-7, '0.00'],
      [-0, '0.00'],
    ];
    for (const [input, expected] of cases) expect(coerce(input, 'decimal'), String(input)).toEqual({ ok: true, value: expected });
    expect(coerce('12,50', 'decimal')).toEqual({ ok: false, reason: "expected a decimal amount such as 1200.50, got '12,50'" });
    expect(coerce(1e16, 'decimal').ok).toBe(false);
    expect(coerce({}, 'decimal').ok).toBe(false);
  });

  it('makes dates YYYY-MM-DD from dates, ISO dates and ISO date-times as written', () => {
    expect(coerce('2026-11-02', 'date')).toEqual({ ok: true, value: '2026-11-02' });
    expect(coerce('2026-11-02T23:30:00-05:00', 'date')).toEqual({ ok: true, value: '2026-11-02' });
    expect(coerce(new Date('2026-11-02T23:30:00Z'), 'date')).toEqual({ ok: true, value: '2026-11-02' });
    expect(coerce('2026-13-01', 'date').ok).toBe(false);
    expect(coerce('2026-11-02Tnonsense', 'date').ok).toBe(false);
    expect(coerce('02/11/2026', 'date').ok).toBe(false);
    expect(coerce(20261102, 'date').ok).toBe(false);
  });

  it('converts numbers, integers, booleans and text strictly', () => {
    expect(coerce('42', 'integer')).toEqual({ ok: true, value: 42 });
    expect(coerce(1.5, 'integer')).toEqual({ ok: false, reason: 'expected a whole number, got 1.5' });
    expect(coerce(' 1e3 ', 'number')).toEqual({ ok: true, value: 1000 });
    expect(coerce('abc', 'number')).toEqual({ ok: false, reason: "expected a number, got 'abc'" });
    expect(coerce('TRUE', 'boolean')).toEqual({ ok: true, value: true });
    expect(coerce(1, 'boolean').ok).toBe(false);
    expect(coerce(12.5, 'string')).toEqual({ ok: true, value: '12.5' });
    expect(coerce({ a: 1 }, 'string')).toEqual({ ok: false, reason: 'expected text, got an object' });
    expect(coerce([1, 2], 'string')).toEqual({ ok: false, reason: 'expected text, got a list of 2 values' });
  });
});

describe('previewMapping', () => {
  it('returns every record’s output or all of its errors', async () => {
    const preview = await previewMapping(journal, [
      invoice(1),
      invoice(2, { netTotal: 'x', customer: {} }),
      invoice(3, { status: 'draft' }),
    ]);
    expect(preview.compileErrors).toEqual([]);
    expect(preview.results[0]).toMatchObject({ key: 'INV-00001', filtered: false, errors: [] });
    expect(preview.results[0].output?.grossAmount).toBe('1428.00');
    expect(preview.results[1].output).toBeUndefined();
    expect(preview.results[1].errors.map((e) => e.field)).toEqual(['customerId', 'customerName', 'netAmount']);
    expect(preview.results[2]).toEqual({ key: 'INV-00003', filtered: true, errors: [] });
  });

  it('still previews the valid fields while naming the invalid ones', async () => {
    const mapping: Mapping = {
      fields: [
        { target: 'reference', expression: 'number', type: 'string', required: true },
        { target: 'broken', expression: 'netTotal *', type: 'number', required: true },
      ],
    };
    const preview = await previewMapping(mapping, [invoice(9)]);
    expect(preview.compileErrors).toEqual([{ field: 'broken', position: 10, message: 'Unexpected end of expression' }]);
    expect(preview.results).toEqual([{ key: '#1', filtered: false, output: { reference: 'INV-00009' }, errors: [] }]);
  });

  it('reports structural problems of an unvalidated mapping instead of throwing', async () => {
    const preview = await previewMapping({ fields: [{ target: 'x', expression: '', type: 'string', required: true }] }, [{}]);
    expect(preview.results).toEqual([]);
    expect(preview.compileErrors).toEqual([
      { field: 'x', position: 0, row: 0, message: 'expression is empty: write a JSONata expression, e.g. customer.name' },
    ]);
  });
});

describe('compileStoredMapping', () => {
  it('gives the worker a map function for a valid stored mapping', async () => {
    const map = await compileStoredMapping('accounting-export', JSON.parse(JSON.stringify(journal)));
    const result = (await map([invoice(1)])) as Awaited<ReturnType<typeof applyMapping>>;
    expect(result.mapped).toHaveLength(1);
  });

  it('fails permanently, naming field and position, when the stored mapping does not compile', async () => {
    const broken = { fields: [{ target: 'total', expression: 'netTotal +', type: 'number', required: true }] };
    const error = await compileStoredMapping('accounting-export', broken).catch((e: unknown) => e);
    expect(isPermanentError(error)).toBe(true);
    expect((error as Error).message).toBe(
      "The field mapping of 'accounting-export' does not compile: Field 'total' at position 10: Unexpected end of expression; fix it in the console's mapping editor",
    );
    const malformed = await compileStoredMapping('x', { fields: 'nope' }).catch((e: unknown) => e);
    expect(isPermanentError(malformed)).toBe(true);
  });
});

describe('previewMapping limits', () => {
  it('stops within its time budget when an expression runs away, keeping what it has', async () => {
    const mapping: Mapping = {
      fields: [{ target: 'loop', expression: '($f := function($x){ $f($x + 1) }; $f(0))', type: 'number', required: true }],
    };
    const preview = await previewMapping(
      mapping,
      Array.from({ length: 50 }, (_, i) => ({ id: i })),
      { budgetMs: 60 },
    );
    expect(preview.results.length).toBeGreaterThan(0);
    expect(preview.results.length).toBeLessThan(50);
    expect(preview.results[0].errors).toEqual([
      { field: 'loop', reason: 'Evaluation timeout after 60 milliseconds. Check for infinite loop' },
    ]);
    expect(preview.notice).toMatch(
      new RegExp(`^Preview stopped after ${preview.results.length} of 50 records: the expressions took longer than 60 ms`),
    );
  });

  it('previews at most PREVIEW_LIMIT records and says so', async () => {
    const preview = await previewMapping(
      journal,
      Array.from({ length: 250 }, (_, i) => invoice(i)),
    );
    expect(preview.results).toHaveLength(200);
    expect(preview.notice).toBe('Previewed the first 200 of 250 records');
  });

  it('shortens a huge value to its first characters and says which field was how long', async () => {
    const mapping: Mapping = {
      fields: [
        { target: 'id', expression: 'id', type: 'string', required: true },
        { target: 'padding', expression: '$pad("", 5000000, "x")', type: 'string', required: true },
      ],
    };
    const preview = await previewMapping(mapping, [{ id: 'a' }, { id: 'b' }]);
    // What the editor receives stays small whatever an expression makes (here 2 x 5 MB).
    expect(JSON.stringify(preview).length).toBeLessThan(10_000);
    const padding = preview.results[0].output?.padding as string;
    expect(padding.startsWith('x'.repeat(PREVIEW_VALUE_CHARS))).toBe(true);
    expect(padding.slice(PREVIEW_VALUE_CHARS)).toBe('… (5,000,000 characters)');
    expect(preview.results[0].output?.id).toBe('a');
    expect(preview.notice).toBe(
      `Values longer than ${PREVIEW_VALUE_CHARS} characters are shortened in this preview: padding has 5,000,000; the run sends them whole`,
    );
  });
});
