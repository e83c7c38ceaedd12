/**
 * The mapping's data shapes and field types: plain types and one constant, no JSONata and no zod,
 * so client components (the mapping editor) can import them without pulling either into the
 * browser bundle.
 */

export type FieldType = 'string' | 'number' | 'integer' | 'boolean' | 'date' | 'decimal';
export const FIELD_TYPES = ['string', 'number', 'integer', 'boolean', 'date', 'decimal'] as const satisfies readonly FieldType[];

export interface MappingField {
  target: string;
  expression: string;
  type: FieldType;
  required: boolean;
}

export interface Mapping {
  fields: MappingField[];
  /** Records for which this is falsy (JSONata's $boolean) are skipped and counted as filtered. */
  filter?: string | null;
  /** Expression giving the record key used in errors; default 'id'. */
  key?: string;
}

export interface MappingCompileError {
  /** The field's target name, or 'filter' / 'key'. */
  field: string;
  /** Character offset JSONata reports for the error (end of the offending token). */
  position: number;
  message: string;
  /**
   * Set for a problem of the targets as a whole (targets.ts: a row without one, a target two rows
   * write): the rows it is about, 0-based. The editor finds these itself as the admin types.
   */
  rows?: number[];
  /**
   * The property of the field the schema refused ('target', 'type', 'required'; absent for an
   * expression or a problem of the whole field): the editor marks that control, not the expression.
   */
  prop?: string;
  /** The row of a field the schema refused, 0-based: its target may be blank, odd or shared. */
  row?: number;
}

export interface MapResult {
  /** `index`: the record's position in the input, so a caller can attach what the mapping does not produce (e.g. an idempotency identity). */
  mapped: { key: string; value: Record<string, unknown>; index: number }[];
  rejected: { key: string; field: string; reason: string }[];
  filtered: number;
}
