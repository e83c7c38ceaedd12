/**
 * The platform's errors. `AppError` is the one user-facing refusal (a closed set of codes, each
 * with its HTTP status). The rest classify a run's failures: handlers throw `PermanentError` for
 * failures that retrying cannot fix; every other error is transient. The platform's own errors carry a brand
 * (a `Symbol.for` key) so the type guards work across module copies (tsx, vitest, child processes),
 * where a bare `instanceof` would not. (`AppError` never crosses such a boundary: it is thrown and
 * caught within one request of the web app, so it is recognised with `instanceof`.)
 */

import { exactTime } from './when';

const PERMANENT = Symbol.for('junction.error.permanent');
const TRANSIENT = Symbol.for('junction.error.transient');
const CIRCUIT_OPEN = Symbol.for('junction.error.circuitOpen');
const CANCELLED = Symbol.for('junction.error.cancelled');
const HTTP = Symbol.for('junction.error.http');
const CREDENTIALS = Symbol.for('junction.error.credentials');

function branded(error: unknown, brand: symbol): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[brand] === true;
}

/** A failure that retrying cannot fix (bad configuration, 4xx, validation): the run fails at once. */
/**
 * An error of the platform's declared kinds (permanent, transient, an HTTP answer, credentials, an
 * open circuit, a cancel), thrown by ctx or on purpose by a handler: its message says what
 * happened. Anything else a handler throws (a TypeError, a plain Error) is unexpected: the
 * attempt's log keeps where it was thrown.
 */
export function isDeclaredError(error: unknown): boolean {
  return [PERMANENT, TRANSIENT, CIRCUIT_OPEN, CANCELLED, HTTP, CREDENTIALS].some((brand) => branded(error, brand));
}

export class PermanentError extends Error {
  readonly [PERMANENT] = true;
  override name = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A failure worth retrying (5xx, timeout, connection). Any error that is not permanent is treated so. */
export class TransientError extends Error {
  readonly [TRANSIENT] = true;
  override name = 'TransientError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The request timed out (per-request timeout of ctx.http). Counts against the breaker. */
export class TimeoutError extends TransientError {
  override name = 'TimeoutError';
}

/**
 * The attempt ran longer than its integration's time limit (its attemptTimeout: from the code's
 * defaults, editable in the config editor): ctx.signal was aborted with it, and the attempt failed
 * with it. Transient: the run goes on to its next retry delay, like any transient failure. Not an
 * outbound call's failure: the breaker ignores it.
 */
export class AttemptTimeoutError extends TransientError {
  override name = 'AttemptTimeoutError';
}

/**
 * The OAuth2 token endpoint answered a transient status (408, 429, 5xx). ctx.http retries the
 * request it was getting a token for, as it would a 503 of the API: a passing identity-provider
 * blip does not fail the attempt. Not the external system's failure: the breaker ignores it.
 */
export class TokenUnavailableError extends TransientError {}

/** The connection failed (refused, reset, DNS). Counts against the breaker. */
export class NetworkError extends TransientError {
  override name = 'NetworkError';
}

/**
 * Why a run waits for an open breaker, as the run page shows it. `held`: opened by hand with no end,
 * so "the run continues after that" would not come true: it waits until someone resets the breaker.
 */
export function circuitOpenMessage(breakerKey: string, retryAt: Date, held = false): string {
  return held
    ? `Circuit '${breakerKey}' was opened by hand and stays open until someone resets it: no request was sent; the run waits (it looks again at ${exactTime(retryAt)})`
    : `Circuit '${breakerKey}' is open until ${exactTime(retryAt)}: no request was sent; the run continues after that`;
}

/**
 * The breaker for an external system is open: no request was sent. The attempt ends as deferred
 * and the run is re-queued for `retryAt` without using up an attempt.
 */
export class CircuitOpenError extends Error {
  readonly [CIRCUIT_OPEN] = true;
  override name = 'CircuitOpenError';
  constructor(
    readonly breakerKey: string,
    readonly retryAt: Date,
    message = circuitOpenMessage(breakerKey, retryAt),
  ) {
    super(message);
  }
}

/** The run was cancelled by an operator, or the worker released it while stopping. */
export class CancelledError extends Error {
  readonly [CANCELLED] = true;
  override name = 'CancelledError';
  constructor(
    message: string,
    /**
     * 'cancelled': an operator cancelled the run; 'released': the worker is stopping and hands it back;
     * 'interrupted': the worker lost its database session, so it can no longer prove the attempt is
     * alive (another worker recovers it): the attempt stops, and no attempt is used up.
     */
    readonly reason: 'cancelled' | 'released' | 'interrupted' = 'cancelled',
  ) {
    super(message);
  }
}

export interface HttpErrorDetails {
  method: string;
  url: string;
  status: number;
  /** The first 2 kB of the response body, for the attempt's error message. */
  bodySnippet: string;
  /** Milliseconds from a Retry-After header, when the server sent one. */
  retryAfterMs?: number;
  /** The response itself (its body unread), for callers that asked for `throwOnError: false`. */
  response: Response;
}

/** A non-2xx response: 4xx (except 408 and 429) is permanent, 5xx, 408 and 429 are transient. */
export class HttpError extends Error {
  readonly [HTTP] = true;
  override name = 'HttpError';
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly bodySnippet: string;
  readonly retryAfterMs?: number;
  readonly response: Response;
  /** True when retrying can help (5xx, 408, 429). */
  readonly transient: boolean;
  constructor(details: HttpErrorDetails) {
    const body = details.bodySnippet ? `: ${details.bodySnippet.slice(0, 300)}` : '';
    super(`${details.method} ${details.url} answered ${details.status}${body}`);
    this.method = details.method;
    this.url = details.url;
    this.status = details.status;
    this.bodySnippet = details.bodySnippet;
    this.retryAfterMs = details.retryAfterMs;
    this.response = details.response;
    this.transient = isTransientStatus(details.status);
  }
}

/** Statuses worth retrying: 408, 429 and every 5xx. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** OAuth2 credentials were refused (`invalid_client` and other 4xx from the token endpoint). */
export class CredentialsError extends PermanentError {
  readonly [CREDENTIALS] = true;
  override name = 'CredentialsError';
}

/**
 * A stored secret does not open under the worker's key: the key does not match the one it was
 * sealed with (or the value was altered). A deployment problem, not the credentials': the stored
 * value is kept, and re-entering it would only replace good ciphertext.
 */
export class SecretsKeyMismatchError extends PermanentError {
  override name = 'SecretsKeyMismatchError';
}

/**
 * Why the platform refused what a person asked for, and the HTTP status each refusal answers with.
 * The one map both route handlers (lib/server/route.ts) and server actions (lib/server/action.ts)
 * use; a code not listed here cannot be raised.
 */
export const APP_ERROR_STATUS = {
  /** The input is wrong (bad field, unknown option): fix it and send again. */
  invalid_input: 400,
  /** Nobody is signed in (or the account is disabled). */
  unauthenticated: 401,
  /** Signed in, but the role does not allow it. */
  forbidden: 403,
  /** The thing named (run, integration, channel, user...) does not exist. */
  not_found: 404,
  /** The integration is in the database but not registered in this build. */
  orphaned: 409,
  /** The thing exists but is in a state that does not allow it (a running run cannot be retried). */
  invalid_state: 409,
  /** Someone else changed it since it was loaded: reload (details carry the latest version). */
  stale: 409,
  /** It clashes with another (a name already taken). */
  conflict: 409,
  /** An API Idempotency-Key already used on this route with another request body. */
  idempotency_key_reused: 422,
} as const satisfies Record<string, number>;

export type AppErrorCode = keyof typeof APP_ERROR_STATUS;
export type AppErrorStatus = (typeof APP_ERROR_STATUS)[AppErrorCode];

export const APP_ERROR_CODES = Object.keys(APP_ERROR_STATUS) as AppErrorCode[];

/**
 * The one user-facing error: something a person asked for (run now, retry, save a configuration,
 * edit a channel...) was refused; `code` says why, the message what to do, and reaches the browser
 * as is. `fieldErrors` names bad input fields; `details` carries what the console links to or shows
 * (e.g. `existingRetryId` when a run was already retried, `latest` for a stale edit). Anything
 * else thrown at a route or action is a bug or an outage: logged, answered 500 with a reference.
 * Recognised with `instanceof` only: an object that merely has a `code` is not trusted.
 */
export class AppError extends Error {
  override name = 'AppError';
  readonly fieldErrors?: Record<string, string>;
  readonly details?: Record<string, unknown>;
  constructor(
    readonly code: AppErrorCode,
    message: string,
    options?: { fieldErrors?: Record<string, string>; details?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.fieldErrors = options?.fieldErrors;
    this.details = options?.details;
  }
  get status(): AppErrorStatus {
    return APP_ERROR_STATUS[this.code];
  }
}

/**
 * A refusal returned as a value by the services that answer with a result instead of throwing
 * (the config service, alert channels): the same codes as AppError, raised with `refusalError`.
 */
export interface Refusal {
  ok: false;
  code: AppErrorCode;
  message: string;
  fieldErrors?: Record<string, string>;
}

/** The AppError a returned refusal stands for, with optional details for the console. */
export function refusalError(refusal: Refusal, details?: Record<string, unknown>): AppError {
  return new AppError(refusal.code, refusal.message, { fieldErrors: refusal.fieldErrors, details });
}

/** Registry problems at start-up (duplicate names, invalid defaults). */
export class RegistryError extends Error {
  override name = 'RegistryError';
}

export function isHttpError(error: unknown): error is HttpError {
  return branded(error, HTTP);
}
export function isCircuitOpenError(error: unknown): error is CircuitOpenError {
  return branded(error, CIRCUIT_OPEN);
}
export function isCancelledError(error: unknown): error is CancelledError {
  return branded(error, CANCELLED);
}
export function isCredentialsError(error: unknown): error is CredentialsError {
  return branded(error, CREDENTIALS);
}
/** Permanent: a PermanentError (or subclass), or an HTTP error with a non-retryable status. */
export function isPermanentError(error: unknown): boolean {
  if (branded(error, PERMANENT)) return true;
  return isHttpError(error) && !error.transient;
}
/** Transient: anything that is neither permanent, a circuit deferral nor a cancellation. */
export function isTransientError(error: unknown): boolean {
  return !isPermanentError(error) && !isCircuitOpenError(error) && !isCancelledError(error);
}

/**
 * What the runner does with an attempt's error, narrowed: a cancellation carries its reason and a
 * circuit deferral its retry time, so the runner reads them without casts.
 */
export type ErrorOutcome =
  | { kind: 'cancelled'; error: CancelledError }
  | { kind: 'circuit_open'; error: CircuitOpenError }
  | { kind: 'permanent'; error: unknown }
  | { kind: 'transient'; error: unknown };

export function classifyError(error: unknown): ErrorOutcome {
  if (isCancelledError(error)) return { kind: 'cancelled', error };
  if (isCircuitOpenError(error)) return { kind: 'circuit_open', error };
  if (isPermanentError(error)) return { kind: 'permanent', error };
  return { kind: 'transient', error };
}

/**
 * The class an attempt records for a thrown value that is not an Error (`throw 'busy'`,
 * `throw { code: 'E_X' }`, `throw null`). One name whatever its type, in the same form as the
 * platform's other non-Error classes (WorkerLost, HandlerMissing): the message shows the value.
 */
export const NON_ERROR_THROWN = 'NonErrorThrown';

/** A class name for the attempt row: the error's name, or NonErrorThrown for a value that is not an Error. */
export function errorClassName(error: unknown): string {
  if (error instanceof Error) return error.name || error.constructor.name || 'Error';
  return NON_ERROR_THROWN;
}

/** The start of a DatabaseUnavailableError's digest: a page that failed because the database is not answering. */
export const DATABASE_UNAVAILABLE_DIGEST = 'JUNCTION_DATABASE_UNAVAILABLE';

/**
 * The database could not be reached where the driver's error cannot travel with the failure (the
 * session check, lib/auth: Auth.js's session object carries only a flag): an outage, as
 * isDatabaseUnavailableError tells, answered 503 by the API and the console's actions.
 */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
  /**
   * What a page's error boundary receives of it (components/shell/page-error.tsx): Next.js keeps a
   * thrown error's own digest and withholds its message from the browser in production. The
   * reference after the `;` is in the server's log beside the error.
   */
  readonly digest = `${DATABASE_UNAVAILABLE_DIGEST};${globalThis.crypto.randomUUID().slice(0, 8)}`;
}

const DATABASE_CONNECTION_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * True when the error (or one of its causes) says the platform's database could not be reached: a
 * postgres.js connection error, a SQLSTATE of class 08 (connection exception), 57P01-57P03
 * (server shutting down, crashed, starting) or 53300 (no connection slot left), or a socket error under a failed Drizzle query. Such a
 * failure is the infrastructure's, not the handler's: it does not use up one of the run's attempts.
 * An external system's connection failure (NetworkError from ctx.http, a plain fetch) is not this.
 */
export function isDatabaseUnavailableError(error: unknown): boolean {
  let inQuery = false;
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    if (current instanceof DatabaseUnavailableError) return true;
    const e = current as { name?: unknown; code?: unknown; cause?: unknown; constructor?: { name?: string } };
    if (branded(e, TRANSIENT) || branded(e, PERMANENT) || branded(e, HTTP)) return false;
    const code = typeof e.code === 'string' ? e.code : '';
    if (DATABASE_CONNECTION_CODES.has(code)) return true;
    if (e.name === 'PostgresError' && (/^08/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code))) return true;
    if (isDrizzleQueryError(e)) inQuery = true;
    if (inQuery && SOCKET_CODES.has(code)) return true;
    current = e.cause;
  }
  return false;
}

/**
 * What a failed database call says went wrong, once: the driver's words and code under Drizzle's
 * "Failed query: <the SQL> params: …" (which names the statement, not the failure), with its code
 * when the words do not hold it: e.g. "connect ECONNREFUSED 127.0.0.1:5432" or "the database
 * system is starting up (57P03)". With `address: false` (said to anonymous callers: the health check) a host:port in it
 * is left out.
 */
export function databaseReason(error: unknown, options: { address?: boolean } = {}): string {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current && typeof current === 'object'; depth++) {
    const e = current as { cause?: unknown };
    if (!isDrizzleQueryError(e as { name?: unknown }) || !(e.cause instanceof Error)) break;
    current = e.cause;
  }
  const message = current instanceof Error ? current.message || current.name : String(current);
  const code = (current as { code?: unknown } | null)?.code;
  let reason = typeof code === 'string' && code !== '' && !message.includes(code) ? `${message} (${code})` : message;
  if (options.address === false) reason = reason.replace(/\s*\[?[\w.:-]+\]?:\d{1,5}\b/g, '');
  return reason.split('\n')[0];
}

/**
 * Drizzle's DrizzleQueryError, told by its shape: it sets no `name`, and in the console's production
 * bundle its class name is minified, so matching `constructor.name` found none there: a session check
 * the database refused was answered 500 "something went wrong", not 503 (issue found by cutting the
 * database under `next start`: e2e/reliability/database-outage.spec.ts).
 */
function isDrizzleQueryError(e: { name?: unknown; constructor?: { name?: string } }): boolean {
  if (e.name === 'DrizzleQueryError' || e.constructor?.name === 'DrizzleQueryError') return true;
  const shaped = e as { query?: unknown; params?: unknown; message?: unknown };
  return (
    typeof shaped.query === 'string' &&
    Array.isArray(shaped.params) &&
    typeof shaped.message === 'string' &&
    shaped.message.startsWith('Failed query: ')
  );
}

/**
 * `text` as PostgreSQL can hold it: a NUL character (which text and jsonb refuse, failing the whole
 * statement) becomes U+FFFD, as in the attempt logs, and so does half of a character written as two
 * UTF-16 units (an emoji cut by a length limit: JSON writes it as `\ud83d`, which jsonb refuses).
 * For error messages that carry values from outside (a failed query's parameters, an API's error
 * body, a name cut short) on their way to the attempt and the run.
 */
export function storableText(text: string): string {
  const safe = text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text;
  return safe.isWellFormed() ? safe : safe.toWellFormed();
}

/**
 * Whether JSON text (as JSON.stringify writes it) holds what jsonb refuses: `\u0000`, or the
 * `\udXXX` escape JSON.stringify writes only for half a character (a whole one is written as itself).
 * An escaped backslash before such text reads as one too: only a walk with storableJson follows.
 */
export function jsonNeedsStoring(text: string): boolean {
  return text.includes('\\u0000') || /\\u[dD][89a-fA-F]/.test(text);
}

/**
 * Plain JSON with every NUL and half character in its strings and keys as U+FFFD: jsonb refuses
 * both, and a run's result or a log line's data holding one (a name from an external record) would
 * fail the statement that records it; for the result and the last log lines, the one that records
 * the run's success.
 */
export function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), storableJson(v)]));
  return value;
}

/** What a thrown value says: an Error's message, a string as it is, anything else as JSON where it has one. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error || '(an empty string)';
  // JSON.stringify answers undefined for undefined (and functions), and throws on a bigint or a
  // cycle: the message is written to the attempt row, so it must always be text.
  if (typeof error === 'bigint') return `${error}n`;
  try {
    const json = JSON.stringify(error);
    if (json !== undefined) return json;
  } catch {
    // A cycle: its type below.
  }
  return typeof error === 'object' || typeof error === 'function' ? Object.prototype.toString.call(error) : String(error);
}
