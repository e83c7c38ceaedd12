import { z } from 'zod';
import { FIELD_TYPES, type Mapping } from './types';

/** The stored mapping's validation: names, lengths and unique targets, with messages for the editor. */

/** A target field name: what the output record's key can be. */
export const TARGET = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const ZMappingField = z
  .object({
    target: z
      .string()
      .regex(TARGET, 'must be a name made of letters, digits and _ (not starting with a digit), e.g. grossAmount')
      .max(100, 'must be at most 100 characters'),
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
  .superRefine((mapping, ctx) => {
    const seen = new Set<string>();
    mapping.fields.forEach((field, index) => {
      if (seen.has(field.target)) {
        ctx.addIssue({
          code: 'custom',
          path: ['fields', index, 'target'],
          message: `'${field.target}' is used by two fields: target names must be unique`,
        });
      }
      seen.add(field.target);
    });
  }) as z.ZodType<Mapping>;
