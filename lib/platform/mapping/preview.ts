import { mapRecord } from './apply';
import { compileMapping, isCompiledMapping, type CompiledMapping, type CompileOptions } from './compiled';
import { ZMapping } from './schema';
import type { Mapping, MappingCompileError } from './types';

export interface PreviewResult {
  /** Invalid expressions (field, position, message) and invalid mapping structure (position 0). */
  compileErrors: MappingCompileError[];
  results: { key: string; filtered: boolean; output?: Record<string, unknown>; errors: { field: string; reason: string }[] }[];
  /** Set when the preview stopped before the last sample (time budget or PREVIEW_LIMIT), saying why. */
  notice?: string;
}

/** At most this many sample records are previewed. */
export const PREVIEW_LIMIT = 200;

/**
 * For the live editor: every record's output or all its errors. Fields whose expression does not
 * compile are reported in compileErrors and left out of the outputs, so the rest still previews.
 */
export async function previewMapping(
  mapping: Mapping,
  sampleRecords: unknown[],
  options: { budgetMs?: number } = {},
): Promise<PreviewResult> {
  // A live editor calls this on every keystroke: a runaway expression must not hold the server.
  const budgetMs = options.budgetMs ?? 3000;
  const compileOptions: CompileOptions = { timeoutMs: Math.min(250, budgetMs) };
  const parsed = ZMapping.safeParse(mapping);
  if (!parsed.success) {
    return {
      compileErrors: parsed.error.issues.map((issue) => {
        const [, index, prop] = issue.path;
        const target =
          issue.path[0] === 'fields' && typeof index === 'number'
            ? (mapping.fields?.[index]?.target ?? `#${index + 1}`)
            : String(issue.path[0] ?? 'mapping');
        return { field: String(target), position: 0, message: `${prop ? `${String(prop)} ` : ''}${issue.message}` };
      }),
      results: [],
    };
  }
  const first = compileMapping(parsed.data, compileOptions);
  let compiled: CompiledMapping;
  let compileErrors: MappingCompileError[] = [];
  if (isCompiledMapping(first)) {
    compiled = first;
  } else {
    compileErrors = first.errors;
    const bad = new Set(compileErrors.map((e) => e.field));
    const partial = compileMapping(
      {
        fields: parsed.data.fields.filter((f) => !bad.has(f.target)),
        filter: bad.has('filter') ? null : parsed.data.filter,
        key: bad.has('key') ? undefined : parsed.data.key,
      },
      compileOptions,
    );
    if (!isCompiledMapping(partial)) return { compileErrors, results: [] };
    compiled = partial;
  }
  const results: PreviewResult['results'] = [];
  const records = sampleRecords.slice(0, PREVIEW_LIMIT);
  const started = performance.now();
  for (let i = 0; i < records.length; i++) {
    if (i > 0 && performance.now() - started > budgetMs) {
      return {
        compileErrors,
        results,
        notice: `Preview stopped after ${i} of ${records.length} records: the expressions took longer than ${budgetMs} ms; simplify them or preview fewer records`,
      };
    }
    const outcome = await mapRecord(compiled, records[i], i, true);
    results.push({
      key: outcome.key,
      filtered: outcome.filtered,
      ...(outcome.value ? { output: outcome.value } : {}),
      errors: outcome.errors,
    });
  }
  if (sampleRecords.length > PREVIEW_LIMIT) {
    return { compileErrors, results, notice: `Previewed the first ${PREVIEW_LIMIT} of ${sampleRecords.length} records` };
  }
  return { compileErrors, results };
}
