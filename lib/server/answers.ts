import type { z } from 'zod';
import { clip } from '@/lib/platform/words';
import { AppError, errorMessage, isDatabaseUnavailableError, type AppErrorStatus } from '../platform/errors';
import { issueMessage } from '../platform/params';

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

export function fieldErrorsOf(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = boundedMessage(issue.path.join('.') || '_');
    out[key] ??= boundedMessage(issueMessage(issue));
  }
  return out;
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
