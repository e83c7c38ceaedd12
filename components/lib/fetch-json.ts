import { z } from 'zod';

/** A request of the console that did not give the data it asked for; `status` 0 when the server was not reached. */
export class FetchJsonError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'FetchJsonError';
  }
}

const ZErrorBody = z.object({ error: z.string().min(1) });

/**
 * GETs (or sends) `url` and returns its JSON body checked against `schema`, typed. Anything else
 * throws a FetchJsonError with a message a person can read: the API's own `{ error }` (every route
 * answers its refusals so, e.g. "Sign in again"), or what went wrong (no answer, not JSON, not the
 * shape the console expects).
 */
export async function fetchJson<S extends z.ZodType>(url: string, schema: S, init?: RequestInit): Promise<z.output<S>> {
  const path = url.split('?')[0];
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { accept: 'application/json', ...init?.headers } });
  } catch (error) {
    throw new FetchJsonError(0, `Could not reach Junction (${path}): ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const refusal = ZErrorBody.safeParse(body);
    throw new FetchJsonError(
      res.status,
      refusal.success ? refusal.data.error : `${path} answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`,
    );
  }
  if (body === undefined) throw new FetchJsonError(res.status, `${path} did not answer with JSON`);
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new FetchJsonError(res.status, `${path} answered in an unexpected shape: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
