import { z } from 'zod';
import { targetProblems } from './targets';
import { FIELD_TYPES, type Mapping } from './types';

/** The stored mapping's validation: names, lengths and unique targets, with messages for the editor. */

/** A target field name: what the output record's key can be. */
export const TARGET = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const ZMappingField = z
  .object({
    target: z
      .string()
      // A blank target is the mapping's to name, with its row ("Row 3 has no target field…", targets.ts).
      .refine(
        (target) => target.trim() === '' || TARGET.test(target),
        'must be a name made of letters, digits and _ (not starting with a digit), e.g. grossAmount',
      )
      .max(100, 'must be at most 100 characters')
      // A JavaScript object's prototype slot: as an output field it would vanish from every record.
      .refine((target) => target !== '__proto__', "'__proto__' is reserved: choose another name, e.g. proto"),
    expression: z
      .string()
      .trim()
      .min(1, 'is empty: write a JSONata expression, e.g. customer.name')
      .max(2000, 'must be at most 2000 characters'),
    type: z.enum(FIELD_TYPES, { message: `must be one of ${FIELD_TYPES.join(', ')}` }),
    required: z.boolean({ message: 'must be true or false' }),
  })
  .strict();

export const ZMapping: z.ZodType<Mapping> = z
  .object({
    fields: z.array(ZMappingField).min(1, 'needs at least one field').max(200, 'may have at most 200 fields'),
    filter: z.string().max(2000, 'must be at most 2000 characters').nullish(),
    key: z.string().trim().min(1, 'is empty: use an expression such as id or number').max(500).optional(),
  })
  .strict()
  .superRefine(
    (mapping, ctx) => {
      // The editor says the same sentences as the admin types (targets.ts); `rows` lets the preview
      // tell these apart from one field's problem.
      for (const problem of targetProblems(mapping.fields)) {
        ctx.addIssue({
          code: 'custom',
          path: ['fields', problem.rows.at(-1)!, 'target'],
          message: problem.message,
          params: { rows: problem.rows },
        });
      }
    },
    // Also beside another field's problem (a type not in the list stops the others): every
    // problem at once, as the editor shows them.
    { when: (payload) => Array.isArray((payload.value as { fields?: unknown } | null)?.fields) },
  ) as z.ZodType<Mapping>;

/**
 * What the editor may send to be previewed or saved: only the sizes, so that an oversized or
 * careless draft is refused with a sentence naming the limit, before anything is compiled. Within
 * these, ZMapping (in previewMapping and the config service) gives each field's problem inline.
 * Expressions may be up to twice ZMapping's limit so that one a little too long is still marked on
 * its own field rather than refusing the whole draft.
 */
export const ZMappingDraft = z.object(
  {
    fields: z
      .array(
        z.object(
          {
            target: z.string({ message: 'must be text' }).max(200, 'must be at most 100 characters'),
            expression: z.string({ message: 'must be text' }).max(4000, 'must be at most 2000 characters'),
            type: z.string({ message: 'must be text' }).max(20, `must be one of ${FIELD_TYPES.join(', ')}`),
            required: z.boolean({ message: 'must be true or false' }),
          },
          { message: 'must be a field with target, expression, type and required' },
        ),
        { message: 'must be a list of fields' },
      )
      .max(200, 'may have at most 200 fields: remove some, or split the integration'),
    filter: z.string({ message: 'must be text' }).max(4000, 'must be at most 2000 characters').nullish(),
    key: z.string({ message: 'must be text' }).max(1000, 'must be at most 500 characters').optional(),
  },
  { message: 'must be a mapping with fields' },
);

/**
 * A draft from the editor, or the sentence that says why it is refused ("Not previewed:
 * mapping.fields may have at most 200 fields…", naming the field's target where there is one).
 */
export function parseMappingDraft(
  raw: unknown,
  verb: string,
): { ok: true; mapping: Mapping } | { ok: false; message: string; fieldErrors: Record<string, string> } {
  const parsed = ZMappingDraft.safeParse(raw);
  if (parsed.success) return { ok: true, mapping: parsed.data as Mapping };
  const fieldErrors: Record<string, string> = {};
  // The first few: a draft of thousands of broken fields would otherwise answer with thousands of messages.
  for (const issue of parsed.error.issues.slice(0, 20)) {
    const [first, index, prop] = issue.path;
    const target = first === 'fields' && typeof index === 'number' ? (raw as Mapping | null)?.fields?.[index]?.target : undefined;
    const where =
      first === 'fields' && typeof index === 'number'
        ? `field ${typeof target === 'string' && target.length <= 100 ? `'${target}'` : `#${index + 1}`}${prop ? ` ${String(prop)}` : ''}`
        : `mapping${issue.path.length ? `.${issue.path.join('.')}` : ''}`;
    fieldErrors[['mapping', ...issue.path].join('.')] ??= `${where} ${issue.message}`;
  }
  const messages = Object.values(fieldErrors);
  const others = parsed.error.issues.length - 1;
  const more = others > 0 ? ` (and ${others} more)` : '';
  return { ok: false, message: `${verb}: ${messages[0]}${more}`, fieldErrors };
}

/**
 * A draft to save: parseMappingDraft, then refused while a row has no target or shares its target
 * with another, in the sentences the editor shows (targets.ts), not behind a field path. ZMapping
 * refuses the same in the config service, for every other way in.
 */
export function parseMappingToSave(
  raw: unknown,
): { ok: true; mapping: Mapping } | { ok: false; message: string; fieldErrors: Record<string, string> } {
  const draft = parseMappingDraft(raw, 'Not saved');
  if (!draft.ok) return draft;
  const problems = targetProblems(draft.mapping.fields);
  if (problems.length === 0) return draft;
  const fieldErrors: Record<string, string> = {};
  for (const problem of problems) {
    for (const row of problem.rows) fieldErrors[`mapping.fields.${row}.target`] ??= problem.message;
  }
  // The first, as parseMappingDraft does: the editor lists them all.
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return { ok: false, message: `Not saved: ${problems[0].message}${more}`, fieldErrors };
}
