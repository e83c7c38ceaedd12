import 'server-only';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Role } from '../../db/schema';
import { authorize, type SessionUser } from '../auth/guards';

export type ActionResult<T> =
  | { ok: true; data: T }
  | { ok: false; error: string; fieldErrors?: Record<string, string>; status?: number; details?: Record<string, unknown> };

/** An error the user can act on; its message reaches the browser as is. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    readonly fieldErrors?: Record<string, string>,
    readonly status = 400,
  ) {
    super(message);
  }
}

const MAX_MESSAGE = 300;

/** A message (or field name) never echoes a huge input back: longer ones are cut, marked with '…'. */
export function boundedMessage(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text;
}

export function fieldErrorsOf(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = boundedMessage(issue.path.join('.') || '_');
    out[key] ??= boundedMessage(issue.message);
  }
  return out;
}

/**
 * A platform error the caller can act on (a `code` the platform functions set), as the HTTP status
 * and bounded message route handlers and server actions both answer with; null for anything else
 * (a bug or an outage: logged, answered with a reference).
 */
export function knownError(
  error: unknown,
): { status: number; error: string; fieldErrors?: Record<string, string>; details?: Record<string, unknown> } | null {
  if (error instanceof UserError) return { status: error.status, error: boundedMessage(error.message), fieldErrors: error.fieldErrors };
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^(not_found|orphaned|invalid_state|invalid_input|stale|invalid|conflict)$/.test(code)) return null;
  const details = (error as { details?: unknown }).details;
  return {
    status: code === 'not_found' ? 404 : code === 'invalid_input' ? 400 : 409,
    error: boundedMessage((error as Error).message),
    ...(details && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}),
  };
}

/**
 * PostgreSQL text cannot hold U+0000, so input carrying it could only fail later as a database
 * error: refused here with the field that has it. Walks with its own stack, so deeply nested
 * JSON cannot overflow the call stack.
 */
export function nulCharacterRefusal(value: unknown): { error: string; fieldErrors: Record<string, string> } | null {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0) {
    const [item, path] = stack.pop()!;
    if (typeof item === 'string') {
      if (item.includes('\u0000'))
        return {
          error: 'Text cannot contain NUL characters (\\u0000): remove them.',
          fieldErrors: { [boundedMessage(path || '_')]: 'must not contain NUL characters (\\u0000)' },
        };
    } else if (item !== null && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        const childPath = path ? `${path}.${key}` : key;
        if (key.includes('\u0000'))
          return {
            error: 'Field names cannot contain NUL characters (\\u0000): remove them.',
            fieldErrors: { [boundedMessage(childPath)]: 'field name must not contain NUL characters (\\u0000)' },
          };
        stack.push([child, childPath]);
      }
    }
  }
  return null;
}

/**
 * Every server action goes through here: session, then role, then zod, then the work. The result
 * is typed, never a raw throw; unexpected errors are logged with a reference the user can quote.
 */
export function defineAction<S extends z.ZodType, T>(options: {
  role: Role;
  input: S;
  handler: (input: z.infer<S>, ctx: { user: SessionUser; correlationId: string }) => Promise<T>;
}): (input: unknown) => Promise<ActionResult<T>> {
  return async (raw: unknown) => {
    const access = await authorize(options.role);
    if (!access.ok) return { ok: false, error: access.error, status: access.status };
    const nul = nulCharacterRefusal(raw);
    if (nul) return { ok: false, ...nul, status: 400 };
    const parsed = options.input.safeParse(raw);
    if (!parsed.success) {
      return { ok: false, error: 'Some fields need attention.', fieldErrors: fieldErrorsOf(parsed.error), status: 400 };
    }
    const correlationId = randomUUID();
    try {
      return { ok: true, data: await options.handler(parsed.data, { user: access.user, correlationId }) };
    } catch (error) {
      const known = knownError(error);
      if (known) return { ok: false, ...known };
      console.error(`[action] ref ${correlationId}:`, error);
      return { ok: false, error: `Something went wrong (ref ${correlationId}). Try again; if it persists, quote the ref.`, status: 500 };
    }
  };
}
