import { hash } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { readOnlyPeer, type Database, type Transaction } from '../../../db/client';
import { cursors, runs, type Integration, type Run } from '../../../db/schema';
import type { IntegrationContext, IntegrationDefinition, MapFn, MapperFactory, SecretsProvider } from '../contract';
import { parseDuration } from '../duration';
import { errorMessage, isCredentialsError, PermanentError } from '../errors';
import { createAttemptLog, type AttemptLog, type AttemptLogOptions, type LogLine } from '../log';
import { SecretRedactor } from '../redaction';
import { DryRunPlan, inRolledBackTransaction } from '../resilience/dry-run';
import { createHttpClient, type HttpDefaults } from '../resilience/http';
import { basicCredentials, oauth2Provider, parseOAuth2Config, type OAuth2Config, type OAuth2Provider } from '../resilience/oauth2';
import { recordCredentialsFailure, watchTokenHealth } from '../resilience/token-health';
import { changeCaptureBound } from './change-capture';
import { checkpointJson, resumeFromCheckpoint, writeCheckpoint } from './checkpoint';

/** A checkpoint waiting for the next request (`withNextRequest`) is written on its own after this long. */
const DEFERRED_CHECKPOINT_MS = 1_000;

/** A host transaction's session: its backend, and when its transaction began (pg_stat_activity.xact_start, as text to the microsecond). */
interface HostSession {
  pid: number;
  xactStart: string;
}

/** What every attempt's context is built from (the worker's dependencies). */
export interface ContextDeps {
  db: Database;
  boss: PgBoss;
  secrets?: SecretsProvider;
  mapper?: MapperFactory;
  http?: HttpDefaults;
  /** Minimum gap between progress writes to the run row. */
  progressIntervalMs?: number;
  log?: AttemptLogOptions;
}

export interface AttemptScope {
  ctx: IntegrationContext<unknown>;
  log: AttemptLog;
  /** The attempt's secrets and OAuth2 tokens: what is recorded about the attempt is scrubbed of them. */
  redactor: SecretRedactor;
  /** The dry-run plan (dry-runs only). */
  plan?: DryRunPlan;
  /** The cursor value staged by ctx.cursor.set or ctx.cursor.checkpoint, if any. */
  stagedCursor(): { value: unknown } | undefined;
  /** The run's checkpoint this attempt resumed from, if any. */
  resumedFrom?: { value: unknown };
  /** A checkpoint or cursor value the platform refused: the attempt fails with it even if the handler caught it. */
  refused(): unknown;
  /**
   * The platform stopped waiting for the handler (it outlived its time limit's or its cancel's
   * grace): from now on its progress is dropped, its checkpoints are refused and its host
   * transactions roll back, even before the runner has closed its attempt (after that, their own
   * fences refuse them too). A host transaction still open is ended now: its session is
   * terminated, which rolls it back and frees its locks (a handler stuck inside it, waiting on
   * something or on a statement, held them for as long as it was stuck). Resolves once that is
   * done; the sessions it could not end are returned (a message each).
   */
  retire(): Promise<string[]>;
  /** Writes pending progress and log lines. */
  close(): Promise<void>;
  /** Writes pending progress; the log lines not written yet are returned for the caller to write (AttemptLog.handOver). */
  closeHandingOverLogs(): Promise<LogLine[]>;
}

/**
 * The secret values to scrub from what is recorded about an attempt: every declared secret, and
 * the OAuth2 client secret, but not the OAuth2 client id, which is not a secret (RFC 6749 §2.2)
 * and which the token endpoint's refusals name so that a person can tell which client was refused.
 */
function secretValues(secrets: Record<string, string>, oauth2: Partial<OAuth2Config> | undefined): string[] {
  const values = Object.values(secrets).filter((v) => v !== oauth2?.clientId);
  return oauth2?.clientSecret ? [...values, oauth2.clientSecret] : values;
}

/** The provider, with every token it hands out added to the attempt's redactor before it is used. */
function recordingTokens(provider: OAuth2Provider, redactor: SecretRedactor): OAuth2Provider {
  return {
    get tokenRequests() {
      return provider.tokenRequests;
    },
    invalidate: (token) => provider.invalidate(token),
    async getToken(request) {
      const token = await provider.getToken(request);
      redactor.add(token);
      return token;
    },
  };
}

/** Parses settings with the handler's schema; a failure is permanent and names the field. */
export function parseSettings(def: IntegrationDefinition, settings: unknown): unknown {
  const parsed = def.settings.safeParse(settings ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue.path.length ? issue.path.join('.') : '(settings)';
  throw new PermanentError(`Setting '${field}' of '${def.name}' is invalid: ${issue.message}. Fix it in the integration's configuration.`);
}

export async function createAttemptContext(
  deps: ContextDeps,
  params: {
    def: IntegrationDefinition;
    integration: Integration;
    run: Run;
    attemptId: string;
    attemptNumber: number;
    signal: AbortSignal;
    /**
     * False when the caller read the run with no checkpoint while no attempt of it was open: only
     * its own running attempt can write one, so there is nothing to resume and no query is needed.
     */
    mayHaveCheckpoint?: boolean;
    /**
     * Filled here with the integration's secret values and the OAuth2 tokens the attempt obtains;
     * the caller's own, so it can scrub the attempt's error even when building the context failed.
     */
    redactor?: SecretRedactor;
  },
): Promise<AttemptScope> {
  const { def, integration, run, db } = { ...params, db: deps.db };
  const redactor = params.redactor ?? new SecretRedactor();
  const log = createAttemptLog(db, { attemptId: params.attemptId, runCreatedAt: run.createdAt, ...deps.log, redactor });

  const progressGap = deps.progressIntervalMs ?? 1_000;
  let pendingProgress: { done: number; total?: number } | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  let lastProgressWrite = 0;
  let progressWrite: Promise<unknown> = Promise.resolve();
  const writeProgress = () => {
    progressTimer = undefined;
    if (!pendingProgress) return progressWrite;
    const p = pendingProgress;
    pendingProgress = undefined;
    lastProgressWrite = Date.now();
    progressWrite = progressWrite.then(() =>
      db
        .update(runs)
        .set({ progressDone: p.done, ...(p.total !== undefined ? { progressTotal: p.total } : {}) })
        .where(eq(runs.id, run.id))
        .catch(() => {}),
    );
    return progressWrite;
  };

  let staged: { value: unknown } | undefined;
  let refused: unknown;
  let checkpointWrite: Promise<unknown> = Promise.resolve();
  // A checkpoint waiting for the next request's breaker read (`withNextRequest`), if any.
  let deferred: { json: string; resolve: () => void; reject: (error: unknown) => void; timer: NodeJS.Timeout } | undefined;
  const notOwner = (what = 'checkpoint not written') =>
    new Error(
      `attempt ${params.attemptNumber} of run ${run.id} no longer owns the run (another worker took it over, it was cancelled, or it outlived its time limit): ${what}, stopping`,
    );
  let retired = false;
  /**
   * The session of each host transaction of this attempt still open (its backend's pid and its
   * transaction's start, read in it when it began): what `retire` terminates. Both must match, so a
   * pooled connection that has since moved on to other work (same pid, another transaction) or a
   * new backend that got the pid is never touched.
   */
  const openSessions = new Set<Promise<HostSession | undefined>>();
  const endSession = async (session: HostSession | undefined): Promise<string | undefined> => {
    if (!session) return undefined;
    try {
      // Waits (up to 5 s) for the backend to exit: its locks are free when this returns. A role
      // may terminate its own role's backends, which is what the host transactions run as.
      const rows = await db.execute<{ ended: boolean }>(sql`
        select pg_terminate_backend(pid, 5000) as ended from pg_stat_activity
         where pid = ${session.pid} and xact_start = ${session.xactStart}::timestamptz`);
      if (rows.length === 1 && !rows[0].ended)
        return `could not end the host transaction of attempt ${params.attemptNumber} of run ${run.id} (backend ${session.pid}): it may still hold its locks`;
      return undefined;
    } catch (error) {
      return `could not end the host transaction of attempt ${params.attemptNumber} of run ${run.id} (backend ${session.pid}): ${errorMessage(error)}`;
    }
  };
  /** `fn` in a host transaction whose session `retire` can end. */
  const tracked =
    <T>(fn: (tx: Transaction) => Promise<T>) =>
    async (tx: Transaction): Promise<T> => {
      if (retired) throw notOwner('host transaction rolled back');
      // Sent ahead of the handler's first statement on the same connection and not waited for
      // (postgres.js pipelines it): no round trip is added to the transaction.
      const session = tx.execute<{ pid: number; xact_start: string }>(sql`select pg_backend_pid() as pid, now()::text as xact_start`).then(
        (rows): HostSession => ({ pid: Number(rows[0].pid), xactStart: rows[0].xact_start }),
        () => undefined,
      );
      openSessions.add(session);
      try {
        return await fn(tx);
      } finally {
        openSessions.delete(session);
      }
    };
  /**
   * A host transaction commits only while its attempt is still 'running': checked last, just
   * before the commit, with the attempt row locked FOR SHARE, so the runner's close of the attempt
   * waits for that commit, or the commit is refused. Not held while `fn` runs: a handler stuck
   * inside its transaction never holds up the close of its attempt.
   */
  const ownsRun = async (tx: Transaction) => {
    if (retired) return false;
    const rows = await tx.execute(sql`
      select 1 from attempts
       where id = ${params.attemptId} and run_created_at = ${run.createdAt.toISOString()}::timestamptz and outcome = 'running'
         for share`);
    return rows.length === 1;
  };
  const takeDeferred = () => {
    const d = deferred;
    if (d) clearTimeout(d.timer);
    deferred = undefined;
    return d;
  };
  /** Its own statement, one at a time in call order; `also` (superseded deferred writes) settle with it. */
  const writeAlone = async (json: string, also?: { resolve: () => void; reject: (error: unknown) => void }) => {
    const write = checkpointWrite.then(() =>
      writeCheckpoint(db, { runId: run.id, runCreatedAt: run.createdAt, attemptId: params.attemptId, json }),
    );
    checkpointWrite = write.catch(() => undefined);
    try {
      if (!(await write)) throw notOwner();
    } catch (error) {
      also?.reject(error);
      throw error;
    }
    staged = { value: JSON.parse(json) };
    also?.resolve();
  };
  const flushDeferred = () => {
    const d = takeDeferred();
    if (d) writeAlone(d.json, d).catch(() => undefined);
  };
  const validated = (value: unknown, what: string) => {
    try {
      return checkpointJson(def.name, value, what);
    } catch (error) {
      refused ??= error;
      throw error;
    }
  };
  // The attempt's ctx.http, once built: the answers its handler left unread count as it ends.
  let settleHttp: (() => Promise<void>) | undefined;
  const scope: AttemptScope = {
    ctx: undefined as unknown as IntegrationContext<unknown>,
    log,
    redactor,
    stagedCursor: () => staged,
    refused: () => refused,
    async retire() {
      retired = true;
      if (progressTimer) clearTimeout(progressTimer);
      pendingProgress = undefined;
      const ended = await Promise.all([...openSessions].map((session) => session.then(endSession)));
      return ended.filter((problem): problem is string => problem !== undefined);
    },
    async close() {
      if (progressTimer) clearTimeout(progressTimer);
      // A checkpoint still waiting for a request is written now, before the run can end.
      const d = takeDeferred();
      if (d) await writeAlone(d.json, d).catch(() => undefined);
      // The last progress and the last log lines, side by side: one round trip of waiting, not two.
      await Promise.all([writeProgress(), log.close(), settleHttp?.()]);
    },
    async closeHandingOverLogs() {
      if (progressTimer) clearTimeout(progressTimer);
      // As in close: a checkpoint still waiting for a request is written before the run can end.
      const d = takeDeferred();
      if (d) await writeAlone(d.json, d).catch(() => undefined);
      const [, lines] = await Promise.all([writeProgress(), log.handOver(), settleHttp?.()]);
      return lines;
    },
  };

  try {
    const settings = parseSettings(def, integration.settings);
    const credentials = async () => {
      const secrets = deps.secrets && def.secrets?.length ? await deps.secrets.read(def.name, def.secrets) : {};
      const oauth2Config = def.oauth2?.(settings, secrets);
      redactor.add(...secretValues(secrets, oauth2Config));
      if (!oauth2Config) return { secrets, oauth2: undefined };
      const config = parseOAuth2Config(oauth2Config);
      redactor.add(basicCredentials(config.clientId, config.clientSecret));
      return { secrets, oauth2: recordingTokens(oauth2Provider(config), redactor) };
    };
    let secrets: Record<string, string>;
    let oauth2: OAuth2Provider | undefined;
    try {
      ({ secrets, oauth2 } = await credentials());
    } catch (error) {
      // A secret that cannot be opened or an OAuth2 config with a piece missing: credentials failing.
      if (isCredentialsError(error) && !run.dryRun) {
        await recordCredentialsFailure(db, deps.boss, {
          integration: def.name,
          error: errorMessage(error),
          correlationId: run.correlationId,
        }).catch(() => undefined);
      }
      throw error;
    }
    if (oauth2 && !run.dryRun) {
      oauth2 = watchTokenHealth(oauth2, {
        db,
        boss: deps.boss,
        integration: def.name,
        failing: integration.credentialsFailingSince !== null,
        correlationId: run.correlationId,
      });
    }
    const resumedFrom =
      run.dryRun || params.mayHaveCheckpoint === false
        ? undefined
        : await resumeFromCheckpoint(db, { runId: run.id, runCreatedAt: run.createdAt, attemptId: params.attemptId });
    scope.resumedFrom = resumedFrom;
    const dryRunPlan = run.dryRun ? new DryRunPlan(redactor) : undefined;
    scope.plan = dryRunPlan;
    let map: MapFn | undefined;
    let mappingVersion: string | undefined;
    if (def.mapping && deps.mapper) {
      const mapping = integration.mapping ?? def.mapping.defaults;
      map = await deps.mapper(def.name, mapping);
      mappingVersion = hash('sha256', JSON.stringify(mapping), 'hex').slice(0, 16);
    }

    const http = createHttpClient({
      correlationId: run.correlationId,
      integration: def.name,
      signal: params.signal,
      dryRun: dryRunPlan,
      oauth2,
      breaker: {
        db,
        boss: deps.boss,
        key: integration.breakerKey,
        takeCheckpoint: async () => {
          if (!deferred) return undefined;
          // Never ahead of a checkpoint still being written on its own (they land in call order).
          await checkpointWrite;
          const d = takeDeferred();
          if (!d) return undefined;
          return {
            runId: run.id,
            attemptId: params.attemptId,
            json: d.json,
            written: (ok: boolean) => {
              if (ok) {
                d.resolve();
                return undefined;
              }
              const error = notOwner();
              d.reject(error);
              return error;
            },
            failed: (error: unknown) => d.reject(error),
          };
        },
        policy: { failures: integration.breakerFailures, cooldownMs: parseDuration(integration.breakerCooldown) },
      },
      defaults: deps.http,
      log,
      redactor,
    });

    settleHttp = http.settleUnread;
    scope.ctx = {
      settings,
      secrets: Object.freeze({ ...secrets }),
      http,
      log,
      progress(done: number, total?: number) {
        if (retired) return;
        pendingProgress = { done, total };
        if (!progressTimer) progressTimer = setTimeout(writeProgress, Math.max(0, progressGap - (Date.now() - lastProgressWrite)));
      },
      cursor: {
        async get<T>() {
          if (staged) return staged.value as T;
          if (resumedFrom) return resumedFrom.value as T;
          const [row] = await db.select({ value: cursors.value }).from(cursors).where(eq(cursors.integration, def.name));
          return (row?.value ?? undefined) as T | undefined;
        },
        set(value: unknown) {
          staged = { value: JSON.parse(validated(value ?? null, 'Cursor')) };
        },
        async checkpoint(value: unknown, options?: { withNextRequest?: boolean }) {
          // Its own fence (the attempt 'running') holds until the runner closes the attempt: refused from the retirement on.
          if (retired) throw notOwner();
          const json = validated(value, 'Checkpoint');
          if (run.dryRun) {
            staged = { value: JSON.parse(json) };
            return;
          }
          // A later checkpoint covers an earlier one still waiting: that one settles with this one.
          const earlier = takeDeferred();
          if (!options?.withNextRequest) return writeAlone(json, earlier);
          return new Promise<void>((resolve, reject) => {
            deferred = {
              json,
              resolve: () => {
                staged = { value: JSON.parse(json) };
                earlier?.resolve();
                resolve();
              },
              reject: (error) => {
                earlier?.reject(error);
                reject(error);
              },
              // No request within a second: written on its own.
              timer: setTimeout(flushDeferred, DEFERRED_CHECKPOINT_MS),
            };
          });
        },
      },
      captureBound: async (options) => {
        const bound = await changeCaptureBound(db, { integration: def.name, notAfter: run.createdAt, slackMs: options?.slackMs });
        if (bound.heldBack) {
          const h = bound.heldBack;
          log.warn(
            `change capture held back to ${bound.before}, ${(h.behindMs / 1000).toFixed(1)} s before the run was requested, by an open transaction ` +
              `(pid ${h.pid}${h.applicationName ? `, ${h.applicationName}` : ''}, ${h.state}, started ${h.xactStart}): rows changed after it go to the next run`,
          );
        }
        return bound;
      },
      dryRun: run.dryRun,
      signal: params.signal,
      correlationId: run.correlationId,
      run: {
        id: run.id,
        attempt: params.attemptNumber,
        maxAttempts: run.maxAttempts,
        trigger: run.trigger,
        triggeredBy: run.triggeredBy,
        createdAt: run.createdAt,
        ...(resumedFrom ? { resumedFrom } : {}),
      },
      // For reads: a write through it is refused (the runner says to use ctx.tx).
      db: readOnlyPeer(db),
      tx: (fn) =>
        run.dryRun
          ? inRolledBackTransaction(db, tracked(fn))
          : db.transaction(
              tracked(async (tx) => {
                const value = await fn(tx);
                if (!(await ownsRun(tx))) throw notOwner('host transaction rolled back');
                return value;
              }),
            ),
      ...(map ? { map, mappingVersion } : {}),
    };
    return scope;
  } catch (error) {
    await scope.close();
    throw error;
  }
}
