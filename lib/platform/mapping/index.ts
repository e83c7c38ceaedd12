import type { MapFn, MapperFactory } from '../contract';
import { PermanentError } from '../errors';
import { applyMapping } from './apply';
import { compileMapping, formatCompileErrors, isCompiledMapping } from './compiled';
import { ZMapping } from './schema';

/**
 * Field mapping: an ordered list of target fields, each a JSONata expression over the source
 * record with a type and a required flag, plus an optional filter and a key expression (the record
 * key named in errors). Compiled once per run; a record that fails is reported with its key, the
 * field and the reason and never stops the others. Simple expressions run as plain functions
 * (compile.ts); everything else through JSONata, with a time and depth limit per record.
 *
 * This file is the folder's public surface (and the part of it integrations may import, see
 * eslint.config.mjs): types.ts the shapes (also for client components: no JSONata, no zod),
 * schema.ts validation, targets.ts the targets' problems (also for client components),
 * compiled.ts compiling, apply.ts and coerce.ts evaluation, preview.ts the editor's live preview,
 * diff.ts (imported directly) the editor's change lists, compile.ts the fast path.
 */

export { applyMapping } from './apply';
export { coerce } from './coerce';
export { compileMapping, formatCompileErrors, isCompiledMapping, type CompiledMapping, type CompileOptions } from './compiled';
export { PREVIEW_LIMIT, PREVIEW_VALUE_CHARS, previewMapping, type PreviewResult } from './preview';
export { parseMappingDraft, parseMappingToSave, ZMapping, ZMappingDraft, ZMappingField } from './schema';
export { targetProblems, type TargetProblem } from './targets';
export { FIELD_TYPES, type FieldType, type Mapping, type MappingCompileError, type MappingField, type MapResult } from './types';

/**
 * The worker's MapperFactory: parses and compiles an integration's stored mapping once per attempt.
 * An invalid stored mapping is a PermanentError (retrying cannot fix it) naming field and position.
 */
export const compileStoredMapping: MapperFactory = async (integration, mappingJson): Promise<MapFn> => {
  const parsed = ZMapping.safeParse(mappingJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PermanentError(
      `The field mapping of '${integration}' is invalid (${issue.path.join('.') || 'mapping'}: ${issue.message}); fix it in the console's mapping editor`,
    );
  }
  const compiled = compileMapping(parsed.data);
  if (!isCompiledMapping(compiled)) {
    throw new PermanentError(
      `The field mapping of '${integration}' does not compile: ${formatCompileErrors(compiled.errors)}; fix it in the console's mapping editor`,
    );
  }
  return (records: unknown[]) => applyMapping(compiled, records);
};
