import type { RunResult } from '../contract';
import { errorMessage, jsonNeedsStoring, storableJson, storableText } from '../errors';
import type { SecretRedactor } from '../redaction';

/**
 * What a handler returned, as the run stores it: plain JSON, scrubbed of the attempt's secrets like
 * its logs, and the notes the attempt's log says about it.
 *
 * A handler's work is done when it returns: a result that cannot be stored as it is must not fail
 * the run (a retry would repeat that work). A cycle (`r.self = r`) made the scrub recurse until the
 * stack overflowed, after the handler had returned: the attempt was lost, taken for an interrupted
 * one and run again ten times. Now a repeated reference to an enclosing object is stored as
 * "[Circular]", a bigint as its digits, and anything JSON cannot hold (a getter or toJSON that
 * throws) as the result's text; each is said as a warning in the attempt's log, as is a result that
 * is not the contract's object (`{ processed?: number, summary?: string, ... }`).
 */
export function storableResult(value: unknown, redactor: Pick<SecretRedactor, 'scrubJson'>): { result: RunResult; notes: string[] } {
  const notes: string[] = [];
  if (value === undefined) return { result: {}, notes };
  let json: unknown;
  try {
    const circular = new Set<string>();
    let bigints = 0;
    // The objects enclosing the value being written, innermost last: `this` is the holder of `key`.
    const ancestors: object[] = [];
    const text = JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
      if (typeof v === 'bigint') {
        bigints++;
        return v.toString();
      }
      if (typeof v !== 'object' || v === null) return v;
      while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
      if (ancestors.includes(v)) {
        circular.add(key === '' ? '(the result itself)' : key);
        return '[Circular]';
      }
      ancestors.push(v);
      return v;
    });
    json = text === undefined ? {} : JSON.parse(text);
    if (circular.size > 0)
      notes.push(
        `the handler's result refers to itself (at ${[...circular]
          .slice(0, 5)
          .map((k) => `'${k}'`)
          .join(', ')}): stored with "[Circular]" there; return plain JSON`,
      );
    if (bigints > 0) notes.push(`the handler's result holds ${bigints === 1 ? 'a bigint' : `${bigints} bigints`}: stored as digits`);
    if (text !== undefined && jsonNeedsStoring(text)) json = storableJson(json);
  } catch (error) {
    notes.push(`the handler's result could not be written as JSON (${errorMessage(error)}): stored as its text; return plain JSON`);
    json = { summary: storableText(safeText(value)) };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    notes.push(
      `the handler returned ${Array.isArray(json) ? 'an array' : json === null ? 'null' : `a ${typeof json}`}, not an object such as { processed: 12, summary: '…' }: stored as it is`,
    );
  } else {
    const processed = (json as RunResult).processed;
    if (processed !== undefined && (typeof processed !== 'number' || !Number.isFinite(processed)))
      notes.push(`the handler's result.processed is ${clipJson(processed)}, not a number: the console shows it as it is`);
  }
  return { result: redactor.scrubJson(json) as RunResult, notes };
}

function safeText(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function clipJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
