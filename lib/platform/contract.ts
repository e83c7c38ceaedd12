import type { z } from 'zod';
import type { Database, Transaction } from '../../db/client';
import type { RunTrigger } from '../../db/schema';
import type { RunLogger } from './log';
import type { MapResult } from './mapping';
import type { HttpClient } from './resilience/http';
import type { OAuth2Config } from './resilience/oauth2';

export { httpUrl } from './http-url';
/** A zod issue in words ("is missing: expected text"), for a handler's own refusals. */
export { issueMessage } from './params';

/**
 * The contract a concrete integration implements: one `defineIntegration` call, listed once in
 * lib/integrations/index.ts. Everything else (retries, breaker, OAuth2, dry-run, audit, schedules)
 * is the platform's.
 */

/** What `execute` returns; stored on the run. `processed` and `summary` are shown in the console. */
export interface RunResult {
  processed?: number;
  summary?: string;
  [key: string]: unknown;
}

/**
 * A durable watermark with checkpoints (see lib/platform/execution/checkpoint.ts).
 *
 * - `get` reads, first found: the value staged in this attempt (`set` or `checkpoint`), the run's
 *   last checkpoint (a retried attempt resumes there), the integration's committed cursor.
 * - `checkpoint` records progress at once, durably, on the run: call it after each acknowledged
 *   unit of work (a booked batch, an applied page), with a position that covers only acknowledged
 *   work. When the run ends (succeeded, failed or cancelled) its last checkpoint becomes the cursor.
 *   Not written in a dry-run (staged only). A value that is not plain JSON or over 64 KB is
 *   refused with a PermanentError naming the integration: nothing is written and the attempt fails.
 *   With `{ withNextRequest: true }` the write rides on the breaker read of the attempt's next
 *   `ctx.http` request (one statement instead of two per unit of work): it is durable before that
 *   request leaves, or on its own after 1 s without a request, at the next `checkpoint` call or
 *   when the attempt ends, whichever comes first; the promise settles when it is written (await
 *   it, at the latest before returning). A crash before then loses only that one position: the
 *   retried attempt redoes one unit of work, which must be idempotent anyway.
 * - `set` stages a value committed as the cursor only when the run succeeds outside dry-run; on
 *   success it wins over the last checkpoint.
 */
export interface RunCursor {
  get<T = unknown>(): Promise<T | undefined>;
  set(value: unknown): void;
  checkpoint(value: unknown, options?: { withNextRequest?: boolean }): Promise<void>;
}

/** The upper bound of a late-commit-safe "changed since" read (see lib/platform/execution/change-capture.ts). */
export interface ChangeCaptureBound {
  /** Read rows with `updated_at < before` (exclusive), ISO 8601 with microseconds. */
  before: string;
  /** Set when an open transaction holds the bound below the run's creation. */
  heldBack?: { pid: number; applicationName: string; state: string; xactStart: string; behindMs: number };
}

export interface RunInfo {
  id: string;
  /** 1-based number of the attempt executing now. */
  attempt: number;
  maxAttempts: number;
  trigger: RunTrigger;
  triggeredBy: string;
  /** When the run was requested: the same for every attempt, so a handler can fix its snapshot to it. */
  createdAt: Date;
  /** The checkpoint this attempt resumed from (a retried attempt of a run that recorded one). */
  resumedFrom?: { value: unknown };
}

/** The configured field mapping, compiled once per attempt: mapped records, skipped ones with their reasons. */
export type MapFn = (records: unknown[]) => Promise<MapResult>;

export interface IntegrationContext<Settings = unknown> {
  /** The integration's settings, parsed with its zod schema. */
  settings: Settings;
  /** Decrypted secrets by name; a secret that is not set is absent. */
  secrets: Readonly<Record<string, string | undefined>>;
  /** The platform's HTTP client: breaker, timeout, retries, OAuth2, correlation id, dry-run gate. */
  http: HttpClient;
  /** Stored per attempt and shown on the run page. */
  log: RunLogger;
  /** Reports progress; throttled writes to the run row. */
  progress(done: number, total?: number): void;
  cursor: RunCursor;
  dryRun: boolean;
  /**
   * Aborted when the run is cancelled, the worker releases it, or the attempt reaches its time
   * limit (its attempt time limit; the reason says which): stop and throw.
   */
  signal: AbortSignal;
  /** One per run, reused by its attempts; sent as X-Correlation-Id. */
  correlationId: string;
  run: RunInfo;
  /**
   * The host platform's database, for reads: its transactions are read only, so a write through it
   * fails the attempt (permanently, naming `tx`). Write through `tx`, which a dry-run rolls back and
   * which commits only while the attempt still owns the run.
   */
  db: Database;
  /** Runs `fn` in a transaction on the host database; in a dry-run it is rolled back after `fn` returns. */
  tx<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Present only when the integration declares a mapping and the worker has a mapper. */
  map?: MapFn;
  /**
   * With `map`: an identity of the mapping it was compiled from, which changes when an admin saves
   * another mapping. Keep it next to what the mapping rejected, so that a record refused because of
   * the mapping is read again once the mapping changed (the accounting export does).
   */
  mappingVersion?: string;
  /**
   * Late-commit-safe change capture on the host database: the bound below which every row written
   * with `updated_at = now()` is already visible (the run's creation, or the start of the oldest
   * transaction still open). Read `updated_at < before`; logs a warning when an open transaction
   * holds it back. `slackMs` widens it for timestamps the application sets itself.
   */
  captureBound(options?: { slackMs?: number }): Promise<ChangeCaptureBound>;
}

export interface IntegrationDefaults<S extends z.ZodType> {
  /** Cron expression (5 fields, or 6 with one second first), or null for no schedule. */
  schedule?: string | null;
  /** IANA time zone the cron expression is evaluated in. */
  timezone?: string;
  /** Delays between attempts ('30s', '2m'); attempts = delays + 1. */
  retry?: { delays: string[] };
  breaker?: { failures: number; cooldown: string };
  /**
   * The longest one attempt may run ('30m', '2h'; 1s to 3h, default 1h): the value a new
   * integration starts with; admins change it in the config editor, and an existing integration
   * keeps its value when this one changes (like the other defaults). At the limit ctx.signal is
   * aborted and the attempt fails (transient: the run retries after its next delay); a handler that
   * has not returned a short grace later is no longer waited for: the attempt is closed, the
   * integration's next run may start, and whatever the handler writes after that is refused
   * (checkpoints, ctx.tx) or ignored (its result, ctx.cursor.set).
   */
  attemptTimeout?: string;
  settings?: z.input<S>;
}

export interface IntegrationDefinition<S extends z.ZodType = z.ZodType> {
  /** Unique, stable, kebab-case: routing, the integrations row and the URL use it. */
  name: string;
  description: string;
  settings: S;
  /** Names of the secrets the integration reads (write-only in the console). */
  secrets?: readonly string[];
  /** Breaker key of the external system; integrations calling the same system share one. Defaults to `name`. */
  breakerKey?: string;
  /** OAuth2 client credentials for ctx.http, built from settings and secrets; undefined = no OAuth2. */
  oauth2?(settings: z.infer<S>, secrets: Readonly<Record<string, string | undefined>>): OAuth2Config | undefined;
  /** Field mapping: sample source records and the default mapping (the mapping module's format). */
  mapping?: { sample: unknown[]; defaults: unknown };
  defaults?: IntegrationDefaults<S>;
  /**
   * What a run does. Optional for an integration that declares `events`: its runs (started by
   * an event, Run now or a retry) apply the pending events.
   */
  execute?(ctx: IntegrationContext<z.infer<S>>): Promise<RunResult>;
  /** Receives signed webhooks at `POST /hooks/<name>` (lib/platform/intake). */
  events?: EventsDeclaration<z.infer<S>>;
}

/** One signed delivery, after its signature was verified over the raw body. */
export interface WebhookDelivery {
  /** Lower-case header names. */
  headers: Readonly<Record<string, string>>;
  /** The parsed JSON body. */
  body: unknown;
}

/** An event handed to `events.handle`, in the order it is to be applied. */
export interface IncomingEvent {
  /** The sender's event id (unique per integration). */
  id: string;
  type: string;
  orderingKey: string | null;
  version: number | null;
  payload: unknown;
  receivedAt: Date;
  /** Replayed by an operator from the console. */
  replayed: boolean;
}

/**
 * An integration that receives events: the platform gives it `POST /hooks/<name>`, verifies the
 * signature over the raw body before parsing, deduplicates by the sender's event id, stores the
 * event with its processing run in one transaction and answers 2xx only after that commit. Runs
 * (same retries, breaker, dry-run, logs and alerts as every run) hand the events to `handle`, in
 * order, `batchSize` at a time; an event older (by `versionFrom`) than one already applied with
 * the same ordering key, or of the same version as it, is recorded as stale and never handed over,
 * and a replay of an event already processed is not handed over again.
 */
export interface EventsDeclaration<Settings = unknown> {
  /**
   * 'standard-webhooks': headers webhook-id / webhook-timestamp / webhook-signature (v1, HMAC-SHA256 of
   * `id.timestamp.body` under a `whsec_` base64 secret). 'hmac-sha256': the hex HMAC-SHA256 of
   * `timestamp.body` under the secret in `hmac.signatureHeader` (optionally `sha256=` prefixed),
   * the unix timestamp in `hmac.timestampHeader`.
   */
  scheme: 'standard-webhooks' | 'hmac-sha256';
  hmac?: { signatureHeader?: string; timestampHeader?: string };
  /** Largest accepted delivery older or newer than now, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** Largest accepted body, in bytes. Default 262 144 (256 KiB). */
  maxBodyBytes?: number;
  /** The sender's event id. Default for standard-webhooks: the webhook-id header. */
  idFrom?(delivery: WebhookDelivery): string | undefined;
  typeFrom(delivery: WebhookDelivery): string | undefined;
  /** Events sharing it are applied in order (say the payment id). */
  orderingKeyFrom?(delivery: WebhookDelivery): string | undefined;
  /** A number that grows with each change of the ordering key's object (a sequence, a timestamp in ms). */
  versionFrom?(delivery: WebhookDelivery): number | undefined;
  /** Events per call of `handle` (1..100). Default 1. */
  batchSize?: number;
  /** Payload keys shown as [redacted] in the console (any depth). */
  redact?: readonly string[];
  /**
   * Applies events in order. Write to the host database through `tx`: the platform marks the
   * events processed in that same transaction (rolled back in a dry-run), so an event is applied
   * exactly once whatever is killed when. It is the attempt's host transaction (as `ctx.tx`): past
   * the attempt's time limit and grace the platform ends it, and it commits only while the attempt
   * is running. Throw a PermanentError for events that can never be applied (they are marked
   * failed, the rest go on); any other error retries the run.
   */
  handle(events: IncomingEvent[], ctx: IntegrationContext<Settings>, tx: Transaction): Promise<void>;
}

/** Where decrypted secrets come from; the governance module implements it over integration_secrets. */
export interface SecretsProvider {
  read(integration: string, names: readonly string[]): Promise<Record<string, string>>;
}

/** Compiles an integration's stored mapping once per attempt (provided by the mapping module). */
export type MapperFactory = (integration: string, mappingJson: unknown) => Promise<MapFn>;

export type Registry = Map<string, IntegrationDefinition>;

/** Identity function that gives `execute` its typed context. */
export function defineIntegration<S extends z.ZodType>(def: IntegrationDefinition<S>): IntegrationDefinition<S> {
  return def;
}
