import type { IncomingHttpHeaders } from 'node:http';
import type { z } from 'zod';

/**
 * The stand-ins' small HTTP vocabulary: a fully read request, a reply value that the server
 * writes (or withholds, when a timeout is injected), and the error that carries a reply out of a
 * handler. No framework: node:http underneath.
 */

export interface SandboxRequest {
  method: string;
  /** The path without the query string, e.g. `/accounting/v1/journal-entries`. */
  path: string;
  /** Decoded path segments: `/catcher/webhook/ops` → `['catcher', 'webhook', 'ops']`. */
  segments: string[];
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  receivedAt: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** A string is sent as is (with `contentType`, default text/plain); anything else as JSON. */
  body?: unknown;
  contentType?: string;
}

/** Thrown by a handler to answer with `reply` (validation failures, unknown routes, auth). */
export class ReplyError extends Error {
  constructor(readonly reply: Reply) {
    super(typeof reply.body === 'object' && reply.body && 'message' in reply.body ? String(reply.body.message) : `HTTP ${reply.status}`);
    this.name = 'ReplyError';
  }
}

export function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return { status, body, headers };
}

/** `{ error, message }`, the stand-ins' shape for every refusal. */
export function problem(
  status: number,
  error: string,
  message: string,
  extra?: Record<string, unknown>,
  headers?: Record<string, string>,
): Reply {
  return { status, body: { error, message, ...extra }, headers };
}

export function fail(
  status: number,
  error: string,
  message: string,
  extra?: Record<string, unknown>,
  headers?: Record<string, string>,
): never {
  throw new ReplyError(problem(status, error, message, extra, headers));
}

export function notFound(req: SandboxRequest): never {
  return fail(404, 'not_found', `No route for ${req.method} ${req.path}; GET / lists what the sandbox offers`);
}

export function methodNotAllowed(req: SandboxRequest, allowed: string[]): never {
  return fail(405, 'method_not_allowed', `${req.method} is not allowed on ${req.path}; use ${allowed.join(' or ')}`, undefined, {
    allow: allowed.join(', '),
  });
}

/** The body as JSON; a 400 naming the problem when it is not JSON. */
export function readJson(req: SandboxRequest): unknown {
  const text = req.body.toString('utf8');
  if (text.trim() === '') fail(400, 'invalid_request', `${req.method} ${req.path} needs a JSON body`);
  try {
    return JSON.parse(text);
  } catch (error) {
    return fail(
      400,
      'invalid_request',
      `The body of ${req.method} ${req.path} is not valid JSON (${(error as Error).message}); send Content-Type: application/json`,
    );
  }
}

export interface FieldError {
  field: string;
  message: string;
}

/** One `{ field, message }` per zod issue; an unknown key becomes an error on that key. */
export function fieldErrors(error: z.ZodError, prefix = '', root = '(body)'): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ field: [path, key].filter(Boolean).join('.'), message: 'is not a known field; remove it' });
    } else {
      out.push({ field: path || root, message: issue.message });
    }
  }
  return out;
}

/** Parses an admin payload; a 400 whose message names the first bad field. */
export function parseAdminPayload<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const errors = fieldErrors(parsed.error);
  const first = errors[0];
  return fail(400, 'invalid_request', `Invalid ${what}: ${first.field} ${first.message}`, { errors });
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
