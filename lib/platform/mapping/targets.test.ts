import { describe, expect, it } from 'vitest';
import { parseMappingToSave, previewMapping, targetProblems, ZMapping, type Mapping } from './';

const field = (target: string, expression = 'number') => ({ target, expression, type: 'string' as const, required: false });

describe('targetProblems', () => {
  it('names the rows (1-based) of a target written twice and of a row without a target, in row order', () => {
    expect(targetProblems([field('reference'), field('amount'), field(''), field('date'), field('amount'), field('  ')])).toEqual([
      { rows: [1, 4], message: "Target 'amount' is used by rows 2 and 5: each target field can be written once" },
      { rows: [2], message: 'Row 3 has no target field: name it or remove the row' },
      { rows: [5], message: 'Row 6 has no target field: name it or remove the row' },
    ]);
    expect(targetProblems([field('a'), field('a'), field('a')])[0].message).toBe(
      "Target 'a' is used by rows 1, 2 and 3: each target field can be written once",
    );
    expect(targetProblems([field('reference'), field('Reference')])).toEqual([]);
  });

  it('keeps a message short for a long target written by many rows, and skips entries of the wrong shape', () => {
    const [problem] = targetProblems(Array.from({ length: 200 }, () => field('x'.repeat(200))));
    expect(problem.rows).toHaveLength(200);
    expect(problem.message).toBe(
      `Target '${'x'.repeat(100)}…' is used by rows 1, 2, 3, 4, 5 and 195 more: each target field can be written once`,
    );
    expect(targetProblems([null, 1, { target: 3 }, {}, field('ok')])).toEqual([]);
  });
});

describe('a mapping with a target written twice or a row without a target', () => {
  const mapping = { fields: [field('reference'), field('amount'), field(''), field('date'), field('amount')] } as Mapping;
  const sentences = targetProblems(mapping.fields).map((p) => p.message);

  it('previews no record, and says why in the same sentences as the editor, with the rows', async () => {
    const preview = await previewMapping(mapping, [{ number: 'INV-1' }]);
    expect(preview.results).toEqual([]);
    expect(preview.compileErrors).toEqual([
      { field: 'amount', position: 0, message: sentences[0], rows: [1, 4] },
      { field: '#3', position: 0, message: sentences[1], rows: [2] },
    ]);
  });

  it('is refused by ZMapping (the config service) and by the save, in the same sentences', () => {
    const parsed = ZMapping.safeParse(mapping);
    expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['fields.4.target', sentences[0]],
      ['fields.2.target', sentences[1]],
    ]);
    expect(parseMappingToSave(mapping)).toEqual({
      ok: false,
      message: `Not saved: ${sentences[0]} (and 1 more)`,
      fieldErrors: {
        'mapping.fields.1.target': sentences[0],
        'mapping.fields.4.target': sentences[0],
        'mapping.fields.2.target': sentences[1],
      },
    });
    expect(parseMappingToSave({ fields: [field('reference')] })).toMatchObject({ ok: true });
  });
});
