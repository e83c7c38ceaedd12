import { create, type Delta } from 'jsondiffpatch';
import { clip } from '../words';

/**
 * A field-mapping change in sentences a person reads at a glance ("field `description`: expression
 * `a` → `b`", "field `dueDate` added"), for History and Audit, which used to show both whole
 * mappings as JSON cut at 300 characters. The structural diff is jsondiffpatch's: fields are matched
 * by their target name, so an edit of one field is one sentence and a reordering is a move, not a
 * rewrite of every row after it.
 */

interface FieldLike {
  target?: unknown;
  expression?: unknown;
  type?: unknown;
  required?: unknown;
}

interface MappingLike {
  fields?: FieldLike[];
  filter?: unknown;
  key?: unknown;
}

const differ = create({
  // Fields are identified by their target; a field without one falls back to its position.
  objectHash: (item: object, index?: number) => {
    const target = (item as FieldLike).target;
    return typeof target === 'string' && target !== '' ? `target:${target}` : `index:${index ?? ''}`;
  },
  // The plain entry point has no text diffs: an expression change is an old → new pair.
  arrays: { detectMove: true, includeValueOnMove: false },
});

/** Longer expressions are cut so one sentence stays one line's worth. */
function code(value: unknown, max = 120): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `\`${clip(text, max)}\``;
}

function isMapping(value: unknown): value is MappingLike {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    (Array.isArray((value as MappingLike).fields) || 'filter' in value || 'key' in value)
  );
}

function fieldName(field: FieldLike | undefined, position: number): string {
  return typeof field?.target === 'string' && field.target !== '' ? `field \`${field.target}\`` : `field ${position + 1}`;
}

function describeNewField(field: FieldLike): string {
  const parts = [`expression ${code(field.expression ?? '')}`];
  if (typeof field.type === 'string') parts.push(`type ${field.type}`);
  if (field.required === true) parts.push('required');
  return parts.join(', ');
}

/** Sentences for the changes inside one field (a delta object keyed by property). */
function describeFieldEdit(name: string, delta: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [prop, change] of Object.entries(delta)) {
    if (!Array.isArray(change)) continue;
    const [before, after] = change.length === 1 ? [undefined, change[0]] : change.length === 2 ? change : [change[0], undefined];
    if (prop === 'required') out.push(`${name}: ${after === true ? 'now required' : 'no longer required'}`);
    else if (prop === 'expression') out.push(`${name}: expression ${code(before ?? '')} → ${code(after ?? '')}`);
    else if (prop === 'type') out.push(`${name}: type ${String(before ?? '—')} → ${String(after ?? '—')}`);
    else out.push(`${name}: ${prop} ${code(before ?? null)} → ${code(after ?? null)}`);
  }
  return out;
}

function describeFields(delta: Record<string, unknown>, before: FieldLike[], after: FieldLike[]): string[] {
  const removed: string[] = [];
  const moved: string[] = [];
  const added: string[] = [];
  const edited: string[] = [];
  for (const [key, change] of Object.entries(delta)) {
    if (key === '_t') continue;
    if (key.startsWith('_')) {
      const from = Number(key.slice(1));
      const c = change as unknown[];
      if (c[2] === 0) removed.push(`${fieldName(c[0] as FieldLike, from)} removed`);
      else if (c[2] === 3) {
        const to = Number(c[1]);
        moved.push(`${fieldName(before[from], from)} moved from position ${from + 1} to ${to + 1}`);
      }
      continue;
    }
    const index = Number(key);
    if (Array.isArray(change)) {
      if (change.length === 1)
        added.push(`${fieldName(change[0] as FieldLike, index)} added (${describeNewField(change[0] as FieldLike)})`);
      continue;
    }
    edited.push(...describeFieldEdit(fieldName(after[index], index), change as Record<string, unknown>));
  }
  return [...edited, ...added, ...removed, ...moved];
}

function describeExpressionProp(label: string, change: unknown[]): string {
  if (change.length === 1) return change[0] === null || change[0] === '' ? `${label} left empty` : `${label} set to ${code(change[0])}`;
  if (change.length === 3 && change[2] === 0) return `${label} removed (was ${code(change[0])})`;
  const [before, after] = change;
  if (after === null || after === '' || after === undefined) return `${label} removed (was ${code(before)})`;
  if (before === null || before === '' || before === undefined) return `${label} set to ${code(after)}`;
  return `${label}: ${code(before)} → ${code(after)}`;
}

/**
 * What changed from one mapping to the other, one sentence per change: edited fields first (in
 * their new order), then added, removed and moved ones, then the filter and the record key. An
 * empty list means the two are the same. `before` null means the integration used its built-in
 * default mapping: pass that default as `before` when you have it.
 */
export function describeMappingChange(before: unknown, after: unknown): string[] {
  if (!isMapping(after))
    return after === null || after === undefined
      ? ['custom mapping removed: the built-in default applies again']
      : [`mapping set to ${code(after)}`];
  if (!isMapping(before)) {
    const fields = after.fields ?? [];
    return [
      `custom mapping set: ${fields.length} field${fields.length === 1 ? '' : 's'} (${fields.map((f, i) => fieldName(f, i).replace(/^field /, '')).join(', ')})`,
    ];
  }
  const delta = differ.diff(before, after) as Delta | undefined;
  if (!delta || typeof delta !== 'object' || Array.isArray(delta)) return [];
  const out: string[] = [];
  const d = delta as Record<string, unknown>;
  if (d.fields && typeof d.fields === 'object' && !Array.isArray(d.fields))
    out.push(...describeFields(d.fields as Record<string, unknown>, before.fields ?? [], after.fields ?? []));
  else if (Array.isArray(d.fields)) out.push(`fields replaced: ${(after.fields ?? []).length} now`);
  if (Array.isArray(d.filter)) out.push(describeExpressionProp('filter', d.filter));
  if (Array.isArray(d.key)) out.push(describeExpressionProp('record key', d.key));
  return out;
}

export interface RebasedMapping<M> {
  mapping: M;
  /** Fields (or 'filter' / 'record key') both people changed: the draft's value was kept. */
  conflicts: string[];
}

function same(a: unknown, b: unknown): boolean {
  return differ.diff(a, b) === undefined;
}

/**
 * Re-applies a draft made on `base` on top of `theirs` (what someone else saved meanwhile), field
 * by field, matched by target: fields the draft edited, added or removed are edited, added or
 * removed in theirs; every other field is theirs, in their order. Where both changed the same
 * field the draft wins and the field is listed in `conflicts` for the admin to check.
 */
export function rebaseMapping<M extends MappingLike>(base: M, draft: M, theirs: M): RebasedMapping<M> {
  const key = (f: FieldLike) => (typeof f.target === 'string' ? f.target : '');
  const baseFields = new Map((base.fields ?? []).map((f) => [key(f), f]));
  const draftFields = draft.fields ?? [];
  const draftKeys = new Set(draftFields.map(key));
  const conflicts: string[] = [];
  let fields = [...(theirs.fields ?? [])];
  const theirsByKey = () => new Map(fields.map((f) => [key(f), f]));

  // Removed in the draft: removed from theirs too.
  for (const [k, before] of baseFields) {
    if (draftKeys.has(k)) continue;
    const their = theirsByKey().get(k);
    if (their && !same(their, before)) conflicts.push(`field \`${k}\``);
    fields = fields.filter((f) => key(f) !== k);
  }
  // Edited or added in the draft.
  draftFields.forEach((mine, index) => {
    const k = key(mine);
    const before = baseFields.get(k);
    if (before && same(before, mine)) return;
    const their = theirsByKey().get(k);
    if (their && !same(their, before ?? null) && !same(their, mine)) conflicts.push(`field \`${k}\``);
    if (their) fields = fields.map((f) => (key(f) === k ? mine : f));
    else fields.splice(Math.min(index, fields.length), 0, mine);
  });

  const merged = { ...theirs, fields } as unknown as Record<string, unknown>;
  for (const [prop, label] of [
    ['filter', 'filter'],
    ['key', 'record key'],
  ] as const) {
    if (same(draft[prop] ?? null, base[prop] ?? null)) continue;
    if (!same(theirs[prop] ?? null, base[prop] ?? null) && !same(theirs[prop] ?? null, draft[prop] ?? null)) conflicts.push(label);
    merged[prop] = draft[prop];
  }
  return { mapping: merged as M, conflicts };
}
