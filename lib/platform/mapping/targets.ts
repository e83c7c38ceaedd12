/**
 * The mapping's target fields as a whole: each row needs one, and each target can be written by one
 * row only. Plain TypeScript (no zod, no JSONata): the editor runs it on every keystroke to explain
 * an empty preview and mark the rows, and ZMapping (schema.ts) runs it for the preview and the save,
 * so the browser and the server say the same sentence.
 */

export interface TargetProblem {
  /** The rows it is about, 0-based and ascending (shown 1-based, as the editor numbers them). */
  rows: number[];
  /** The sentence for the admin: which rows, what is wrong, what to do. */
  message: string;
}

/** A target longer than this is cut in a message: the message never repeats a huge input back. */
const SHOWN_TARGET_CHARS = 100;
/** Rows named in one message; more are counted ("rows 1, 2, 3, 4, 5 and 7 more"). */
const SHOWN_ROWS = 6;

function rowList(rows: number[]): string {
  const shown = rows.map((row) => String(row + 1));
  if (shown.length > SHOWN_ROWS) return `${shown.slice(0, SHOWN_ROWS - 1).join(', ')} and ${shown.length - SHOWN_ROWS + 1} more`;
  return shown.length === 1 ? shown[0] : `${shown.slice(0, -1).join(', ')} and ${shown.at(-1)}`;
}

function shownTarget(target: string): string {
  return target.length > SHOWN_TARGET_CHARS ? `${target.slice(0, SHOWN_TARGET_CHARS)}…` : target;
}

/**
 * Rows without a target ("Row 3 has no target field: name it or remove the row") and targets
 * used by several rows ("Target 'amount' is used by rows 2 and 5: each target field can be written
 * once"), in row order. A target of only spaces counts as none. Entries of the wrong shape (a draft
 * not validated yet) are skipped: the schema names those.
 */
export function targetProblems(fields: readonly unknown[]): TargetProblem[] {
  const problems: (TargetProblem & { first: number })[] = [];
  const rowsByTarget = new Map<string, number[]>();
  fields.forEach((field, row) => {
    const target = (field as { target?: unknown } | null)?.target;
    if (typeof target !== 'string') return;
    if (target.trim() === '') {
      problems.push({ first: row, rows: [row], message: `Row ${row + 1} has no target field: name it or remove the row` });
      return;
    }
    const rows = rowsByTarget.get(target);
    if (rows) rows.push(row);
    else rowsByTarget.set(target, [row]);
  });
  for (const [target, rows] of rowsByTarget) {
    if (rows.length < 2) continue;
    problems.push({
      first: rows[0],
      rows,
      message: `Target '${shownTarget(target)}' is used by rows ${rowList(rows)}: each target field can be written once`,
    });
  }
  return problems.sort((a, b) => a.first - b.first).map(({ rows, message }) => ({ rows, message }));
}
