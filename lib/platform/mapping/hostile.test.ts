import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import jsonata from 'jsonata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyMapping,
  compileMapping,
  formatCompileErrors,
  isCompiledMapping,
  parseMappingDraft,
  previewMapping,
  ZMapping,
  type CompiledMapping,
  type Mapping,
} from './';

/**
 * Hostile and careless expressions: each ends with a per-field error within its limits, and the
 * process keeps answering other requests while it runs (the preview runs in the web process, a
 * run in the worker).
 */

const RECURSION = '($f := function($x){ $f($x) }; $f(1))';

let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((_req, res) => res.end('pong'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Which finished first: the work, or an HTTP request to this process sent when the work started. */
async function firstToFinish(work: Promise<unknown>): Promise<string[]> {
  const order: string[] = [];
  const done = work.then(() => order.push('work'));
  const answered = fetch(url)
    .then((res) => res.text())
    .then(() => order.push('request'));
  await Promise.all([done, answered]);
  return order;
}

function compiled(mapping: Mapping, options?: Parameters<typeof compileMapping>[1]): CompiledMapping {
  const result = compileMapping(mapping, options);
  if (!isCompiledMapping(result)) throw new Error(formatCompileErrors(result.errors));
  return result;
}

function oneField(expression: string, type: Mapping['fields'][number]['type'] = 'string'): Mapping {
  return { fields: [{ target: 'v', expression, type, required: false }] };
}

describe('a runaway expression does not hold the process', () => {
  it('answers another request while the preview runs endless recursion', async () => {
    const order = await firstToFinish(previewMapping(oneField(RECURSION), [{ id: 1 }, { id: 2 }]));
    expect(order).toEqual(['request', 'work']);
  });

  it('answers another request while a run maps records through endless recursion', async () => {
    const mapping = compiled(oneField(RECURSION), { timeoutMs: 200 });
    const order = await firstToFinish(applyMapping(mapping, [{ id: 1 }, { id: 2 }]));
    expect(order).toEqual(['request', 'work']);
  });

  it('keeps to the preview budget when many fields of one record run away', async () => {
    const mapping: Mapping = {
      fields: Array.from({ length: 40 }, (_, i) => ({ target: `f${i}`, expression: RECURSION, type: 'string' as const, required: false })),
    };
    const preview = await previewMapping(mapping, [{ id: 1 }], { budgetMs: 300 });
    const evaluated = preview.results[0].errors.filter((e) => /timeout/i.test(e.reason));
    expect(evaluated.length).toBeGreaterThan(0);
    expect(evaluated.length).toBeLessThan(40);
    expect(preview.results[0].errors.at(-1)).toEqual({
      field: `f${evaluated.length}`,
      reason: 'not evaluated: the preview ran out of its 300 ms before this field',
    });
    expect(preview.notice).toMatch(/^Preview stopped in record 1 of 1 at field 'f\d+': the expressions took longer than 300 ms/);
  });
});

describe('expressions that would allocate without bound', () => {
  it('refuses a list longer than 100,000 values with a per-field error', async () => {
    for (const expression of ['$count([1..9999999])', '$string([1..5000000])', '$count([1..200000].($ * 2))']) {
      const preview = await previewMapping(oneField(expression), [{ id: 1 }]);
      expect(preview.results[0].errors).toEqual([
        { field: 'v', reason: expect.stringMatching(/^a list grew past 100,000 values/) as unknown as string },
      ]);
    }
  });

  it('still maps a list of ordinary length', async () => {
    const preview = await previewMapping(oneField('$count([1..50000])', 'integer'), [{ id: 1 }]);
    expect(preview.results[0]).toMatchObject({ output: { v: 50000 }, errors: [] });
  });
});

describe('regular expressions', () => {
  const record = { id: 1, x: `${'a'.repeat(5000)}!` };

  it('runs a catastrophic-backtracking pattern in linear time, in the preview and in a run', async () => {
    for (const expression of [
      '$match(x, /(a+)+$/)',
      '$replace(x, /(a|aa)+$/, "")',
      '$contains(x, /(a*)*b/)',
      '$count($split(x, /(a+)+!/))',
    ]) {
      const preview = await previewMapping(oneField(expression), [record]);
      expect(preview.results[0].errors, expression).toEqual([]);
      const run = await applyMapping(compiled(oneField(expression)), [record]);
      expect(run.rejected, expression).toEqual([]);
    }
    const matched = await previewMapping(oneField('$match(x, /(a+)+!/).match'), [{ id: 1, x: 'baaa!' }]);
    expect(matched.results[0].output).toEqual({ v: 'aaa!' });
  });

  it('refuses a pattern that cannot run in linear time with an inline error saying what to change', async () => {
    const preview = await previewMapping(
      {
        fields: [
          { target: 'v', expression: '$match(x, /(a)\\1/)', type: 'string', required: false },
          ...oneField('id').fields.map((f) => ({ ...f, target: 'id' })),
        ],
      },
      [record],
    );
    expect(preview.compileErrors).toEqual([
      {
        field: 'v',
        position: 17,
        message:
          'the regular expression /(a)\\1/ cannot run in linear time: back-references and look-arounds are not supported in mappings; rewrite it without them',
      },
    ]);
    expect(preview.results[0]).toMatchObject({ output: { id: '1' }, errors: [] });
  });
});

describe('oversized and careless drafts from the editor', () => {
  const field = (target: string, expression = 'id') => ({ target, expression, type: 'string', required: false });

  it('refuses thousands of fields, a megabyte expression and wrong shapes with a sentence naming the limit', () => {
    const many = parseMappingDraft({ fields: Array.from({ length: 3000 }, (_, i) => field(`f${i}`)) }, 'Not previewed');
    expect(many).toMatchObject({
      ok: false,
      message: 'Not previewed: mapping.fields may have at most 200 fields: remove some, or split the integration',
    });
    const huge = parseMappingDraft({ fields: [field('total', 'x'.repeat(1_000_000))] }, 'Not saved');
    expect(huge).toEqual({
      ok: false,
      message: "Not saved: field 'total' expression must be at most 2000 characters",
      fieldErrors: { 'mapping.fields.0.expression': "field 'total' expression must be at most 2000 characters" },
    });
    expect(parseMappingDraft({ fields: [field('a'), { target: 'b' }] }, 'Not saved')).toMatchObject({
      ok: false,
      message: "Not saved: field 'b' expression must be text (and 2 more)",
    });
    expect(parseMappingDraft('fields', 'Not saved')).toMatchObject({
      ok: false,
      message: 'Not saved: mapping must be a mapping with fields',
    });
  });

  it('lets odd names, duplicates and unknown types through to ZMapping, which names each field inline in the preview', async () => {
    const draft = parseMappingDraft(
      {
        fields: [field('ok'), field('ok'), field('bad name'), field('<script>'), { ...field('t'), type: 'money' }],
      },
      'Not previewed',
    );
    if (!draft.ok) throw new Error(draft.message);
    const preview = await previewMapping(draft.mapping, [{ id: 1 }]);
    expect(preview.results).toEqual([]);
    expect(preview.compileErrors.map((e) => `${e.field}: ${e.message}`)).toEqual([
      'bad name: target must be a name made of letters, digits and _ (not starting with a digit), e.g. grossAmount',
      '<script>: target must be a name made of letters, digits and _ (not starting with a digit), e.g. grossAmount',
      't: type must be one of string, number, integer, boolean, date, decimal',
      // Beside the others, not once they are fixed: the editor shows every problem at once.
      "ok: Target 'ok' is used by rows 1 and 2: each target field can be written once",
    ]);
    const duplicates = await previewMapping({ fields: [field('ok'), field('ok')] } as Mapping, [{ id: 1 }]);
    expect(duplicates.compileErrors).toEqual([
      { field: 'ok', position: 0, message: "Target 'ok' is used by rows 1 and 2: each target field can be written once", rows: [0, 1] },
    ]);
  });
});

describe('a regular expression that needs backtracking', () => {
  it('is a compile error naming the field and the position, so the editor marks it and a save is refused', () => {
    const result = compileMapping({
      fields: [
        { target: 'ok', expression: '$match(x, /a+/).match', type: 'string', required: false },
        { target: 'twice', expression: '$replace(x, /(ab)\\1/, "")', type: 'string', required: false },
      ],
    });
    expect(isCompiledMapping(result)).toBe(false);
    expect(isCompiledMapping(result) ? [] : result.errors).toEqual([
      {
        field: 'twice',
        position: 20,
        message:
          'the regular expression /(ab)\\1/ cannot run in linear time: back-references and look-arounds are not supported in mappings; rewrite it without them',
      },
    ]);
  });
});

describe('values that are not JSON', () => {
  it('rejects a function, a list, an object, Infinity and a missing value per field in the preview and in a run, never storing them', async () => {
    const cases: [string, string][] = [
      ['function($x){ $x }', 'expected a number, got a function (call it, e.g. $sum(lines.amount))'],
      ['$sum', 'expected a number, got a function (call it, e.g. $sum(lines.amount))'],
      ['{"f": function(){ 1 }}', 'expected a number, got an object'],
      ['[1, 2]', 'expected a number, got a list of 2 values'],
      ['1 / 0', 'expected a number, got Infinity'],
      ['$power(10, 400)', expect.stringContaining('cannot be represented as a JSON number') as unknown as string],
      ['nothing', 'required value is missing (nothing gave no value)'],
    ];
    for (const [expression, reason] of cases) {
      const mapping: Mapping = { fields: [{ target: 'v', expression, type: 'number', required: true }] };
      const preview = await previewMapping(mapping, [{ id: 1 }]);
      expect(preview.results[0].errors, expression).toEqual([{ field: 'v', reason }]);
      expect(preview.results[0].output, expression).toBeUndefined();
      const run = await applyMapping(compiled(mapping), [{ id: 1 }, { id: 2 }]);
      expect(run.mapped, expression).toEqual([]);
      expect(run.rejected, expression).toEqual([
        { key: '1', field: 'v', reason },
        { key: '2', field: 'v', reason },
      ]);
    }
  });
});

describe('$pad', () => {
  it('refuses a width over 10,000,000 per field instead of building half a gigabyte', async () => {
    const preview = await previewMapping(oneField('$pad("", 500000000, "x")'), [{ id: 1 }]);
    expect(preview.results[0].errors).toEqual([
      { field: 'v', reason: '$pad to 500,000,000 characters is wider than a mapping may pad (at most 10,000,000)' },
    ]);
  });

  it('pads exactly as JSONata does', async () => {
    const cases = [
      '$pad(s, 8)',
      '$pad(s, -8, "#")',
      '$pad(s, 9, "ab")',
      '$pad(s, 7, "😀x")',
      '$pad(s, 2)',
      '$pad(nothing, 5)',
      '$pad(s, 6.9, "-")',
    ];
    for (const expression of cases) {
      const expected = await jsonata(expression).evaluate({ s: 'é😀z' });
      const preview = await previewMapping(oneField(expression), [{ s: 'é😀z' }]);
      expect(preview.results[0].output?.v ?? undefined, expression).toBe(expected);
    }
  });
});

describe('a target named __proto__', () => {
  it('is refused by the schema, and one saved before is mapped as an own field, not dropped', async () => {
    const parsed = parseMappingDraft({ fields: [{ target: '__proto__', expression: 'id', type: 'string', required: true }] }, 'Not saved');
    expect(parsed).toMatchObject({ ok: true });
    expect(ZMapping.safeParse(parsed.ok ? parsed.mapping : null).error?.issues.map((i) => i.message)).toEqual([
      "'__proto__' is reserved: choose another name, e.g. proto",
    ]);
    const mapping = { fields: [{ target: '__proto__', expression: 'id', type: 'string' as const, required: true }] };
    // The fast path (an object literal) and JSONata's (field by field) both keep it.
    for (const expression of ['id', '($f := function($x) { $x }; $f(id))']) {
      const { mapped } = await applyMapping(compiled({ fields: [{ ...mapping.fields[0], expression }] }), [{ id: 'INV-1' }]);
      expect(Object.keys(mapped[0].value), expression).toEqual(['__proto__']);
      expect(JSON.stringify(mapped[0].value), expression).toBe('{"__proto__":"INV-1"}');
    }
  });
});

describe('a field the schema refuses, in the preview', () => {
  it('names its row and the refused property, so the editor marks that control', async () => {
    const preview = await previewMapping(
      {
        fields: [
          { target: ' reference', expression: 'number', type: 'string', required: true },
          { target: 'total', expression: 'grossTotal', type: 'string', required: false },
        ],
      },
      [{ number: 'INV-1', grossTotal: '10.00' }],
    );
    expect(preview.results).toEqual([]);
    expect(preview.compileErrors).toEqual([
      {
        field: ' reference',
        position: 0,
        row: 0,
        prop: 'target',
        message: 'target must be a name made of letters, digits and _ (not starting with a digit), e.g. grossAmount',
      },
    ]);
  });
});
