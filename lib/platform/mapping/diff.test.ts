import { describe, expect, it } from 'vitest';
import { describeMappingChange, rebaseMapping } from './diff';

const field = (target: string, expression: string, type = 'string', required = false) => ({ target, expression, type, required });
const base = {
  fields: [
    field('entryNumber', 'number', 'string', true),
    field('description', "'Invoice ' & number"),
    field('amount', 'total', 'decimal', true),
  ],
  filter: "status = 'posted'",
};

describe('describeMappingChange', () => {
  it('names the field whose expression changed, old → new, and nothing else', () => {
    const after = { ...base, fields: base.fields.map((f) => (f.target === 'description' ? { ...f, expression: "'Inv. ' & number" } : f)) };
    expect(describeMappingChange(base, after)).toEqual(["field `description`: expression `'Invoice ' & number` → `'Inv. ' & number`"]);
  });

  it('says which field was added with its expression, type and required flag', () => {
    const after = { ...base, fields: [...base.fields, field('dueDate', 'due_date', 'date', true)] };
    expect(describeMappingChange(base, after)).toEqual(['field `dueDate` added (expression `due_date`, type date, required)']);
  });

  it('reads a removal, a type change and a required flag in the same edit', () => {
    const after = {
      ...base,
      fields: [
        { ...base.fields[0], required: false },
        { ...base.fields[2], type: 'number' },
      ],
    };
    expect(describeMappingChange(base, after).sort()).toEqual(
      ['field `amount`: type decimal → number', 'field `description` removed', 'field `entryNumber`: no longer required'].sort(),
    );
  });

  it('reports a reordering as one move, not as every field rewritten', () => {
    const after = { ...base, fields: [base.fields[2], base.fields[0], base.fields[1]] };
    expect(describeMappingChange(base, after)).toEqual(['field `amount` moved from position 3 to 1']);
  });

  it('describes filter changes in words', () => {
    expect(describeMappingChange(base, { ...base, filter: "status = 'booked'" })).toEqual([
      "filter: `status = 'posted'` → `status = 'booked'`",
    ]);
    expect(describeMappingChange(base, { ...base, filter: null })).toEqual(["filter removed (was `status = 'posted'`)"]);
    expect(describeMappingChange({ fields: base.fields }, base)).toEqual(["filter set to `status = 'posted'`"]);
  });

  it('returns nothing for equal mappings, whatever the key order', () => {
    const reordered = {
      filter: base.filter,
      fields: base.fields.map((f) => ({ required: f.required, type: f.type, expression: f.expression, target: f.target })),
    };
    expect(describeMappingChange(base, reordered)).toEqual([]);
  });

  it('summarises the first custom mapping and its removal', () => {
    expect(describeMappingChange(null, base)).toEqual(['custom mapping set: 3 fields (`entryNumber`, `description`, `amount`)']);
    expect(describeMappingChange(base, null)).toEqual(['custom mapping removed: the built-in default applies again']);
  });

  it('cuts a huge expression so a sentence stays readable', () => {
    const long = `'${'x'.repeat(5000)}'`;
    const [sentence] = describeMappingChange(base, {
      ...base,
      fields: base.fields.map((f, i) => (i === 1 ? { ...f, expression: long } : f)),
    });
    expect(sentence.length).toBeLessThan(300);
    expect(sentence).toContain('…');
  });
});

describe('rebaseMapping', () => {
  it('re-applies the draft on top of what someone else saved meanwhile, keeping both changes', () => {
    const theirs = { ...base, fields: [...base.fields, field('dueDate', 'due_date', 'date')] };
    const draft = { ...base, fields: base.fields.map((f) => (f.target === 'description' ? { ...f, expression: "'Inv. ' & number" } : f)) };
    const { mapping, conflicts } = rebaseMapping(base, draft, theirs);
    expect(conflicts).toEqual([]);
    expect(describeMappingChange(theirs, mapping)).toEqual(["field `description`: expression `'Invoice ' & number` → `'Inv. ' & number`"]);
    expect(describeMappingChange(draft, mapping)).toEqual(['field `dueDate` added (expression `due_date`, type date)']);
  });

  it('removes what the draft removed and adds what it added, in theirs', () => {
    const theirs = { ...base, filter: "status = 'booked'" };
    const draft = { ...base, fields: [base.fields[0], base.fields[2], field('memo', 'memo')] };
    const { mapping, conflicts } = rebaseMapping(base, draft, theirs);
    expect(conflicts).toEqual([]);
    expect(mapping.filter).toBe("status = 'booked'");
    expect(mapping.fields.map((f) => f.target)).toEqual(['entryNumber', 'amount', 'memo']);
  });

  it('keeps the draft where both changed the same field, and names the field', () => {
    const theirs = { ...base, fields: base.fields.map((f) => (f.target === 'amount' ? { ...f, expression: 'net_total' } : f)) };
    const draft = { ...base, fields: base.fields.map((f) => (f.target === 'amount' ? { ...f, expression: 'gross_total' } : f)) };
    const { mapping, conflicts } = rebaseMapping(base, draft, theirs);
    expect(conflicts).toEqual(['field `amount`']);
    expect(mapping.fields.find((f) => f.target === 'amount')?.expression).toBe('gross_total');
  });
});
