import type { Database, Transaction } from '../../../db/client';
import { storableJson, storableText } from '../errors';
import { REDACTED, SecretRedactor } from '../redaction';

/**
 * Dry-run: the same run against the real external system with nothing committed. Reads (GET,
 * HEAD, OPTIONS) go through; mutating requests are captured into the run's plan and answered with
 * a synthetic response; host-database writes through ctx.tx are rolled back.
 */

export const DRY_RUN_HEADER = 'x-junction-dry-run';
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Headers that carry credentials: never stored in a plan, never sent on to another origin, whatever their value. */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
  'api-key',
  'x-auth-token',
]);
const MAX_BODY_CHARS = 64_000;

export function isMutatingMethod(method: string): boolean {
  return MUTATING.has(method.toUpperCase());
}

export interface PlannedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** Parsed JSON when the body is JSON, else its text (truncated). */
  body: unknown;
  at: string;
}

/** Collects the requests a dry-run would have sent; stored as runs.plan. */
export class DryRunPlan {
  readonly requests: PlannedRequest[] = [];

  /** `redactor`: the attempt's (its secret values and tokens, in every form), scrubbed from URLs, headers and bodies. */
  constructor(private readonly redactor: SecretRedactor = new SecretRedactor()) {}

  capture(request: { method: string; url: string; headers: Headers; body?: string }): void {
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = CREDENTIAL_HEADERS.has(name.toLowerCase()) ? REDACTED : this.scrub(value);
    });
    let body: unknown = undefined;
    if (request.body !== undefined) {
      // Stored as runs.plan (jsonb): a NUL, or half a character (one cut by MAX_BODY_CHARS, or a
      // JSON body's `\ud83d`), would fail the statement that records the dry-run.
      const text = storableText(this.scrub(request.body).slice(0, MAX_BODY_CHARS));
      try {
        body = storableJson(JSON.parse(text));
      } catch {
        body = text;
      }
    }
    this.requests.push({
      method: request.method.toUpperCase(),
      url: this.scrub(request.url),
      headers,
      body,
      at: new Date().toISOString(),
    });
  }

  scrub(text: string): string {
    return this.redactor.scrub(text);
  }
}

/** What a captured request gets back: 200, JSON `{ dryRun: true }`, header `x-junction-dry-run: 1`. */
export function dryRunResponse(): Response {
  return new Response(JSON.stringify({ dryRun: true }), {
    status: 200,
    headers: { 'content-type': 'application/json', [DRY_RUN_HEADER]: '1' },
  });
}

class DryRunRollback extends Error {
  constructor(readonly value: unknown) {
    super('dry-run rollback');
  }
}

/** Runs `fn` in a transaction and rolls it back after it returns, handing back its result. */
export async function inRolledBackTransaction<T>(db: Database, fn: (tx: Transaction) => Promise<T>): Promise<T> {
  try {
    await db.transaction(async (tx) => {
      throw new DryRunRollback(await fn(tx));
    });
  } catch (error) {
    if (error instanceof DryRunRollback) return error.value as T;
    throw error;
  }
  throw new Error('unreachable: a dry-run transaction always rolls back');
}
