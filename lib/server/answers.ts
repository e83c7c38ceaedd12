import type { z } from 'zod';
import { clip } from '@/lib/platform/words';
import { AppError, errorMessage, isDatabaseUnavailableError, type AppErrorStatus } from '../platform/errors';
import { issueMessage, objectKeysAt, unknownFieldMessage } from '../platform/params';

/**
 * What route handlers (route.ts) and server actions (action.ts) answer when a request is refused:
 * an AppError as its code's status (APP_ERROR_STATUS, the one map) and a bounded message, zod
 * issues as field errors, NUL characters refused before they reach PostgreSQL. Pure functions
 * (no Next.js, no session), shared by both wrappers and unit-tested in answers.test.ts.
 */

const MAX_MESSAGE = 300;

/** A message (or field name) never echoes a huge input back: longer ones are cut, marked with '…'. */
export function boundedMessage(text: string): string {
  return clip(text, MAX_MESSAGE);
}

/**
 * A schema's issues by field, in words (issueMessage). A key the schema does not take is named as
 * its own field (zod reports them together, on the object that has them), with the fields that
 * object takes when `schema` is given.
 */
export function fieldErrorsOf(error: z.ZodError, schema?: z.ZodType): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const message = boundedMessage(unknownFieldMessage(objectKeysAt(schema, issue.path)));
      for (const key of issue.keys) out[boundedMessage([...issue.path, key].join('.'))] ??= message;
      continue;
    }
    const key = boundedMessage(issue.path.join('.') || '_');
    out[key] ??= boundedMessage(issueMessage(issue));
  }
  return out;
}

/**
 * The names a route's input schema reads (its object's keys); none for a route without input;
 * null when the schema is not an object, so the names cannot be told.
 */
export function inputFieldNames(schema: z.ZodType | undefined): readonly string[] | null {
  return schema === undefined ? [] : (objectKeysAt(schema, []) ?? null);
}

/** At most this many unknown query parameters are named in one answer: a URL can carry thousands. */
const MAX_NAMED_PARAMETERS = 10;

/** Why a query parameter is not one of the route's, and what to send instead. */
function parameterHint(name: string, value: string, accepted: readonly string[], bodyFields: readonly string[] | undefined): string {
  // axios and qs write a list as `status[]=failed` (or `status[0]=`); every parameter here takes one value.
  const base = /^([^[\]]+)\[[^\]]*\]$/.exec(name)?.[1];
  if (base !== undefined && accepted.includes(base))
    return `send ${base}=${value === '' ? '<value>' : clip(value, 40)} once, without brackets`;
  const sameLetters = accepted.find((known) => known.toLowerCase() === name.toLowerCase());
  if (sameLetters !== undefined) return `names are case-sensitive, use ${sameLetters}`;
  if (bodyFields?.includes(name)) return `send ${name} in the JSON body`;
  return routeParametersHint(accepted, bodyFields);
}

function routeParametersHint(accepted: readonly string[], bodyFields: readonly string[] | undefined): string {
  if (accepted.length > 0) return `use ${accepted.join(', ')}`;
  return bodyFields && bodyFields.length > 0
    ? `this route takes no query parameters; send ${bodyFields.join(', ')} in the JSON body`
    : 'this route takes no query parameters';
}

/**
 * A query string the route would misread, refused before its input is parsed (null: none).
 *
 * A parameter the route does not take would be dropped without a word, and the caller would get
 * another answer than asked: `status[]=failed` (how axios and qs send a list), `statuss=`,
 * `Status=` or `q=` all answered every run or integration, not the ones asked for. `accepted` is
 * what the route takes (null: it cannot be told, so only repeats are refused); a mutation takes
 * its input as a JSON body, so it accepts none and `bodyFields` names what goes in the body.
 *
 * A repeated parameter would lose all but its last value: every parameter takes one value (lists
 * are comma-separated).
 */
export function queryRefusal(
  query: URLSearchParams,
  options: { accepted: readonly string[] | null; bodyFields?: readonly string[] },
): { error: string; fieldErrors: Record<string, string> } | null {
  // Stray separators (`?&`, `?=`) carry no parameter: nothing of the caller's is lost.
  const names = [...new Set(query.keys())].filter((name) => name !== '' || query.getAll(name).some((value) => value !== ''));
  const { accepted, bodyFields } = options;
  if (accepted !== null) {
    const notTaken = names.filter((name) => !accepted.includes(name));
    if (notTaken.length > 0) {
      const named = notTaken.slice(0, MAX_NAMED_PARAMETERS).map((name) => ({
        name,
        hint: parameterHint(name, query.get(name) ?? '', accepted, bodyFields),
      }));
      const fieldErrors = Object.fromEntries(
        named.map(({ name, hint }) => [boundedMessage(name), boundedMessage(`is not a parameter of this route: ${hint}`)]),
      );
      const quoted = notTaken.slice(0, 3).map((name) => `'${clip(name, 40)}'`);
      const more = notTaken.length > 3 ? ` and ${notTaken.length - 3} more` : '';
      const error =
        notTaken.length === 1
          ? `Query parameter ${quoted[0]} is not a parameter of this route: ${named[0].hint}.`
          : `Query parameters ${quoted.join(', ')}${more} are not parameters of this route: ${routeParametersHint(accepted, bodyFields)}.`;
      return { error: boundedMessage(error), fieldErrors };
    }
  }
  const repeated = names.find((name) => query.getAll(name).length > 1);
  if (repeated !== undefined) {
    const field = boundedMessage(repeated);
    return {
      error: boundedMessage(`Query parameter '${field}' is given ${query.getAll(repeated).length} times: give it once.`),
      fieldErrors: { [field]: 'must be given once' },
    };
  }
  return null;
}

/** What a route handler or server action answers for a refusal the user can act on. */
export interface KnownErrorAnswer {
  status: AppErrorStatus;
  error: string;
  fieldErrors?: Record<string, string>;
  details?: Record<string, unknown>;
}

/**
 * The platform's refusal (an `AppError`) as the HTTP status (APP_ERROR_STATUS, the one map) and
 * bounded message route handlers and server actions both answer with; null for anything else,
 * including a foreign object that merely carries a `code` (a bug or an outage: logged, answered
 * with a reference).
 */
export function knownError(error: unknown): KnownErrorAnswer | null {
  return error instanceof AppError ? errorAnswer(error) : null;
}

/** An AppError as the answer: its code's status, its message bounded, its fields and details. */
export function errorAnswer(error: AppError): KnownErrorAnswer {
  return {
    status: error.status,
    error: boundedMessage(error.message),
    ...(error.fieldErrors ? { fieldErrors: error.fieldErrors } : {}),
    ...(error.details ? { details: error.details } : {}),
  };
}

/**
 * Anything else (a bug, an outage, a foreign object that only looks like a refusal): logged with a
 * reference, answered 500 with a generic message the user can quote; its own text never reaches
 * the browser.
 */
export function unexpectedErrorAnswer(error: unknown, ref: string, source: 'action' | 'api'): { status: 500 | 503; error: string } {
  // The database refusing or dropping connections (down, restarting, out of connection slots) is
  // an outage to wait out, not a bug to report: 503, and the route adds Retry-After.
  if (isDatabaseUnavailableError(error)) {
    console.error(`[${source}] ref ${ref}: the database is unavailable: ${errorMessage(error).split('\n')[0]}`);
    return {
      status: 503,
      error: `Junction's database is not answering (ref ${ref}). Try again in a minute; if it persists, quote the ref to whoever runs Junction.`,
    };
  }
  console.error(`[${source}] ref ${ref}:`, error);
  const hint = source === 'action' ? ' Try again; if it persists, quote the ref.' : '';
  return { status: 500, error: `Something went wrong (ref ${ref}).${hint}` };
}

/** The answer for any error a handler threw: a known refusal as is, anything else as a 500. */
export function failureAnswer(
  error: unknown,
  ref: string,
  source: 'action' | 'api',
): KnownErrorAnswer | { status: 500 | 503; error: string } {
  return knownError(error) ?? unexpectedErrorAnswer(error, ref, source);
}

/**
 * Input PostgreSQL cannot store, refused here with the field that has it, rather than failing
 * later as a database error (a 500): U+0000 (no text column holds it), an unpaired UTF-16
 * surrogate (JSON's `\ud800` escape parses to one; jsonb refuses it, and as UTF-8 it would be
 * changed to U+FFFD) and a number beyond a double's range (JSON's `1e999` parses to Infinity, which
 * would be stored as null). Walks with its own stack, so deeply nested JSON cannot overflow the
 * call stack.
 */
export function unstorableInputRefusal(value: unknown): { error: string; fieldErrors: Record<string, string> } | null {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0) {
    const [item, path] = stack.pop()!;
    if (typeof item === 'string') {
      const problem = textProblem(item);
      if (problem)
        return {
          error: `Text cannot contain ${problem.what}: ${problem.fix}.`,
          fieldErrors: { [boundedMessage(path || '_')]: problem.field },
        };
    } else if (typeof item === 'number') {
      if (!Number.isFinite(item))
        return {
          error: 'Numbers must be within ±1.8e308.',
          fieldErrors: { [boundedMessage(path || '_')]: 'must be a number within ±1.8e308' },
        };
    } else if (item !== null && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        const childPath = path ? `${path}.${key}` : key;
        const problem = textProblem(key);
        if (problem)
          return {
            error: `Field names cannot contain ${problem.what}: ${problem.fix}.`,
            fieldErrors: { [boundedMessage(childPath)]: `field name ${problem.field}` },
          };
        stack.push([child, childPath]);
      }
    }
  }
  return null;
}

function textProblem(text: string): { what: string; fix: string; field: string } | null {
  if (text.includes('\u0000'))
    return { what: 'NUL characters (\\u0000)', fix: 'remove them', field: 'must not contain NUL characters (\\u0000)' };
  if (!text.isWellFormed())
    return {
      what: 'unpaired UTF-16 surrogates (such as \\ud800)',
      fix: "they are not Unicode characters; fix the text's encoding",
      field: 'must be valid Unicode (it has an unpaired surrogate such as \\ud800)',
    };
  return null;
}
