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

/** A previewed string value longer than this is shortened to it: the editor shows it, a run sends it whole. */
export const PREVIEW_VALUE_CHARS = 1000;

/**
 * The output with each string over PREVIEW_VALUE_CHARS cut to its start and its length: one
 * expression such as `$pad("", 1e8, "x")` would otherwise send hundreds of megabytes to the
 * browser on every keystroke. `long` collects the longest length seen per field.
 */
function shortened(output: Record<string, unknown>, long: Map<string, number>): Record<string, unknown> {
  let copy: Record<string, unknown> | null = null;
  for (const [field, value] of Object.entries(output)) {
    if (typeof value !== 'string' || value.length <= PREVIEW_VALUE_CHARS) continue;
    copy ??= { ...output };
    copy[field] = `${value.slice(0, PREVIEW_VALUE_CHARS)}… (${value.length.toLocaleString('en-US')} characters)`;
    long.set(field, Math.max(long.get(field) ?? 0, value.length));
  }
  return copy ?? output;
}

/** "Values longer than 1000 characters are shortened in this preview: description has 5,000,000; …". */
function longValuesNotice(long: Map<string, number>): string | undefined {
  if (long.size === 0) return undefined;
  const fields = [...long].map(([field, length]) => `${field} has ${length.toLocaleString('en-US')}`).join(', ');
  return `Values longer than ${PREVIEW_VALUE_CHARS} characters are shortened in this preview: ${fields}; the run sends them whole`;
}

/** The notices that apply, as one sentence each. */
function joined(...notices: (string | undefined)[]): string | undefined {
  const present = notices.filter((n): n is string => Boolean(n));
  return present.length ? present.join('. ') : undefined;
}

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
        const rows = issue.code === 'custom' ? (issue.params as { rows?: number[] } | undefined)?.rows : undefined;
        if (rows) {
          // Its message names the rows already: a blank target is named by its row number.
          const target = mapping.fields?.[rows[0]]?.target ?? '';
          const field = target.trim() ? target : `#${rows[0] + 1}`;
          return { field, position: 0, message: issue.message, rows };
        }
        const target =
          issue.path[0] === 'fields' && typeof index === 'number'
            ? (mapping.fields?.[index]?.target ?? `#${index + 1}`)
            : String(issue.path[0] ?? 'mapping');
        return {
          field: String(target),
          position: 0,
          message: `${prop ? `${String(prop)} ` : ''}${issue.message}`,
          ...(typeof index === 'number' ? { row: index } : {}),
          ...(prop && prop !== 'expression' ? { prop: String(prop) } : {}),
        };
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
  const long = new Map<string, number>();
  const records = sampleRecords.slice(0, PREVIEW_LIMIT);
  const started = performance.now();
  for (let i = 0; i < records.length; i++) {
    if (i > 0 && performance.now() - started > budgetMs) {
      return {
        compileErrors,
        results,
        notice: joined(
          `Preview stopped after ${i} of ${records.length} records: the expressions took longer than ${budgetMs} ms; simplify them or preview fewer records`,
          longValuesNotice(long),
        ),
      };
    }
    const outcome = await mapRecord(compiled, records[i], i, true, { at: started + budgetMs, budgetMs });
    results.push({
      key: outcome.key,
      filtered: outcome.filtered,
      ...(outcome.value ? { output: shortened(outcome.value, long) } : {}),
      errors: outcome.errors,
    });
    if (outcome.stoppedAt !== undefined) {
      return {
        compileErrors,
        results,
        notice: joined(
          `Preview stopped in record ${i + 1} of ${records.length} at field '${outcome.stoppedAt}': the expressions took longer than ${budgetMs} ms; simplify them or preview fewer records`,
          longValuesNotice(long),
        ),
      };
    }
  }
  const notice = joined(
    sampleRecords.length > PREVIEW_LIMIT ? `Previewed the first ${PREVIEW_LIMIT} of ${sampleRecords.length} records` : undefined,
    longValuesNotice(long),
  );
  return notice ? { compileErrors, results, notice } : { compileErrors, results };
}
